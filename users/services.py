"""Writes to accounts: one function per user-visible action."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from puppies.errors import Conflict
from users.models import User


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
