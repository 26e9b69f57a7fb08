"""Reads of users, profiles and follows, always as a given viewer sees them."""

import hashlib

from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from rest_framework.exceptions import NotFound

from users.models import Follow, User


def _is_following(viewer: User, user_ref: str):
    """An `is_following` expression: does `viewer` follow the user at `user_ref`?"""
    if not viewer.is_authenticated:
        return Value(False)
    return Exists(Follow.objects.filter(follower_id=viewer.pk, followee_id=OuterRef(user_ref)))


def users_visible_to(viewer: User) -> QuerySet[User]:
    return User.objects.filter(is_active=True).annotate(is_following=_is_following(viewer, "pk"))


def get_user(viewer: User, *, user_id: int | None = None, username: str | None = None):
    users = users_visible_to(viewer)
    if username is not None:
        return users.filter(username__iexact=username).first()
    return users.filter(pk=user_id).first()


class UserNotFound(NotFound):
    """The one 404 of an account: absent, or suspended (its profile is gone meanwhile)."""

    default_detail = "User not found."


def get_user_or_404(viewer: User, *, user_id: int | None = None, username: str | None = None):
    """The user as GET /v1/users/{id} shows them to `viewer` (with is_following), or
    UserNotFound."""
    user = get_user(viewer, user_id=user_id, username=username)
    if user is None:
        raise UserNotFound
    return user


def followers_of(viewer: User, *, user_id: int) -> QuerySet[Follow]:
    """Follows whose `follower` (annotated with is_following) follows `user_id`."""
    return (
        Follow.objects.filter(followee_id=user_id, follower__is_active=True)
        .select_related("follower")
        .annotate(viewer_follows=_is_following(viewer, "follower_id"))
    )


def following_of(viewer: User, *, user_id: int) -> QuerySet[Follow]:
    """Follows whose `followee` (annotated with is_following) `user_id` follows."""
    return (
        Follow.objects.filter(follower_id=user_id, followee__is_active=True)
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
