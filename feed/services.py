"""Writes to home feeds: the outbox, fan-out, backfill, trimming, and the cached
popular-posts page that stands in for a feed that cannot be served.

Other apps call only the five hooks at the top, inside the transaction of the change
they announce. A post's fan-out is an OutboxEvent written in that transaction, which
the workers' relay (feed.relay) hands to the broker at commit; `relay_outbox`
re-dispatches what was not processed in time, so a broker outage or a killed worker
delays a fan-out but never loses it.
"""

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from feed import heads, sql
from feed.metrics import FANOUT_LAG, FANOUT_ROWS
from feed.models import DormantFeed, FeedEntry, OutboxEvent, VipAuthor
from interactions.models import Repost
from posts import rendering
from posts.models import Post
from posts.selectors import visible_posts
from posts.serializers import FeedPostSerializer
from puppies import redis as puppies_redis
from puppies import tracing
from puppies.celery import app
from users.models import Follow, User

logger = logging.getLogger(__name__)


def announce_new_post(post: Post) -> None:
    """A post was published: its followers' feeds must receive it."""
    _emit([post.pk], OutboxEvent.Kind.POST_PUBLISHED)


def retract_post(post: Post) -> None:
    """A post was deleted or hidden: it must leave every feed.

    Reads already filter it out (they join visible posts); this removes the rows.
    """
    _emit([post.pk], OutboxEvent.Kind.POST_RETRACTED)


def restore_post(post: Post) -> None:
    """A hidden post was unhidden by a moderator: it belongs in feeds again."""
    _emit([post.pk], OutboxEvent.Kind.POST_PUBLISHED)


def start_following(follower: User, *, followee: User) -> None:
    """`follower` now follows `followee`: backfill the followee's recent posts.

    A handful of rows, written in the follow's own transaction so the next feed read
    shows them. VIPs need nothing: their posts are merged at read time.
    """
    transaction.on_commit(lambda: heads.invalidate([follower.pk]))
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


def pull_always(author: User) -> None:
    """`author` (an ingestion bot) is pulled from now on, whatever its follower count."""
    updated = VipAuthor.objects.filter(user_id=author.pk).update(pinned=True)
    if not updated:
        VipAuthor.objects.create(user_id=author.pk, pinned=True)
        transaction.on_commit(lambda: _promoted([author.pk]))


def announce_imported_posts(author_id: int, *, post_ids: list[int]) -> None:
    """A batch of imported posts was published: their followers' feeds must receive them.

    A pulled author's posts need nothing (reads merge them); otherwise one outbox event
    per post, as `announce_new_post` writes, in one insert.
    """
    if not post_ids or VipAuthor.objects.filter(user_id=author_id).exists():
        return
    _emit(post_ids, OutboxEvent.Kind.POST_PUBLISHED)


def stop_following(follower: User, *, followee: User) -> None:
    """`follower` no longer follows `followee`: drop the followee's posts and reposts from
    the feed."""
    # At most the feed cap of rows, found through the primary key's owner prefix.
    FeedEntry.objects.filter(
        Q(author_id=followee.pk, reposted_by__isnull=True) | Q(reposted_by=followee.pk),
        owner_id=follower.pk,
    ).delete()
    transaction.on_commit(lambda: heads.invalidate([follower.pk]))


def hidden_authors_changed(owner_ids: list[int]) -> None:
    """Whose posts these owners' feeds leave out changed (a block or a mute: feed reads
    filter them, feed.sql.HIDDEN_AUTHORS): their cached heads go once this commits."""
    transaction.on_commit(lambda: heads.invalidate(owner_ids))


# --- outbox ----------------------------------------------------------------------


def _emit(post_ids: list[int], kind: str) -> None:
    """The events, written with the change; the relay (feed.relay) dispatches them at commit."""
    with connection.cursor() as cursor:
        cursor.execute(sql.EMIT, {"kind": kind, "posts": post_ids, "trace": tracing.traceparent()})
        events_written([row[0] for row in cursor.fetchall()])


def events_written(event_ids: list[int]) -> None:
    """Outbox events were written (by `_emit`, or with their posts by posts.sql): without
    workers (eager mode) there is no relay, so they fan out here once committed."""
    if app.conf.task_always_eager:
        transaction.on_commit(lambda: [dispatch(event_id) for event_id in event_ids])


def dispatch(event_id: int) -> bool:
    """Hand an event to the broker; False (logged) if the broker is unreachable."""
    from feed.tasks import fan_out_post  # feed.tasks imports this module (tasks call services)

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


def relay_outbox(*, limit: int = 1000, due_after_s: float | None = None) -> int:
    """Re-dispatch events still unprocessed `due_after_s` (OUTBOX_REDISPATCH_AFTER_S)
    after their last dispatch."""
    now = timezone.now()
    if due_after_s is None:
        due_after_s = settings.OUTBOX_REDISPATCH_AFTER_S
    due = now - timedelta(seconds=due_after_s)
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


