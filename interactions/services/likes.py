"""Likes: recorded in the like buffer (or PostgreSQL without it), and the buffer's drain."""

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from interactions import like_buffer, sql
from interactions import metrics as like_metrics
from interactions.models import Like, Notification
from interactions.services.notifications import notify
from posts.models import Post
from posts.rendering import post_changed
from posts.selectors import PostNotFound
from puppies import ratelimit
from puppies.errors import ServiceUnavailable
from users import revocations
from users.models import User

logger = logging.getLogger(__name__)


# POST/DELETE /likes record an intent in Redis (interactions/like_buffer.py); the beat task
# `drain_like_buffer` writes intents to PostgreSQL in batches. With Redis unreachable (or the
# buffer off) likes are written straight to PostgreSQL, with the same answers.


@dataclass(frozen=True)
class LikeState:
    post_id: int
    liked_by_me: bool
    like_count: int  # with likes not yet flushed
    created: bool  # this call liked the post (201), as opposed to it being liked already


def like_post(user: User, *, post_id: int) -> LikeState:
    """`user` likes the post (idempotent); NotFound if they may not see it. Counts against
    the user's RATELIMIT_LIKE (RateLimited past it), in the like's own Redis call."""
    return _set_like(user, post_id, liked=True)


def unlike_post(user: User, *, post_id: int) -> LikeState:
    """`user` no longer likes the post (idempotent); NotFound if they may not see it.
    Counts against the same limit as a like."""
    return _set_like(user, post_id, liked=False)


