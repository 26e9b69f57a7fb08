"""Reads of users, profiles and follows, always as a given viewer sees them."""

import hashlib

from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from rest_framework.exceptions import NotFound

from users.models import Block, Follow, Mute, User


def _is_following(viewer: User, user_ref: str):
    """An `is_following` expression: does `viewer` follow the user at `user_ref`?"""
    if not viewer.is_authenticated:
        return Value(False)
    return Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef(user_ref)))


def users_visible_to(viewer: User, *, with_blocked: bool = False) -> QuerySet[User]:
    """Active users (those with a block with the viewer too, `with_blocked`: for blocking
    and unblocking them), annotated with is_following."""
    users = User.objects.filter(is_active=True)
    if not with_blocked:
        users = without_hidden(users, viewer, "pk")
    return users.annotate(is_following=_is_following(viewer, "pk"))


# --- blocks and mutes ----------------------------------------------------------------
# A block hides each of the pair from the other everywhere; a mute only takes the muted
# user's posts, comments and notifications out of the muter's feed, search, comment lists
# and notifications. Lists filter in the query they already run (no query added); posts
# rendered from Redis are checked there (posts.rendering, users.hidden).


def hidden_q(viewer: User | int, field: str, *, mutes: bool = False) -> Q:
    """Rows whose user at `field` has a block with `viewer` (either way), or, with
    `mutes`, is muted by them: to exclude. Index lookups on both directions."""
    # type(), not isinstance: that would load a signed-in TokenUser's row (users.auth)
    viewer_id = viewer if type(viewer) is int else viewer.pk
    hidden = Q(**{f"{field}__in": Block.objects.filter(blocker_id=viewer_id).values("blocked_id")})
    hidden |= Q(**{f"{field}__in": Block.objects.filter(blocked_id=viewer_id).values("blocker_id")})
    if mutes:
        hidden |= Q(**{f"{field}__in": Mute.objects.filter(muter_id=viewer_id).values("muted_id")})
    return hidden


def without_hidden(queryset: QuerySet, viewer: User, field: str, *, mutes: bool = False):
    """`queryset` without rows whose user at `field` the (signed-in) viewer may not see."""
    if not viewer.is_authenticated:
        return queryset
    return queryset.exclude(hidden_q(viewer, field, mutes=mutes))


def blocked_between(first_id: int, second_id: int) -> bool:
    """Whether either of the two blocked the other."""
    return Block.objects.filter(
        Q(blocker_id=first_id, blocked_id=second_id) | Q(blocker_id=second_id, blocked_id=first_id)
    ).exists()


def blocked_with_ids(user_id: int) -> set[int]:
    """Everyone with a block with `user_id`, either way (users.hidden caches it)."""
    made = Block.objects.filter(blocker_id=user_id).values_list("blocked_id", flat=True)
    received = Block.objects.filter(blocked_id=user_id).values_list("blocker_id", flat=True)
    return set(made.union(received, all=True))


def blocks_of(user: User) -> QuerySet[Block]:
    """The user's blocks with the blocked users (annotated viewer_follows), for a page."""
    return (
        Block.objects.filter(blocker=user)
        .select_related("blocked")
        .annotate(viewer_follows=_is_following(user, "blocked_id"))
    )


def mutes_of(user: User) -> QuerySet[Mute]:
    """The user's mutes with the muted users (annotated viewer_follows), for a page."""
    return (
        Mute.objects.filter(muter=user)
        .select_related("muted")
        .annotate(viewer_follows=_is_following(user, "muted_id"))
    )


def get_user(
    viewer: User,
    *,
    user_id: int | None = None,
    username: str | None = None,
    with_blocked: bool = False,
):
    users = users_visible_to(viewer, with_blocked=with_blocked)
    if username is not None:
        return users.filter(username__iexact=username).first()
    return users.filter(pk=user_id).first()


class UserNotFound(NotFound):
    """The one 404 of an account: absent, or suspended (its profile is gone meanwhile)."""

    default_detail = "User not found."


def get_user_or_404(
    viewer: User,
    *,
    user_id: int | None = None,
    username: str | None = None,
    with_blocked: bool = False,
):
    """The user as GET /v1/users/{id} shows them to `viewer` (with is_following), or
    UserNotFound; `with_blocked`: even with a block either way (to block or unblock)."""
    user = get_user(viewer, user_id=user_id, username=username, with_blocked=with_blocked)
    if user is None:
        raise UserNotFound
    return user


def followers_of(viewer: User, *, user_id: int) -> QuerySet[Follow]:
    """Follows whose `follower` (annotated with is_following) follows `user_id`."""
    follows = Follow.objects.filter(followee_id=user_id, follower__is_active=True)
    return (
        without_hidden(follows, viewer, "follower_id")
        .select_related("follower")
        .annotate(viewer_follows=_is_following(viewer, "follower_id"))
    )


def following_of(viewer: User, *, user_id: int) -> QuerySet[Follow]:
    """Follows whose `followee` (annotated with is_following) `user_id` follows."""
    follows = Follow.objects.filter(follower_id=user_id, followee__is_active=True)
    return (
        without_hidden(follows, viewer, "followee_id")
        .select_related("followee")
        .annotate(viewer_follows=_is_following(viewer, "followee_id"))
    )


def login_account_key(identifier: str) -> str:
    """The rate-limit key of the account a login names, however it was named: the username
    in any case and the email address give the same key. A name with no account keys on
    the lowercased name (it is limited too, and says nothing about whether it exists)."""
    name = identifier.strip()[:254]
    if "\x00" in name or not _encodable(name):  # no account has it; the login answers 400
        return "name:" + hashlib.sha256(name.encode(errors="surrogatepass")).hexdigest()
    accounts = User.objects.all()
    if "@" in name:  # only a verified address names an account (users.auth)
        column, accounts = "email", accounts.filter(email_verified_at__isnull=False)
    else:
        column = "username"
    pk = (
        accounts.alias(key=Lower(column))  # the case-insensitive unique index
        .filter(key=name.lower())
        .values_list("pk", flat=True)
        .first()
    )
    return f"user:{pk}" if pk is not None else f"name:{name.lower()}"


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # lone surrogates: neither PostgreSQL nor Redis takes them
        return False
    return True


def user_matching(term: str) -> Q:
    """An indexed match on a user: id, lower(email) or lower(username), "@name" allowed."""
    term = term.strip().removeprefix("@")
    if term.isdigit():
        return Q(pk=int(term))
    if "@" in term:
        return Q(Exact(Lower("email"), term.lower()))
    return Q(Exact(Lower("username"), term.lower()))


# --- search ------------------------------------------------------------------------
# A query the trigram indexes cannot narrow down reads every active user: refused (400)
# before it reaches PostgreSQL, so anonymous callers cannot buy full scans.
USER_SEARCH_MIN_CHARS = 3  # a trigram index needs three characters to narrow anything


def user_query_problem(q: str) -> str | None:
    """Why the trigram indexes cannot serve a user search for `q` (None: they can)."""
    if len(q.strip()) >= USER_SEARCH_MIN_CHARS:
        return None
    return f"Give at least {USER_SEARCH_MIN_CHARS} characters."


def search_users(viewer: User, *, q: str) -> QuerySet[User]:
    """Active users whose username or display name contains `q`, any case, with is_following."""
    return users_visible_to(viewer).filter(Q(username__icontains=q) | Q(display_name__icontains=q))