def process_event(event_id: int) -> None:
    """Apply one outbox event to the feeds. Idempotent: safe to run twice or concurrently."""
    event = OutboxEvent.objects.select_related("post").filter(pk=event_id).first()
    if event is None or event.processed_at is not None:
        return
    if event.kind == OutboxEvent.Kind.POST_PUBLISHED:
        # Cached before the feeds show it: its first readers find it (the 201 did not).
        rendering.cache_posts([event.post])
        push_post(event.post)
    elif event.kind == OutboxEvent.Kind.REPOST_PUBLISHED:
        push_repost(event.post, reposter_id=event.actor_id)
    elif event.kind == OutboxEvent.Kind.REPOST_RETRACTED:
        remove_repost(event.post, reposter_id=event.actor_id)
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
    returns the rows written. VIP authors are not pushed.

    Set-based: one INSERT ... SELECT ... RETURNING owner_id per keyset range of
    followers, each committed on its own (a killed worker leaves finished chunks, a
    rerun skips them), then the cached feed heads of its owners are dropped. Outside a
    transaction, FEED_FANOUT_THREADS ranges are written at once: by this thread and
    pool threads, each on its own connection.
    """
    if not post.is_visible:
        return 0
    return _push(
        post,
        followee_id=post.author_id,
        created_at=post.created_at,
        reposted_by=None,
        promote_author=post.author_id,
    )


def push_repost(post: Post, *, reposter_id: int) -> int:
    """Insert `post` into the feeds of its reposter's followers, as their repost (at the
    time of the repost), as `push_post` does; feeds that hold the post already (its
    author's push, another followee's repost) keep that entry: a post is in a feed once.
    A VIP reposter's reposts are pulled at read time (feed.sql.feed_page), like its posts.
    Nothing if the post is no longer visible or the repost was taken back meanwhile."""
    repost = Repost.objects.filter(user_id=reposter_id, post_id=post.pk).first()
    if repost is None or not post.is_visible:
        return 0
    return _push(
        post,
        followee_id=reposter_id,
        created_at=repost.created_at,
        reposted_by=reposter_id,
        promote_author=reposter_id,
    )


def _push(
    post: Post,
    *,
    followee_id: int,
    created_at,
    reposted_by: int | None,
    promote_author: int,
) -> int:
    """The fan-out of `post` to the followers of `followee_id` (its author or a reposter)."""
    params = {
        "followee": followee_id,
        "author": post.author_id,
        "post": post.pk,
        "created_at": created_at,
        "reposted_by": reposted_by,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.PUSH_AUTHOR, params)
        followers, vip = cursor.fetchone() or (0, False)
    # is_vip moves an author across the thresholds (hysteresis), but its two ORM queries
    # take 1.3 ms, ~15% of a 1k-follower fan-out: only an author past one needs it.
    promote = not vip and followers >= settings.VIP_FOLLOWER_THRESHOLD
    demote = vip and followers < settings.VIP_EXIT_FOLLOWER_THRESHOLD
    if promote or demote:
        vip = is_vip(promote_author)
    if vip:
        return 0
    threads = 1 if connection.in_atomic_block else settings.FEED_FANOUT_THREADS
    ranges = _ranges(params, followers, threads)
    # A repost meets feeds that hold its post already: straight to ON CONFLICT DO NOTHING.
    skip_existing = reposted_by is not None
    if threads == 1 or len(ranges) == 1:
        written = sum(_push_range(params, lo, hi, skip_existing) for lo, hi in ranges)
    else:
        written = _push_ranges_at_once(params, ranges, threads, skip_existing)
    FANOUT_ROWS.inc(written)
    return written


def _ranges(params: dict, followers: int, threads: int) -> list[tuple[int | None, int | None]]:
    """[lo, hi) follower_id ranges (None: open) of about equal size, in rounds of
    `threads` (a round that leaves a thread idle costs a whole chunk's time), at most
    FEED_FANOUT_CHUNK followers and, when split to run at once, at least
    FEED_FANOUT_MIN_CHUNK: two connections beat one from ~1.5k followers on (+45% at
    2.5k), not below, where the bounds query, the hand-off and a second transaction eat
    the gain. One range (no bounds query) for a small fan-out."""
    chunk = settings.FEED_FANOUT_CHUNK
    rounds = max(1, -(-followers // (threads * chunk)))
    size = min(chunk, max(settings.FEED_FANOUT_MIN_CHUNK, -(-followers // (threads * rounds))))
    if followers <= size:
        return [(None, None)]
    with connection.cursor() as cursor:
        cursor.execute(sql.PUSH_BOUNDS, {**params, "size": size})
        bounds = [row[0] for row in cursor.fetchall()]
    return list(zip([None, *bounds], [*bounds, None], strict=True))


def _push_ranges_at_once(params: dict, ranges: list, threads: int, skip_existing: bool) -> int:
    """This thread and threads - 1 pool threads take ranges off one queue until it is
    empty (this thread working too saves a hand-off and a connection)."""
    todo = deque(ranges)

    def drain() -> int:
        written = 0
        while True:
            try:
                lo, hi = todo.popleft()
            except IndexError:
                return written
            written += _push_range(params, lo, hi, skip_existing)

    helpers = [
        _pool(threads - 1).submit(_in_pool_thread, drain)
        for _ in range(min(threads, len(ranges)) - 1)
    ]
    try:
        written = drain()
    finally:
        wait(helpers)  # no chunk is still being written once this returns or raises
    return written + sum(helper.result() for helper in helpers)


def _push_range(params: dict, lo: int | None, hi: int | None, skip_existing: bool) -> int:
    """One chunk, committed on its own; then its owners' cached heads are dropped."""
    params = {**params, "lo": lo, "hi": hi}
    shape = {"lower": lo is not None, "upper": hi is not None}
    rows = None
    if not skip_existing:
        try:
            rows = _commit_one(sql.push_range(skip_existing=False, **shape), params)
            written = len(rows)
        except IntegrityError:  # some rows are there already: this chunk ran before
            rows = None
    if rows is None:
        rows = _commit_one(sql.push_range(skip_existing=True, **shape), params)
        written = rows[0][1] if rows else 0
    _drop_heads([row[0] for row in rows])
    return written


def _drop_heads(owners: list[int]) -> None:
    if connection.in_atomic_block:
        # A caller's transaction (tests): dropped again once it commits, since a reader
        # could cache the old head before; now as well, for a caller reading its writes.
        transaction.on_commit(lambda: heads.invalidate(owners))
    heads.invalidate(owners)


def _commit_one(statement: str, params: dict) -> list[tuple]:
    """Run one chunk's statement in a transaction of its own (a savepoint inside a
    caller's), committed without waiting for its WAL to reach disk.

    A transaction rather than autocommit (two round trips fewer): a worker killed while
    its statement runs must not have it commit behind its back.

    Waiting (synchronous_commit) costs ~0.6 ms per 1k-row chunk and 2-8 ms per 4.5k-row
    one (p90 45 ms). A crash may then lose chunks committed in the last ~0.6 s, which is
    safe because nothing acknowledges them before a durable commit: the event's
    processed_at UPDATE (process_event, after push_post returns) commits synchronously,
    and flushing its commit record flushes all WAL before it, every chunk's included.
    Until then a lost chunk is redone by the relay's redelivery, idempotently. Inside
    a caller's transaction the setting would outlive the chunk: left alone there.
    """
    own = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if own:
            cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(statement, params)
        return cursor.fetchall()


def _in_pool_thread(work: Callable[[], int]) -> int:
    # Pool threads keep their connection between fan-outs; drop it if it broke (a
    # database restart) or outlived CONN_MAX_AGE, as Django does between requests.
    connection.close_if_unusable_or_obsolete()
    return work()


_pools: dict[int, ThreadPoolExecutor] = {}


def _pool(threads: int) -> ThreadPoolExecutor:
    # Long-lived threads keep their own database connections between fan-outs.
    if threads not in _pools:
        _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="fanout")
    return _pools[threads]


