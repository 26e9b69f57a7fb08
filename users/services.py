"""Writes to accounts: one function per user-visible action."""

import logging

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from feed import services as feed
from interactions.models import Notification
from interactions.services import notifications
from posts import rendering
from puppies import ratelimit
from puppies.errors import Conflict
from users import auth, hidden, profiles, revocations, selectors
from users.auth import RefreshToken
from users.models import Block, Follow, Mute, RevokedTokenFamily, User

logger = logging.getLogger(__name__)


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


# --- email verification ----------------------------------------------------------------
# A signed, expiring token (django.core.signing) naming the account and the address it was
# sent to: changing either makes it invalid; nothing is stored until it is used.

_VERIFY_SALT = "users.email-verification"


def verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=_VERIFY_SALT, compress=True)


def _send_verification_later(user_id: int) -> None:
    from users import tasks  # tasks import this module

    tasks.send_verification_email.delay(user_id)


def send_verification_email(user_id: int) -> bool:
    """Mail the account's address a link to verify it -> whether one was sent (not for a
    verified address, an inactive account, or a bot's address that cannot receive mail)."""
    user = User.objects.filter(pk=user_id, is_active=True, email_verified_at__isnull=True).first()
    if user is None or not user.has_usable_password():
        return False
    link = settings.EMAIL_VERIFICATION_URL.format(token=verification_token(user))
    send_mail(
        "Verify your Puppies email address",
        f"Hello {user.username},\n\nopen this link to verify this address for your Puppies "
        f"account:\n\n{link}\n\nIt works for {settings.EMAIL_VERIFICATION_TTL_S // 3600} "
        "hours. If you did not sign up, ignore this mail: the address stays unverified and "
        "cannot be used to log in.\n",
        None,  # DEFAULT_FROM_EMAIL
        [user.email],
    )
    return True


def request_verification(user: User) -> None:
    """The account asks for a new link (the last one expired or got lost)."""
    if user.email_verified_at is None:
        _send_verification_later(user.pk)


def verify_email(token: str) -> User:
    """Mark the address the token was sent to verified; ValidationError on `token` if it
    is altered, expired, or no longer matches the account's address."""
    try:
        claims = signing.loads(token, salt=_VERIFY_SALT, max_age=settings.EMAIL_VERIFICATION_TTL_S)
    except signing.SignatureExpired:
        raise ValidationError({"token": ["This link has expired: ask for a new one."]}) from None
    except signing.BadSignature:
        raise ValidationError({"token": ["This link is not valid."]}) from None
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
    untouched). A rotated-away token replayed here counts as reuse (refresh_token_reused)."""
    try:
        token = RefreshToken(refresh)  # outside the transaction: a reuse it finds must stay
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None
    with transaction.atomic():
        token.blacklist()
        user = User.objects.filter(pk=token.payload.get("user_id")).first()
        _revoke_family(token.payload, user)
        if user is not None:
            revocations.revoke_tokens(user)


# --- refresh token families ---------------------------------------------------------------
# Rotation blacklists each refresh token as it issues the next one; all of them carry the
# family id of the login they descend from (users.auth.FAMILY_CLAIM). A blacklisted token
# presented again means two parties hold the family (a thief and its owner): the family
# stops refreshing, and the user's access tokens end, so the thief is out at once.


def _revoke_family(payload: dict, user: User | None) -> bool:
    """List the token's family as revoked -> whether this listed it (False: already was)."""
    family = payload.get(auth.FAMILY_CLAIM)
    if not family:
        return False  # a token from before families: only itself is blacklisted
    expires = timezone.now() + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    _, created = RevokedTokenFamily.objects.get_or_create(
        family=str(family)[:32], defaults={"user": user, "expires_at": expires}
    )
    return created


def family_revoked(payload: dict) -> bool:
    family = payload.get(auth.FAMILY_CLAIM)
    return bool(family) and RevokedTokenFamily.objects.filter(family=str(family)[:32]).exists()


@transaction.atomic
def refresh_token_reused(payload: dict) -> None:
    """A blacklisted refresh token was presented again: revoke its whole family, and end
    the user's access tokens unless a logout or password change since its issue did."""
    user = User.objects.filter(pk=payload.get("user_id")).first()
    if not _revoke_family(payload, user) or user is None:
        return
    logger.warning(
        "refresh token reused: family %s of user %s revoked", payload.get("fam"), user.pk
    )
    cutoff = user.tokens_valid_after
    if cutoff is None or float(payload.get("iat", 0)) >= cutoff.timestamp():
        revocations.revoke_tokens(user)


def flush_expired_tokens() -> int:
    """Drop refresh tokens past their expiry (blacklisted ones with them) and revoked
    families none of whose tokens can still be alive -> rows dropped (simplejwt's
    flushexpiredtokens, and the families)."""
    now = timezone.now()
    tokens, _ = OutstandingToken.objects.filter(expires_at__lte=now).delete()
    families, _ = RevokedTokenFamily.objects.filter(expires_at__lte=now).delete()
    return tokens + families


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
