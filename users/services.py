"""Writes to accounts: one function per user-visible action."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from feed import services as feed
from interactions import services as interactions
from interactions.models import Notification
from puppies.errors import Conflict
from users.models import Follow, User


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


def update_profile(user: User, **changes) -> User:
    for field, value in changes.items():
        setattr(user, field, value)
    if changes:
        user.save(update_fields=list(changes))
    return user


def change_password(user: User, *, old_password: str, new_password: str) -> None:
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["Wrong password."]})
    _check_password(new_password, user, "new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    revoke_refresh_tokens(user)


def revoke_refresh_tokens(user: User) -> None:
    """Blacklist every refresh token the user holds: other sessions end."""
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )


def log_out(refresh: str) -> None:
    try:
        RefreshToken(refresh).blacklist()
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None


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