def remove_post(post: Post) -> int:
    """Its entries leave every feed: its author's followers', its reposters' followers'
    (reads filter it out already; cached heads drop it when they render)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_POST, {"post": post.pk, "author": post.author_id})
        return cursor.rowcount


def remove_repost(post: Post, *, reposter_id: int) -> int:
    """A repost was taken back: the entries it put in feeds leave them (a feed holding the
    post through its author or another repost keeps that), and their heads go."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_REPOST, {"post": post.pk, "reposter": reposter_id})
        owners = [row[0] for row in cursor.fetchall()]
    _drop_heads(owners)
    return len(owners)


# --- VIP authors (pull) ------------------------------------------------------------


def is_vip(author_id: int) -> bool:
    """Whether `author_id` is pulled, updating the status with hysteresis on the way."""
    count = User.objects.filter(pk=author_id).values_list("follower_count", flat=True).first()
    pinned = VipAuthor.objects.filter(user_id=author_id).values_list("pinned", flat=True).first()
    vip = pinned is not None
    if count is None or pinned:
        return vip
    if not vip and count >= settings.VIP_FOLLOWER_THRESHOLD:
        _, created = VipAuthor.objects.get_or_create(user_id=author_id)
        if created:
            _promoted([author_id])
        return True
    if vip and count < settings.VIP_EXIT_FOLLOWER_THRESHOLD:
        demote_vip(author_id)
        return False
    return vip


