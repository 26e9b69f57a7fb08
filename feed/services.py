"""Writes to home feeds: the outbox, fan-out, backfill, trimming.

Other apps call only the five hooks at the top, inside the transaction of the change
they announce. A post's fan-out is an OutboxEvent written in that transaction and
dispatched after commit; `relay_outbox` re-dispatches what was not processed in time,
so a broker outage or a killed worker delays a fan-out but never loses it.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from feed import sql
from feed.metrics import FANOUT_LAG, FANOUT_ROWS
from feed.models import DormantFeed, FeedEntry, OutboxEvent, VipAuthor
from posts.models import Post
from users.models import User

logger = logging.getLogger(__name__)


def announce_new_post(post: Post) -> None:
    """A post was published: its followers' feeds must receive it."""
    _emit(post, OutboxEvent.Kind.POST_PUBLISHED)


def retract_post(post: Post) -> None:
    """A post was deleted or hidden: it must leave every feed.

    Reads already filter it out (they join visible posts); this removes the rows.
    """
    _emit(post, OutboxEvent.Kind.POST_RETRACTED)


def restore_post(post: Post) -> None:
    """A hidden post was unhidden by a moderator: it belongs in feeds again."""
    _emit(post, OutboxEvent.Kind.POST_PUBLISHED)


def start_following(follower: User, followee: User) -> None:
    """`follower` now follows `followee`: backfill the followee's recent posts.

    A handful of rows, written in the follow's own transaction so the next feed read
    shows them. VIPs need nothing: their posts are merged at read time.
    """
    if VipAuthor.objects.filter(user_id=followee.pk).exists():
        return
    with connection.cursor() as cursor:
        cursor.execute(
            sql.BACKFILL_AUTHOR,
            {
                "owner": follower.pk,
                "author": followee.pk,
                "per_author": settings.FEED_BACKFILL_POSTS,
            },
        )


def stop_following(follower: User, followee: User) -> None:
    """`follower` no longer follows `followee`: drop the followee's posts from the feed."""
    # At most the feed cap of rows, found through the primary key's owner prefix.
    FeedEntry.objects.filter(owner_id=follower.pk, author_id=followee.pk).delete()


# --- outbox ----------------------------------------------------------------------


def _emit(post: Post, kind: str) -> None:
    event = OutboxEvent.objects.create(kind=kind, post=post)
    transaction.on_commit(lambda: dispatch(event.pk))


def dispatch(event_id: int) -> bool:
    """Hand an event to the broker; False (logged) if the broker is unreachable."""
    from feed.tasks import fan_out_post
    from puppies.celery import app

    if app.conf.task_always_eager:
        fan_out_post.apply_async((event_id,))
        return True
    try:
        # One quick connection attempt and no publish retries: a request must not hang
        # on a dead broker (kombu's defaults wait seconds); the relay retries later.
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0.1, interval_max=0.1, timeout=1
            )
            fan_out_post.apply_async((event_id,), retry=False, producer=producer)
    except Exception:
        logger.warning("feed event %s not dispatched; the outbox relay will retry", event_id)
        return False
    return True


def relay_outbox(limit: int = 1000) -> int:
    """Re-dispatch events still unprocessed OUTBOX_REDISPATCH_AFTER_S after dispatch."""
    now = timezone.now()
    due = now - timedelta(seconds=settings.OUTBOX_REDISPATCH_AFTER_S)
    with transaction.atomic():
        ids = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(processed_at__isnull=True, dispatched_at__lt=due)
            .order_by("dispatched_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        OutboxEvent.objects.filter(pk__in=ids).update(dispatched_at=now, attempts=F("attempts") + 1)
    sent = sum(dispatch(event_id) for event_id in ids)
    logger.info("outbox relay re-dispatched %s of %s events", sent, len(ids))
    return sent


def purge_outbox(keep: timedelta = timedelta(days=1)) -> int:
    """Forget processed events (they are only needed until their fan-out is done)."""
    deleted, _ = OutboxEvent.objects.filter(
        processed_at__isnull=False, created_at__lt=timezone.now() - keep
    ).delete()
    return deleted


def outbox_backlog() -> int:
    return OutboxEvent.objects.filter(processed_at__isnull=True).count()


def process_event(event_id: int) -> None:
    """Apply one outbox event to the feeds. Idempotent: safe to run twice or concurrently."""
    event = OutboxEvent.objects.select_related("post").filter(pk=event_id).first()
    if event is None or event.processed_at is not None:
        return
    if event.kind == OutboxEvent.Kind.POST_PUBLISHED:
        push_post(event.post)
    else:
        remove_post(event.post)
    processed = OutboxEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
        processed_at=timezone.now()
    )
    if processed and event.kind == OutboxEvent.Kind.POST_PUBLISHED:
        FANOUT_LAG.observe((timezone.now() - event.created_at).total_seconds())


# --- fan-out ---------------------------------------------------------------------


