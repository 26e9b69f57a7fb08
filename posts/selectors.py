"""Reads of posts, always as a given viewer sees them."""

import re
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound

from posts.models import (
    SEARCH_CONFIG,
    Pin,
    Post,
    PostHashtag,
    PostVersion,
    content_search_vector,
    visible_q,
)
from users import selectors as users
from users.models import User


def visible_posts() -> QuerySet[Post]:
    """Posts anyone may read, with their authors, ready for posts.rendering."""
    return Post.objects.visible().select_related("author")


def get_post(viewer: User, *, post_id: int) -> Post | None:
    """A post the viewer may read (not one whose author has a block with them); its author
    also sees it while hidden or pending media."""
    posts = Post.objects.select_related("author").filter(pk=post_id, deleted_at__isnull=True)
    post = users.without_hidden(posts, viewer, "author_id").first()  # blocks: in this query
    if post is None or not (post.is_visible or post.author_id == viewer.pk):
        return None
    return post


class PostNotFound(NotFound):
    """The one 404 of a post: absent, deleted, or not the caller's to read (hidden, pending
    media) -- the same answer for each, so a 404 does not tell them apart."""

    default_detail = "Post not found."


def get_post_or_404(viewer: User, *, post_id: int) -> Post:
    """The post as GET /v1/posts/{id} shows it to `viewer`, or PostNotFound."""
    post = get_post(viewer, post_id=post_id)
    if post is None:
        raise PostNotFound
    return post


def post_versions(post_id: int) -> QuerySet[PostVersion]:
    """The earlier contents of a post (check first that the viewer may read the post)."""
    return PostVersion.objects.filter(post_id=post_id)


def pinned_post_ids(author_id: int) -> list[int]:
    """The author's pinned posts that others may see, most recently pinned first."""
    pins = Pin.objects.filter(visible_q("post__"), author_id=author_id)
    return list(pins.order_by("-pinned_at", "-post_id").values_list("post_id", flat=True))


# A list page loads only what paging needs; posts.rendering has the rest cached (and
# loads what it lacks in one query).
_PAGE_FIELDS = ("id", "author_id", "created_at")


def user_timeline(author_id: int) -> QuerySet[Post]:
    return Post.objects.visible().filter(author_id=author_id).only(*_PAGE_FIELDS)


# --- which search shapes the indexes can serve ---------------------------------------
# A query the GIN indexes cannot narrow down reads every live post: refused (400)
# before it reaches PostgreSQL, so anonymous callers cannot buy full scans.
SEARCH_WORD_MIN_CHARS = 2  # a post search needs such a word in every alternative
_TERM_RE = re.compile(r'(-?)(?:"([^"]*)"?|(\S+))')
_WORD_RE = re.compile(r"[^\W_]+")


def post_query_problem(q: str) -> str | None:
    """Why the post index cannot serve the web-style query `q` (None: it can).

    As websearch_to_tsquery reads it: terms, "phrases", -negated ones, `or` between
    alternatives. Each alternative needs a word it must contain: one made only of
    negations (`-zzz`) or of nothing searchable (`~~`) matches by exclusion, i.e. all."""
    alternatives: list[bool] = [False]
    for negated, phrase, word in _TERM_RE.findall(q):
        text = phrase if phrase or word == "" else word
        if not negated and text.lower() == "or" and not phrase:
            alternatives.append(False)
            continue
        positive = not negated and any(
            len(w) >= SEARCH_WORD_MIN_CHARS for w in _WORD_RE.findall(text)
        )
        alternatives[-1] = alternatives[-1] or positive
    if all(alternatives):
        return None
    return (
        f"Give at least one word of {SEARCH_WORD_MIN_CHARS}+ letters or digits to look for "
        "(in each `or` alternative): exclusions and punctuation alone match nothing narrowly."
    )


def search_posts(viewer: User, *, q: str) -> QuerySet[Post]:
    """Visible posts matching the web-style query `q` ("quoted phrase", -not, or), minus
    those of authors blocked either way or muted by the viewer."""
    # The same expression as the partial GIN index post_content_search, so that index serves it.
    posts = users.without_hidden(Post.objects.visible(), viewer, "author_id", mutes=True)
    return (
        posts.only(*_PAGE_FIELDS)
        .alias(document=content_search_vector())
        .filter(document=SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch"))
    )


def hashtag_posts(viewer: User, *, tag: str) -> QuerySet[PostHashtag]:
    """The PostHashtag rows of `tag` whose post is visible to the viewer (their post ids,
    for rendering)."""
    rows = PostHashtag.objects.filter(visible_q("post__"), tag=tag)
    return users.without_hidden(rows, viewer, "post__author_id").only("post_id", "created_at")


_TRENDING_KEY = "posts:trending_hashtags"
_TRENDING_LOCK = "posts:trending_hashtags:lock"
TRENDING_SIZE = 10


def trending_hashtags() -> list[dict]:
    """The top tags by visible posts in the last TRENDING_WINDOW_HOURS, as [{tag, post_count}].

    Recounted at most every TRENDING_CACHE_S: the entry outlives its freshness, and when it
    goes stale one caller (the one that takes the lock) recounts while the rest serve the old
    list, so a storm of reads costs one query per interval, not one per reader at expiry.
    """
    entry = cache.get(_TRENDING_KEY)
    now = time.time()
    if entry is not None and (
        now < entry["fresh_until"] or not cache.add(_TRENDING_LOCK, 1, settings.TRENDING_CACHE_S)
    ):
        return entry["results"]
    results = _count_trending_hashtags()
    entry = {"results": results, "fresh_until": now + settings.TRENDING_CACHE_S}
    cache.set(_TRENDING_KEY, entry, settings.TRENDING_CACHE_S * 10)
    cache.delete(_TRENDING_LOCK)
    return results


def _count_trending_hashtags() -> list[dict]:
    since = timezone.now() - timedelta(hours=settings.TRENDING_WINDOW_HOURS)
    rows = (
        PostHashtag.objects.filter(visible_q("post__"), created_at__gte=since)
        .values("tag")
        .annotate(post_count=Count("*"))
        .order_by("-post_count", "tag")[:TRENDING_SIZE]
    )
    return [{"tag": row["tag"], "post_count": row["post_count"]} for row in rows]
