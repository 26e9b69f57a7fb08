"""Reposts: a post shared to the reposter's followers, fanned out by the feed like a post."""

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from feed import services as feed
from feed.models import OutboxEvent
from interactions import sql, viewer_sets
from interactions.models import Notification
from interactions.services.notifications import notify
from posts.models import Post
from posts.rendering import post_changed
from posts.selectors import PostNotFound
from puppies import tracing
from users.models import User


@dataclass(frozen=True)
class RepostState:
    post_id: int
    reposted_by_me: bool
    repost_count: int
    created: bool  # this call reposted the post (201), as opposed to it being reposted already


def repost_post(user: User, *, post: Post) -> RepostState:
    """`user` reposts someone else's published post (idempotent): PermissionDenied for
    their own, NotFound if it is not visible (any more)."""
    if post.author_id == user.pk:
        raise PermissionDenied("You cannot repost your own post.")
    params = {
        "user": user.pk,
        "post": post.pk,
        "now": timezone.now(),
        "kind": OutboxEvent.Kind.REPOST_PUBLISHED,
        "trace": tracing.traceparent(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.ADD_REPOST, params)
        row = cursor.fetchone()
        if row is None:  # deleted or hidden meanwhile
            raise PostNotFound
        created, count, event_id, _ = row
        if created:  # once per reposter and post, however often undone and redone
            notify(post.author_id, actor=user, type=Notification.Type.REPOST, post=post)
    if created:
        feed.events_written([event_id])
        viewer_sets.changed_on_commit(user.pk, viewer_sets.REPOST, post.pk, present=True)
        post_changed(post)  # its repost_count
    return RepostState(post_id=post.pk, reposted_by_me=True, repost_count=count, created=created)


def unrepost_post(user: User, *, post_id: int) -> None:
    """`user` takes back their repost of the post (idempotent); it leaves the feeds it
    was pushed to (an outbox event, as the repost's)."""
    params = {
        "user": user.pk,
        "post": post_id,
        "kind": OutboxEvent.Kind.REPOST_RETRACTED,
        "trace": tracing.traceparent(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_REPOST, params)
        events = [row[0] for row in cursor.fetchall()]
    if events:
        feed.events_written(events)
        viewer_sets.changed_on_commit(user.pk, viewer_sets.REPOST, post_id, present=False)
        post_changed(Post(pk=post_id))  # its repost_count
