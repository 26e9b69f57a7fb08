"""Reads of users and profiles."""

from django.db.models import QuerySet

from users.models import User


def users_visible_to(viewer: User | None) -> QuerySet[User]:
    """Users as `viewer` sees them (annotated with `is_following` once follows exist)."""
    return User.objects.filter(is_active=True)


def get_user(viewer: User | None, *, user_id: int | None = None, username: str | None = None):
    users = users_visible_to(viewer)
    if username is not None:
        return users.filter(username__iexact=username).first()
    return users.filter(pk=user_id).first()
