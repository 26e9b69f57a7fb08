"""Writes for likes, comments, reports and notifications."""

from django.db import IntegrityError, transaction

from interactions.models import Notification
from posts.models import Post
from users.models import User


def notify(
    recipient: User | int,
    actor: User,
    type: str,
    *,
    post: Post | None = None,
    comment=None,
) -> None:
    """Tell `recipient` what `actor` did; never about their own actions, likes and follows once."""
    recipient_id = recipient if isinstance(recipient, int) else recipient.pk
    if recipient_id == actor.pk:
        return
    try:
        with transaction.atomic():
            Notification.objects.create(
                recipient_id=recipient_id, actor=actor, type=type, post=post, comment=comment
            )
    except IntegrityError:
        pass  # already notified of this like or follow
