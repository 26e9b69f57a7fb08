"""Writes to accounts: one function per user-visible action."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from feed import services as feed
from interactions import services as interactions
from interactions.models import Notification
from posts import rendering
from puppies import ratelimit
from puppies.errors import Conflict
from users import profiles, revocations, selectors
from users.auth import RefreshToken
from users.models import AuditLog, Follow, User


def _check_password(password: str, user: User, field: str) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError({field: list(exc.messages)}) from None


def _raise_if_taken(username: str, email: str) -> None:
    fields = {}
    if User.objects.filter(username__iexact=username).exists():
        fields["username"] = ["This username is taken."]
    if User.objects.filter(email__iexact=email).exists():
        fields["email"] = ["An account with this email already exists."]
    if fields:
        raise Conflict({"detail": "Username or email already taken.", "fields": fields})


# --- login limits ------------------------------------------------------------------
# One per-account failure limit for the API's token endpoint and the admin's login form:
# checked before the password (check_login_allowed), counted by Django's
# `user_login_failed` signal, which both send through `authenticate` (users/apps.py).


def check_login_allowed(request, identifier) -> None:
    """Raise RateLimited (429) if the account `identifier` names may not try a password now
    (its failures reached RATELIMIT_LOGIN_FAILED: locked for RATELIMIT_LOGIN_LOCKOUT_S).
    Only failures count, so the owner's own successful logins never use up the allowance.
    Callers enforce the per-IP "login" limit first, before the body is even parsed."""
    account = selectors.login_account_key(str(identifier))
    ratelimit.enforce(request, "login_failed", account, increment=False)


def count_failed_login(credentials: dict, request=None, **_) -> None:
    """`user_login_failed` receiver: one failure against the account the login named."""
    if request is None:  # authenticate() outside a request (shell, tests): no client
        return
    identifier = str(credentials.get("username", ""))
    ratelimit.count(request, "login_failed", selectors.login_account_key(identifier))


def register_user(*, username: str, email: str, password: str, display_name: str = "") -> User:
    user = User(username=username, email=email.strip(), display_name=display_name or username)
    _check_password(password, user, "password")
    user.set_password(password)
    _raise_if_taken(username, user.email)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # lost a race with a concurrent registration
        _raise_if_taken(username, user.email)
        raise
    return user


def create_bot_user(*, username: str, display_name: str) -> User:
    """An account no one logs into (ingestion sources post as one): unusable password."""
    user = User(
        username=username, email=f"{username.lower()}@bots.invalid", display_name=display_name
    )
    user.set_unusable_password()
    _raise_if_taken(username, user.email)
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
    revoke_refresh_tokens(user)
    revocations.revoke_tokens(user)


def revoke_refresh_tokens(user: User) -> None:
    """Blacklist every refresh token the user holds: other sessions end."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )


@transaction.atomic
def log_out(refresh: str) -> None:
    """End the session of `refresh`; the user's access tokens stop working too (other
    devices get a 401 and refresh once: their refresh tokens are untouched)."""
    try:
        token = RefreshToken(refresh)
        token.blacklist()
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None
    user = User.objects.filter(pk=token.payload.get("user_id")).first()
    if user is not None:
        revocations.revoke_tokens(user)


def follow(follower: User, followee: User) -> bool:
    """Make `follower` follow `followee`; True if this created the follow (idempotent)."""
    if follower.pk == followee.pk:
        raise ValidationError({"user": ["You cannot follow yourself."]})
    with transaction.atomic():
        _, created = Follow.objects.get_or_create(follower=follower, followee=followee)
        if created:
            User.objects.filter(pk=follower.pk).update(following_count=F("following_count") + 1)
            User.objects.filter(pk=followee.pk).update(follower_count=F("follower_count") + 1)
            feed.start_following(follower, followee)
            profiles.changed(follower, followee)  # their counts, the follower's is_following
            interactions.notify(followee, follower, Notification.Type.FOLLOW)
    return created


def unfollow(follower: User, followee: User) -> None:
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
            feed.stop_following(follower, followee)
            profiles.changed(follower, followee)


# --- moderation ---------------------------------------------------------------


def record_action(actor: User, action: str, target, reason: str) -> AuditLog:
    """Write the audit row for a moderation action; call it inside the action's transaction."""
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        target_type=target._meta.model_name,
        target_id=target.pk,
        reason=reason,
    )


def require_moderator(actor: User, reason: str) -> None:
    if not actor.is_active or not actor.is_moderator:
        raise PermissionDenied("Only moderators can do this.")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why: the audit log records it."]})


def _outranks(actor: User, user: User) -> bool:
    """Moderators act on members; admins and superusers on everyone but themselves."""
    if actor.pk == user.pk:
        return False
    if actor.is_superuser or actor.role == User.Role.ADMIN:
        return not user.is_superuser or actor.is_superuser
    return not user.is_moderator


@transaction.atomic
def suspend_user(user: User, *, actor: User, reason: str) -> bool:
    """Lock `user` out at once: no login, refresh tokens blacklisted, access tokens refused.

    simplejwt's JWTAuthentication.get_user rejects inactive users, so outstanding access
    tokens stop working on their next request, and admin sessions end the same way.
    Their profile 404s meanwhile (users_visible_to shows active users only); their posts
    stay up: suspension stops a person acting, content is judged one post at a time
    (hide_post), and hiding everything would be a mass feed retraction undone on appeal.
    True if this changed anything.
    """
    require_moderator(actor, reason)
    if not _outranks(actor, user):
        raise PermissionDenied("You cannot suspend this account.")
    changed = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False)
    user.is_active = False
    if changed:
        revoke_refresh_tokens(user)
        transaction.on_commit(lambda: revocations.publish(user))
        profiles.changed(user)  # its copies are no longer served
        record_action(actor, AuditLog.Action.SUSPEND_USER, user, reason)
    return bool(changed)


@transaction.atomic
def unsuspend_user(user: User, *, actor: User, reason: str) -> bool:
    require_moderator(actor, reason)
    if not _outranks(actor, user):
        raise PermissionDenied("You cannot unsuspend this account.")
    changed = User.objects.filter(pk=user.pk, is_active=False).update(is_active=True)
    user.is_active = True
    if changed:
        transaction.on_commit(lambda: revocations.publish(user))
        profiles.changed(user)
        record_action(actor, AuditLog.Action.UNSUSPEND_USER, user, reason)
    return bool(changed)


@transaction.atomic
def set_role(user: User, role: str, *, actor: User, reason: str) -> User:
    """Make `user` a member, moderator or admin. Staff access follows the role, never more."""
    require_moderator(actor, reason)
    if not (actor.is_superuser or actor.role == User.Role.ADMIN) or not _outranks(actor, user):
        raise PermissionDenied("Only admins can change roles.")
    if role not in User.Role.values:
        raise ValidationError({"role": [f"One of {', '.join(User.Role.values)}."]})
    user.role = role
    user.is_staff = role != User.Role.MEMBER or user.is_superuser
    user.save(update_fields=["role", "is_staff"])
    record_action(actor, AuditLog.Action.SET_ROLE, user, f"{role}: {reason}")
    return user