def _promoted(author_ids: list[int]) -> None:
    """These authors are pulled from now on: their followers' cached heads, which assumed
    no VIP to merge, must go (a demotion needs nothing: it pushes the recent posts)."""
    for author_id in author_ids:
        followers = Follow.objects.filter(followee_id=author_id).values_list(
            "follower_id", flat=True
        )
        heads.invalidate(list(followers))


def demote_vip(author_id: int) -> bool:
    """Back to push: the recent posts, so far only pulled, are pushed to followers.

    False for a pinned author, who stays pulled."""
    with transaction.atomic():
        deleted, _ = VipAuthor.objects.filter(user_id=author_id, pinned=False).delete()
        if not deleted:
            return False
        recent = Post.objects.visible().filter(author_id=author_id).order_by("-created_at", "-id")
        for post in recent[: settings.FEED_BACKFILL_POSTS]:
            _emit([post.pk], OutboxEvent.Kind.POST_PUBLISHED)
        # Its older posts, pulled until now, are pushed to no one: past the recent ones,
        # its followers' feeds continue from the followees' posts.
        with connection.cursor() as cursor:
            cursor.execute(
                sql.DEMOTED_AUTHOR_FLOORS,
                {"author": author_id, "per_author": settings.FEED_BACKFILL_POSTS},
            )
    return True


def refresh_vips() -> None:
    """Promote and demote authors whose follower count crossed a threshold."""
    vips = VipAuthor.objects.values("user_id")
    promote = User.objects.filter(follower_count__gte=settings.VIP_FOLLOWER_THRESHOLD).exclude(
        pk__in=vips
    )
    promoted = list(promote.values_list("pk", flat=True))
    VipAuthor.objects.bulk_create([VipAuthor(user_id=pk) for pk in promoted], ignore_conflicts=True)
    _promoted(promoted)
    demote = User.objects.filter(
        pk__in=vips.filter(pinned=False), follower_count__lt=settings.VIP_EXIT_FOLLOWER_THRESHOLD
    ).values_list("pk", flat=True)
    for author_id in list(demote):
        demote_vip(author_id)


# --- owner-side maintenance --------------------------------------------------------


def wake_feed(owner_id: int) -> None:
    """A dormant owner is reading again: rebuild the feed and let fan-out reach it again.

    The mark goes first, so a post published meanwhile is pushed or rebuilt, never
    neither; until this is done, reads pull from every followee (feed.selectors).
    """
    with transaction.atomic():
        woke, _ = DormantFeed.objects.filter(owner_id=owner_id).delete()
    if woke:
        rebuild_feed(owner_id)
    heads.invalidate([owner_id])
    release_wake(owner_id)


def claim_wake(owner_id: int) -> bool:
    try:
        return bool(puppies_redis.client().set(f"feed:waking:{owner_id}", 1, nx=True, ex=60))
    except puppies_redis.Unavailable:
        return True


def release_wake(owner_id: int) -> None:
    with contextlib.suppress(puppies_redis.Unavailable):
        puppies_redis.client().delete(f"feed:waking:{owner_id}")


def mark_dormant_feeds() -> int:
    """Owners inactive for FEED_INACTIVE_DAYS stop receiving fan-out until they read."""
    cutoff = timezone.now() - timedelta(days=settings.FEED_INACTIVE_DAYS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.MARK_DORMANT, {"cutoff": cutoff})
        owners = [row[0] for row in cursor.fetchall()]
    heads.invalidate(owners)
    return len(owners)


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
        return cursor.fetchone()[0]


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


# --- the degraded page ---------------------------------------------------------------

POPULAR_POSTS_KEY = "feed:popular"
_POPULAR_WINDOW_DAYS = 2
# The last page this process computed: served when neither Redis nor PostgreSQL can give one.
last_popular_posts: list[dict] = []


def refresh_popular_posts() -> list[dict]:
    """Compute and cache the fallback page: the most liked recent posts (no viewer state)."""
    global last_popular_posts
    limit = settings.PAGE_DEFAULT_LIMIT
    since = timezone.now() - timedelta(days=_POPULAR_WINDOW_DAYS)
    posts = list(
        visible_posts()
        .filter(created_at__gte=since)
        .order_by("-like_count", "-created_at", "-id")[:limit]
    )
    if len(posts) < limit:
        seen = [post.pk for post in posts]
        posts += list(
            visible_posts()
            .exclude(pk__in=seen)
            .order_by("-created_at", "-id")[: limit - len(posts)]
        )
    data = [dict(item) for item in FeedPostSerializer(posts, many=True).data]
    # Kept long past its refresh interval: a stale page beats none when PostgreSQL is down.
    cache.set(POPULAR_POSTS_KEY, data, timeout=settings.FEED_POPULAR_CACHE_S * 60)
    last_popular_posts = data
    return data
