"""Writes to accounts: one function per user-visible action."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from feed import services as feed
from interactions.models import Notification
from interactions.services import notifications
from posts import rendering
from puppies import ratelimit
from puppies.errors import Conflict
from users import hidden, profiles, revocations, selectors, tasks, token_families, verification
from users.auth import RefreshToken
from users.models import Block, Follow, Mute, User


def _check_password(password: str, user: User, field: str) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError({field: list(exc.messages)}) from None


def _raise_if_taken(username: str) -> None:
    # Usernames are public (every profile has one): saying one is taken reveals nothing.
    # Email addresses are not, and are never checked here (see register_user).
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(
            {
                "detail": "Username already taken.",
                "fields": {"username": ["This username is taken."]},
            }
        )


# --- login limits ------------------------------------------------------------------
# One per-account failure limit for the API's token endpoint and the admin's login form:
# checked before the password (check_login_allowed), counted by Django's
# `user_login_failed` signal, which both send through `authenticate` (users/apps.py).


def check_login_allowed(request, *, identifier: str) -> None:
    """Raise RateLimited (429) if the account `identifier` names may not try a password now
    (its failures reached RATELIMIT_LOGIN_FAILED: locked for RATELIMIT_LOGIN_LOCKOUT_S).
    Only failures count, so the owner's own successful logins never use up the allowance.
    Callers enforce the per-IP "login" limit first, before the body is even parsed."""
    account = selectors.login_account_key(str(identifier))
    ratelimit.enforce(request, "login_failed", account, increment=False)


def count_failed_login(*, credentials: dict, request=None, **_) -> None:
    """`user_login_failed` receiver: one failure against the account the login named."""
    if request is None:  # authenticate() outside a request (shell, tests): no client
        return
    identifier = str(credentials.get("username", ""))
    ratelimit.count(request, "login_failed", selectors.login_account_key(identifier))


def register_user(*, username: str, email: str, password: str, display_name: str = "") -> User:
    """A new account, usable by its username at once; its address gets a verification link.

    The address is not checked against other accounts: an unverified address may repeat
    (only verified ones are unique), so the answer is the same whether or not the address
    already has an account, and only the mailbox's owner can make it name an account."""
    user = User(username=username, email=email.strip(), display_name=display_name or username)
    _check_password(password, user, "password")
    user.set_password(password)
    _raise_if_taken(username)
    try:
        with transaction.atomic():
            user.save()
            transaction.on_commit(lambda: _send_verification_later(user.pk))
    except IntegrityError:  # lost a race with a concurrent registration
        _raise_if_taken(username)
        raise
    return user


# --- email verification (the link and its mail: users.verification) ---------------------


def _send_verification_later(user_id: int) -> None:
    tasks.send_verification_email.delay(user_id)


def request_verification(user: User) -> None:
    """The account asks for a new link (the last one expired or got lost)."""
    if user.email_verified_at is None:
        _send_verification_later(user.pk)


def verify_email(token: str) -> User:
    """Mark the address the token was sent to verified; ValidationError on `token` if it
    is altered, expired, or no longer matches the account's address."""
    claims = verification.read_token(token)
    user = User.objects.filter(pk=claims.get("u"), is_active=True).first()
    if user is None or user.email.lower() != claims.get("e"):
        raise ValidationError({"token": ["This link is not valid."]})
    if user.email_verified_at is not None:
        return user  # a second click changes nothing
    try:
        with transaction.atomic():
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email_verified_at"])
    except IntegrityError:  # the unique index of verified addresses
        raise Conflict(
            {
                "detail": "Another account has verified this address first.",
                "fields": {"token": ["Another account has verified this address first."]},
            }
        ) from None
    return user


def create_bot_user(*, username: str, display_name: str) -> User:
    """An account no one logs into (ingestion sources post as one): unusable password."""
    user = User(
        username=username, email=f"{username.lower()}@bots.invalid", display_name=display_name
    )
    user.set_unusable_password()
    _raise_if_taken(username)
    user.save()
    return user


@transaction.atomic
def update_profile(user: User, **changes) -> User:
    for field, value in changes.items():
        setattr(user, field, value)
    if changes:
        user.save(update_fields=list(changes))
        rendering.author_changed(user.pk)
        profiles.changed(user)
    return user