def push_post(post: Post) -> int:
    """Insert `post` into the feeds of its author's followers (dormant feeds skipped);
    returns the rows written.

    Set-based: one INSERT ... SELECT per keyset range of FEED_FANOUT_CHUNK followers,
    each its own transaction, so a killed worker leaves finished chunks and a rerun
    skips them. Ranges run on FEED_FANOUT_THREADS connections at once (outside a
    transaction). VIP authors are not pushed.
    """
    if not post.is_visible or is_vip(post.author_id):
        return 0
    params = {"author": post.author_id, "post": post.pk, "created_at": post.created_at}
    with connection.cursor() as cursor:
        cursor.execute(sql.PUSH_BOUNDS, {**params, "chunk": settings.FEED_FANOUT_CHUNK})
        bounds = [0] + [row[0] for row in cursor.fetchall()]
    ranges = [(lo, hi) for lo, hi in zip(bounds, [*bounds[1:], None], strict=True)]
    threads = min(settings.FEED_FANOUT_THREADS, len(ranges))
    if threads <= 1 or connection.in_atomic_block:
        written = sum(_push_range(params, lo, hi) for lo, hi in ranges)
    else:
        written = sum(_pool(threads).map(lambda r: _push_range_in_thread(params, *r), ranges))
    FANOUT_ROWS.inc(written)
    return written


def _push_range(params: dict, lo: int, hi: int | None) -> int:
    params = {**params, "lo": lo, "hi": hi}
    last = hi is None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.push_range(skip_existing=False, last=last), params)
            return cursor.rowcount
    except IntegrityError:  # some rows are there already: this chunk ran before
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql.push_range(skip_existing=True, last=last), params)
            return cursor.rowcount


def _push_range_in_thread(params: dict, lo: int, hi: int | None) -> int:
    # Pool threads keep their connection between fan-outs; drop it if it broke (a
    # database restart) or outlived CONN_MAX_AGE, as Django does between requests.
    connection.close_if_unusable_or_obsolete()
    return _push_range(params, lo, hi)


_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    # Long-lived threads keep their own database connections between fan-outs.
    if threads not in _pools:
        _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="fanout")
    return _pools[threads]


def remove_post(post: Post) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_POST, {"post": post.pk, "author": post.author_id})
        return cursor.rowcount


# --- VIP authors (pull) ------------------------------------------------------------


def is_vip(author_id: int) -> bool:
    """Whether `author_id` is pulled, updating the status with hysteresis on the way."""
    count = User.objects.filter(pk=author_id).values_list("follower_count", flat=True).first()
    vip = VipAuthor.objects.filter(user_id=author_id).exists()
    if count is None:
        return vip
    if not vip and count >= settings.VIP_FOLLOWER_THRESHOLD:
        VipAuthor.objects.get_or_create(user_id=author_id)
        return True
    if vip and count < settings.VIP_EXIT_FOLLOWER_THRESHOLD:
        demote_vip(author_id)
        return False
    return vip


def demote_vip(author_id: int) -> None:
    """Back to push: the recent posts, so far only pulled, are pushed to followers."""
    with transaction.atomic():
        deleted, _ = VipAuthor.objects.filter(user_id=author_id).delete()
        if not deleted:
            return
        recent = Post.objects.visible().filter(author_id=author_id).order_by("-created_at", "-id")
        for post in recent[: settings.FEED_BACKFILL_POSTS]:
            _emit(post, OutboxEvent.Kind.POST_PUBLISHED)


def refresh_vips() -> None:
    """Promote and demote authors whose follower count crossed a threshold."""
    vips = VipAuthor.objects.values("user_id")
    promote = User.objects.filter(follower_count__gte=settings.VIP_FOLLOWER_THRESHOLD).exclude(
        pk__in=vips
    )
    VipAuthor.objects.bulk_create(
        [VipAuthor(user_id=pk) for pk in promote.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
    demote = User.objects.filter(
        pk__in=vips, follower_count__lt=settings.VIP_EXIT_FOLLOWER_THRESHOLD
    ).values_list("pk", flat=True)
    for author_id in list(demote):
        demote_vip(author_id)


# --- owner-side maintenance --------------------------------------------------------


def ensure_feed_complete(owner: User) -> None:
    """Rebuild the feed if it went dormant (fan-out skipped it); one query otherwise."""
    woke, _ = DormantFeed.objects.filter(owner_id=owner.pk).delete()
    if woke:
        rebuild_feed(owner.pk)


def mark_dormant_feeds() -> int:
    """Owners inactive for FEED_INACTIVE_DAYS stop receiving fan-out until they read."""
    cutoff = timezone.now() - timedelta(days=settings.FEED_INACTIVE_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(sql.MARK_DORMANT, {"cutoff": cutoff})
        return cursor.rowcount


def rebuild_feed(owner_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.REBUILD,
            {
                "owner": owner_id,
                "per_author": settings.FEED_BACKFILL_POSTS,
                "cap": settings.FEED_MAX_ENTRIES,
            },
        )
        return cursor.rowcount


_TRIM_CURSOR_KEY = "feed:trim:after"


def trim_feeds(max_seconds: float = 20.0) -> int:
    """Trim feeds to FEED_MAX_ENTRIES, a batch of owners at a time, resuming where the
    previous run stopped (kept in the cache; losing it only restarts the sweep)."""
    started, removed = time.monotonic(), 0
    after = cache.get(_TRIM_CURSOR_KEY) or 0
    with connection.cursor() as cursor:
        while time.monotonic() - started < max_seconds:
            cursor.execute(
                sql.TRIM_BATCH,
                {
                    "after": after,
                    "batch": settings.FEED_TRIM_BATCH,
                    "cap": settings.FEED_MAX_ENTRIES,
                },
            )
            last, gone = cursor.fetchone()
            removed += gone
            after = last or 0
            if last is None:
                break
    cache.set(_TRIM_CURSOR_KEY, after, timeout=None)
    return removed