def _likeable_post(user: User, post_id: int, *, with_like_row: bool = False) -> Post:
    """The post if `user` may see it (as posts.selectors.get_post), in one query; with
    `with_like_row`, `.has_like_row` says whether PostgreSQL holds the user's like of it."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.LIKEABLE_POST[with_like_row],
            [user.pk, post_id, user.pk, user.pk] if with_like_row else [post_id, user.pk, user.pk],
        )
        row = cursor.fetchone()
    post = None
    if row is not None:
        post = Post(id=row[0], author_id=row[1], status=row[2], like_count=row[3], hidden_at=row[4])
        post.has_like_row = row[5]
    if post is None or not (post.is_visible or post.author_id == user.pk):
        raise PostNotFound
    return post


def _set_like(user: User, post_id: int, *, liked: bool) -> LikeState:
    limit = ratelimit.ScriptLimit("like", user.pk)
    if settings.LIKE_BUFFER_ENABLED:
        try:
            return _set_like_buffered(user, post_id, liked=liked, limit=limit)
        except like_buffer.Unavailable:
            logger.warning("like buffer unreachable: writing the like to PostgreSQL")
            like_metrics.LIKES_WRITTEN_DIRECTLY.inc()
    revocations.ensure_checked(user)
    limit.enforce()  # unless the buffer's script counted it already
    return _set_like_directly(user, _likeable_post(user, post_id), liked=liked)


def _set_like_buffered(
    user: User, post_id: int, *, liked: bool, limit: ratelimit.ScriptLimit
) -> LikeState:
    # One Redis round trip when the post's rendering and the user's liked set are cached;
    # else two and one query (the post, plus its like row only when the buffer holds
    # nothing for this user). The Like table is written by the drain alone. The like
    # limit is counted in the first round trip, whichever way it goes on.
    cached = like_buffer.record_intent_cached(post_id, user, liked=liked, limit=limit)
    if cached is not None:
        changed, delta, stored = cached
        return LikeState(post_id, liked, max(stored + delta, 0), created=changed and liked)
    revocations.ensure_checked(user)  # before anything is recorded the slower way
    for _ in range(5):
        seen_epoch, buffer_decides = like_buffer.peek(post_id, user.pk)
        post = _likeable_post(user, post_id, with_like_row=not buffer_decides)
        recorded = like_buffer.record_intent(
            post_id,
            user.pk,
            liked=liked,
            in_database=None if buffer_decides else post.has_like_row,
            seen_epoch=seen_epoch,
        )
        if recorded is not None:
            changed, delta = recorded
            like_count = max(post.like_count + delta, 0)
            return LikeState(post.pk, liked, like_count, created=changed and liked)
    raise ServiceUnavailable("Likes of this post are changing too fast; try again.")


@transaction.atomic
def _set_like_directly(user: User, post: Post, *, liked: bool) -> LikeState:
    with connection.cursor() as cursor:
        cursor.execute(sql.LIKE_ROW[liked], [user.pk, post.pk])
        changed = cursor.fetchone() is not None
        like_count = post.like_count
        if changed:
            cursor.execute(sql.MOVE_LIKE_COUNT, [1 if liked else -1, post.pk])
            (like_count,) = cursor.fetchone()
    if changed:
        post_changed(post)
        intent = like_buffer.Intent(post.pk, user.pk, liked, 0)
        transaction.on_commit(lambda: _keep_liked_set(intent))
    if changed and liked:
        notify(post.author_id, actor=user, type=Notification.Type.LIKE, post=post)
    return LikeState(post.pk, liked, like_count, created=changed and liked)


def _keep_liked_set(intent: like_buffer.Intent) -> None:
    # Redis down: the set (if any) goes stale until it expires (LIKED_SET_TTL_S).
    with contextlib.suppress(like_buffer.Unavailable):
        like_buffer.keep_liked_sets([intent])


def _apply_intents(intents: list[like_buffer.Intent]) -> tuple[int, int]:
    """Write intents to PostgreSQL in one transaction -> (likes inserted, likes deleted)."""
    likes = [i for i in intents if i.liked]
    unlikes = [i for i in intents if not i.liked]
    params = {
        "like_users": [i.user_id for i in likes],
        "like_posts": [i.post_id for i in likes],
        "like_ms": [i.at_ms for i in likes],
        "unlike_users": [i.user_id for i in unlikes],
        "unlike_posts": [i.post_id for i in unlikes],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.APPLY_LIKE_INTENTS, params)
        inserted, deleted = cursor.fetchone()
    like_metrics.LIKES_FLUSHED.labels("inserted").inc(inserted)
    like_metrics.LIKES_FLUSHED.labels("deleted").inc(deleted)
    return inserted, deleted


def _no_hook(step: str) -> None:
    pass


def drain_like_buffer(*, between_steps: Callable[[str], None] = _no_hook) -> int:
    """Write buffered likes to PostgreSQL in batches -> intents written. Kill it anywhere and
    run it again: nothing is lost or counted twice (see like_buffer). `between_steps(name)` is
    called after each step ("claimed", "moved", "applied", "forgotten", "released")."""
    try:
        token = like_buffer.acquire_lock()
    except like_buffer.Unavailable:
        return 0  # nothing to reach; likes go straight to PostgreSQL meanwhile
    if token is None:
        return 0  # another drain is at it
    written = 0
    deadline = time.monotonic() + settings.LIKE_FLUSH_MAX_SECONDS
    try:
        caught_up = False
        while not caught_up and time.monotonic() < deadline and like_buffer.keep_lock(token):
            started = time.perf_counter()
            batch = settings.LIKE_FLUSH_POSTS_PER_BATCH
            post_ids, resumed = like_buffer.claim(batch)
            if not post_ids:
                break
            # A fresh, partial claim means we caught up: later likes wait for the next beat,
            # so a hot post is written in a few large batches rather than many tiny ones.
            caught_up = not resumed and len(post_ids) < batch
            between_steps("claimed")
            intents = like_buffer.move(post_ids)
            between_steps("moved")
            chunk = settings.LIKE_FLUSH_BATCH_SIZE
            for start in range(0, len(intents), chunk):
                _apply_intents(intents[start : start + chunk])
                between_steps("applied")
            like_buffer.keep_liked_sets(intents)
            waiting = like_buffer.forget(post_ids)
            between_steps("forgotten")
            like_buffer.release(post_ids, waiting)
            between_steps("released")
            like_metrics.FLUSH_BATCH_SIZE.observe(len(intents))
            like_metrics.FLUSH_DURATION.observe(time.perf_counter() - started)
            written += len(intents)
        if time.monotonic() < deadline and like_buffer.keep_lock(token):
            like_buffer.build_liked_sets(_liked_posts)
    except Exception:
        # An error (not a kill): let the next beat retry at once instead of after the TTL.
        like_buffer.release_lock(token)
        raise
    like_buffer.release_lock(token)
    return written


def _liked_posts(user_id: int, limit: int) -> list[int]:
    return list(Like.objects.filter(user_id=user_id).values_list("post_id", flat=True)[:limit])