@transaction.atomic
def change_password(user: User, *, old_password: str, new_password: str) -> None:
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["Wrong password."]})
    _check_password(new_password, user, "new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revocations.revoke_refresh_tokens(user)
    revocations.revoke_tokens(user)


def log_out(refresh: str) -> None:
    """End the session of `refresh` (its whole family); the user's access tokens stop
    working too (other devices get a 401 and refresh once: their refresh tokens are
    untouched). A rotated-away token replayed here counts as reuse (token_families)."""
    try:
        token = RefreshToken(refresh)  # outside the transaction: a reuse it finds must stay
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None
    with transaction.atomic():
        token.blacklist()
        user = User.objects.filter(pk=token.payload.get("user_id")).first()
        token_families.revoke_family(token.payload, user=user)
        if user is not None:
            revocations.revoke_tokens(user)


def follow(follower: User, *, followee: User) -> bool:
    """Make `follower` follow `followee`; True if this created the follow (idempotent)."""
    if follower.pk == followee.pk:
        raise ValidationError({"user": ["You cannot follow yourself."]})
    with transaction.atomic():
        _lock_pair(follower.pk, followee.pk)
        if selectors.blocked_between(follower.pk, followee.pk):
            raise selectors.UserNotFound  # as their profile answers
        _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
        if created:
            User.objects.filter(pk=follower.pk).update(following_count=F("following_count") + 1)
            User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") + 1)
            feed.start_following(follower, followee=followee)
            profiles.changed(follower, followee)  # their counts, the follower's is_following
            notifications.notify(followee, actor=follower, type=Notification.Type.FOLLOW)
    return created


def unfollow(follower: User, *, followee: User) -> None:
    """Stop `follower` following `followee` (idempotent)."""
    with transaction.atomic():
        deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
        if deleted:
            User.objects.filter(pk=follower.pk, following_count__gt=0).update(
                following_count=F("following_count") - 1
            )
            User.objects.filter(pk=followee.pk, follower_count__gt=0).update(
                follower_count=F("follower_count") - 1
            )
            feed.stop_following(follower, followee=followee)
            profiles.changed(follower, followee)


# --- blocks and mutes ----------------------------------------------------------------


def _lock_pair(first_id: int, second_id: int) -> None:
    """Serialize follows and blocks between two users until commit: a follow racing a
    block either sees the block (and is refused) or is removed by it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [min(first_id, second_id), max(first_id, second_id)],
        )


def _refuse_self(actor: User, user: User, verb: str) -> None:
    if actor.pk == user.pk:
        raise ValidationError({"user": [f"You cannot {verb} yourself."]})


def block_user(*, blocker: User, blocked: User) -> bool:
    """`blocker` blocks `blocked` -> True if this created the block (idempotent).

    Both follows go (through `unfollow`: counters, feed entries and heads stay right), and
    from the commit on neither sees the other: lists filter in SQL (users.selectors.hidden_q),
    Redis-rendered posts through users.hidden, feeds through feed.sql.HIDDEN_AUTHORS."""
    _refuse_self(blocker, blocked, "block")
    with transaction.atomic():
        _lock_pair(blocker.pk, blocked.pk)
        _, created = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
        if created:
            unfollow(blocker, followee=blocked)
            unfollow(blocked, followee=blocker)
            _blocks_changed(blocker, blocked)
    return created


def unblock_user(*, blocker: User, blocked: User) -> None:
    """`blocker` no longer blocks `blocked` (idempotent); follows are not restored."""
    with transaction.atomic():
        deleted, _ = Block.objects.filter(blocker=blocker, blocked=blocked).delete()
        if deleted:
            _blocks_changed(blocker, blocked)


def _blocks_changed(first: User, second: User) -> None:
    hidden.changed([first.pk, second.pk])
    feed.hidden_authors_changed([first.pk, second.pk])
    profiles.changed(first, second)  # the copies each stored of the other


def mute_user(*, muter: User, muted: User) -> bool:
    """`muter` mutes `muted` -> True if this created the mute (idempotent). One-sided and
    silent: the muted user's posts leave the muter's feed, search and comment lists, and
    their notifications to the muter stop."""
    _refuse_self(muter, muted, "mute")
    with transaction.atomic():
        _, created = Mute.objects.get_or_create(muter=muter, muted=muted)
        if created:
            feed.hidden_authors_changed([muter.pk])
    return created


def unmute_user(*, muter: User, muted: User) -> None:
    """`muter` no longer mutes `muted` (idempotent)."""
    with transaction.atomic():
        deleted, _ = Mute.objects.filter(muter=muter, muted=muted).delete()
        if deleted:
            feed.hidden_authors_changed([muter.pk])
