"""Reads of home feeds."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from feed import heads, sql
from posts.selectors import visible_posts
from posts.serializers import FeedPostSerializer
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
    every followee until the rebuild it asks for is done). Posts hidden or deleted since
    the head was cached are left out when the page is rendered.
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
    """The page from PostgreSQL: one query (two for a dormant feed); with a head lease,
    the head is read along and cached unless the owner follows a VIP or is dormant."""
    window = (settings.FEED_HEAD_SIZE if lease else limit) + 1 + _SLACK
    candidates, flags = _candidates(owner_id, after=after, window=window, pull_all=False)
    if "dormant" in flags:
        candidates, _ = _candidates(owner_id, after=after, window=window, pull_all=True)
    if lease and not flags:
        visible = [(pid, at, by) for pid, at, by, seen in candidates if seen]
        visible = visible[: settings.FEED_HEAD_SIZE]
        heads.store(owner_id, lease, visible, complete=len(candidates) < window)
    page = _page_of(candidates, limit, window)
    page.dormant = "dormant" in flags
    return page


def _key(entries: list[tuple[int, datetime]]) -> FeedKey:
    post_id, at = entries[-1]
    return at, post_id


def _candidates(owner_id: int, *, after: FeedKey | None, window: int, pull_all: bool):
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
    return candidates, {flag for *_, flag in rows if flag is not None}


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

_POPULAR_KEY = "feed:popular"
_POPULAR_WINDOW_DAYS = 2
_last_popular: list[dict] = []


def refresh_popular_posts() -> list[dict]:
    """Compute and cache the fallback page: the most liked recent posts (no viewer state)."""
    global _last_popular
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
    cache.set(_POPULAR_KEY, data, timeout=settings.FEED_POPULAR_CACHE_S * 60)
    _last_popular = data
    return data


def popular_posts() -> list[dict]:
    """The cached fallback page; computed if missing; the last one this process saw
    if that fails too (never raises)."""
    data = cache.get(_POPULAR_KEY)
    if data is not None:
        return data
    try:
        return refresh_popular_posts()
    except Exception:
        return _last_popular
