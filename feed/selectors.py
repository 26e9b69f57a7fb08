"""Reads of home feeds."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from feed import sql
from posts.models import Post
from posts.selectors import visible_posts
from posts.serializers import PostSerializer
from users.models import User

FeedKey = tuple[datetime, int]


# Extra candidates per page so a few deleted or hidden posts not yet removed from
# feeds do not shorten the page.
_SLACK = 10


def feed_page(
    owner_id: int, *, after: FeedKey | None, limit: int
) -> tuple[list[int], FeedKey | None]:
    """Post ids of one page of the owner's merged feed, newest first, strictly after
    `after`; and the key to continue after (None on the last page). One query,
    whatever the number of VIPs followed.

    The continuation key is the last post served, or, when invisible candidates used up
    the window, the last candidate examined: pages may then come out short, but never
    skip or repeat a post.
    """
    window = limit + 1 + _SLACK
    params: dict = {"owner": owner_id, "n": window}
    if after is not None:
        params["at"], params["id"] = after
    with connection.cursor() as cursor:
        cursor.execute(sql.feed_page(after=after is not None), params)
        candidates = cursor.fetchall()
    served: list[tuple[int, datetime]] = []
    for post_id, created_at, visible in candidates:
        if len(served) == limit:
            if visible:
                return [pid for pid, _ in served], (served[-1][1], served[-1][0])
            continue
        if visible:
            served.append((post_id, created_at))
    ids = [pid for pid, _ in served]
    if len(candidates) < window:
        return ids, None
    last_id, last_at, _ = candidates[-1]
    return ids, (last_at, last_id)


def posts_in_order(viewer: User, post_ids: Sequence[int]) -> list[Post]:
    """The visible posts among `post_ids`, in that order (one query, authors joined)."""
    by_id = visible_posts(viewer).in_bulk(post_ids)
    return [by_id[post_id] for post_id in post_ids if post_id in by_id]


# --- the degraded page ---------------------------------------------------------------

_POPULAR_KEY = "feed:popular"
_POPULAR_WINDOW_DAYS = 2
_last_popular: list[dict] = []


def refresh_popular_posts() -> list[dict]:
    """Compute and cache the fallback page: the most liked recent posts (no viewer state)."""
    global _last_popular
    limit = settings.PAGE_DEFAULT_LIMIT
    viewer = AnonymousUser()
    since = timezone.now() - timedelta(days=_POPULAR_WINDOW_DAYS)
    posts = list(
        visible_posts(viewer)
        .filter(created_at__gte=since)
        .order_by("-like_count", "-created_at", "-id")[:limit]
    )
    if len(posts) < limit:
        seen = [post.pk for post in posts]
        posts += list(
            visible_posts(viewer)
            .exclude(pk__in=seen)
            .order_by("-created_at", "-id")[: limit - len(posts)]
        )
    data = [dict(item) for item in PostSerializer(posts, many=True).data]
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
