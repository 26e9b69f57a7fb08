"""Notifications: what someone did to you, your mentions, and reading them."""

import re
from collections.abc import Collection

from django.db import connection
from django.db.models.functions import Lower
from django.utils import timezone

from interactions import sql
from interactions.models import Comment, Notification
from posts.models import Post
from users.models import Mute, User
from users.selectors import hidden_q


def notify(
    recipient: User | int,
    *,
    actor: User,
    type: str,
    post: Post | None = None,
    comment=None,
) -> None:
    """Tell `recipient` what `actor` did; never about their own actions, and of a like,
    follow or repost once."""
    recipient_id = recipient if isinstance(recipient, int) else recipient.pk
    if recipient_id == actor.pk:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            sql.NOTIFY,
            {
                "recipient": recipient_id,
                "actor": actor.pk,
                "type": type,
                "post": post.pk if post is not None else None,
                "comment": comment.pk if comment is not None else None,
                "now": timezone.now(),
            },
        )


# --- mentions -----------------------------------------------------------------

# `@name` not preceded by a word character or another `@`, so e-mail addresses do not mention.
_MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_])")
# A text mentioning more people than this notifies only the first ones: no mass pinging.
MAX_MENTIONS_PER_TEXT = 10


def mentioned_usernames(text: str) -> list[str]:
    """The distinct usernames (lower-cased) `@mentioned` in `text`, first ones first, capped."""
    names = dict.fromkeys(name.lower() for name in _MENTION_RE.findall(text))
    return list(names)[:MAX_MENTIONS_PER_TEXT]


def notify_mentions(
    actor: User,
    *,
    text: str,
    post: Post,
    comment: Comment | None = None,
    skip: Collection[int] = (),
    previous_text: str = "",
) -> None:
    """Notify existing users `@mentioned` in `text` (not `actor` or `skip`), in one insert.

    After an edit, pass the old text as `previous_text`: only newly mentioned users hear of it.
    """
    already = set(mentioned_usernames(previous_text))
    names = [name for name in mentioned_usernames(text) if name not in already]
    if not names:
        return
    recipients = (
        User.objects.filter(is_active=True)
        .annotate(username_lower=Lower("username"))
        .filter(username_lower__in=names)
        .exclude(pk__in=[actor.pk, *skip])
        .exclude(hidden_q(actor, "pk"))  # blocked either way
        .exclude(pk__in=Mute.objects.filter(muted_id=actor.pk).values("muter_id"))
        .values_list("pk", flat=True)
    )
    # Once per post body or comment (a unique index): a name mentioned again after an edit
    # removed it is dropped by the insert itself.
    Notification.objects.bulk_create(
        (
            Notification(
                recipient_id=recipient_id,
                actor_id=actor.pk,
                type=Notification.Type.MENTION,
                post=post,
                comment=comment,
            )
            for recipient_id in recipients
        ),
        ignore_conflicts=True,
    )


def mark_notifications_read(recipient: User, *, up_to_id: int | None = None) -> int:
    """Mark the recipient's unread notifications (all, or those up to `up_to_id`) read."""
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if up_to_id is not None:
        unread = unread.filter(id__lte=up_to_id)
    return unread.update(read_at=timezone.now())
