"""Reads of home feeds."""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from feed import heads, services, sql
from feed.models import OutboxEvent
from users.models import User

FeedKey = tuple[datetime, int]


# Extra candidates per page so a few deleted or hidden posts not yet removed from
# feeds do not shorten the page.
_SLACK = 10


@dataclass
class FeedPage:
    post_ids: list[int]
    next_key: FeedKey | None  # None on the last page
    dormant: bool = False  # read by pulling every followee: the feed needs a rebuild
    read: list | None = None  # the posts as read for posts.rendering, when already read
    # post id -> the followee whose repost put it in the feed (reposts only)
    reposted_by: dict[int, int] = field(default_factory=dict)


def feed_page(owner: User, *, after: FeedKey | None, limit: int) -> FeedPage:
    """One page of the owner's merged feed, newest first, strictly after `after`.

    The first page of an active owner who follows no VIP comes from the cached head
    (feed.heads) with its posts, in one Redis call and without SQL; otherwise one query,
    whatever the number of VIPs followed (two for a dormant feed, which is pulled from
    every followee until the rebuild it asks for is done, and for a page that goes past
    the entries stored for the owner, the cap's or a backfill's, which continues from
    the followees' own posts). Posts hidden or deleted since the head was cached are
    left out when the page is rendered.
    """
    lease = None
    if after is None and limit <= settings.FEED_HEAD_SIZE:
        cached, read, lease = heads.first_page(owner, limit)
        if cached is not None:
            return FeedPage(
                cached.post_ids, cached.next_key, read=read, reposted_by=cached.reposted_by
            )
    return stored_page(owner.pk, after=after, limit=limit, lease=lease)


def stored_page(
    owner_id: int, *, after: FeedKey | None, limit: int, lease: bytes | None = None
) -> FeedPage:
    """The page from PostgreSQL: one query (two for a dormant feed, or a page that goes
    past the entries stored for the owner); with a head lease, the head is read along
    and cached unless the owner follows a VIP or is dormant."""
    window = (settings.FEED_HEAD_SIZE if lease else limit) + 1 + _SLACK
    candidates, flags, floor = _candidates(owner_id, after=after, window=window, pull_all=False)
    if "dormant" in flags or _reaches(candidates, window, floor):
        candidates, _, _ = _candidates(owner_id, after=after, window=window, pull_all=True)
    if lease and not flags & {"dormant", "vips"}:
        visible = [(pid, at, by) for pid, at, by, seen in candidates if seen]
        # Complete only if it holds the whole feed: every candidate there was, none cut
        # off by the head's size (else its last page would end the feed early).
        complete = len(candidates) < window and len(visible) <= settings.FEED_HEAD_SIZE
        heads.store(owner_id, lease, visible[: settings.FEED_HEAD_SIZE], complete=complete)
    page = _page_of(candidates, limit, window)
    page.dormant = "dormant" in flags
    return page


def _key(entries: list[tuple[int, datetime]]) -> FeedKey:
    post_id, at = entries[-1]
    return at, post_id


def _reaches(candidates: list, window: int, floor: FeedKey | None) -> bool:
    """Whether the page goes down to the owner's floor (feed.models.FeedFloor), where the
    stored entries may miss posts: then it continues from the followees' own posts.
    Above the floor, the entries and the VIPs' posts are the whole feed."""
    if floor is None:
        return False
    if len(candidates) < window:
        return True
    post_id, at, *_ = candidates[-1]
    return (at, post_id) <= floor


def _candidates(owner_id: int, *, after: FeedKey | None, window: int, pull_all: bool):
    """The page's candidates (post id, created_at, reposter, visible), newest first; the flags
    feed.sql.feed_page raised; and the owner's floor, if any."""
    params: dict = {"owner": owner_id, "n": window}
    if after is not None:
        params["at"], params["id"] = after
    with connection.cursor() as cursor:
        cursor.execute(sql.feed_page(after=after is not None, pull_all=pull_all), params)
        rows = cursor.fetchall()
    candidates = sorted(
        ((pid, at, by, visible) for pid, at, by, visible, flag in rows if flag is None),
        key=lambda row: (row[1], row[0]),
        reverse=True,
    )
    flags = {flag for *_, flag in rows if flag is not None}
    floor = next(((at, pid) for pid, at, _, _, flag in rows if flag == "floor"), None)
    return candidates, flags, floor


def _page_of(candidates: list, limit: int, window: int) -> FeedPage:
    """The first `limit` visible candidates, and the key to continue after: the last
    post served, or, when invisible candidates used up the window, the last candidate
    examined (pages may then come out short, but never skip or repeat a post)."""
    served: list[tuple[int, datetime]] = []
    reposted_by: dict[int, int] = {}
    for post_id, created_at, by, visible in candidates:
        if len(served) == limit:
            if visible:
                return FeedPage([pid for pid, _ in served], _key(served), reposted_by=reposted_by)
            continue
        if visible:
            served.append((post_id, created_at))
            if by is not None:
                reposted_by[post_id] = by
    ids = [pid for pid, _ in served]
    if len(candidates) < window:
        return FeedPage(ids, None, reposted_by=reposted_by)
    last_id, last_at, _, _ = candidates[-1]
    return FeedPage(ids, (last_at, last_id), reposted_by=reposted_by)


# --- the degraded page ---------------------------------------------------------------


def popular_posts() -> list[dict]:
    """The cached fallback page (feed.services.refresh_popular_posts); computed if
    missing; the last one this process computed if that fails too (never raises)."""
    data = cache.get(services.POPULAR_POSTS_KEY)
    if data is not None:
        return data
    try:
        return services.refresh_popular_posts()
    except Exception:
        return services.last_popular_posts


# --- the outbox, for monitoring --------------------------------------------------------


def outbox_backlog() -> int:
    return OutboxEvent.objects.filter(processed_at__isnull=True).count()


def outbox_oldest_age() -> float:
    """Seconds since the oldest unprocessed event was written (0 when none is)."""
    oldest = (
        OutboxEvent.objects.filter(processed_at__isnull=True)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return (timezone.now() - oldest).total_seconds() if oldest else 0.0
