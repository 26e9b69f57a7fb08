"""Reads for likes, comments and notifications."""

from collections.abc import Iterable

from django.conf import settings
from django.db.models import Q, QuerySet

from interactions import like_buffer
from interactions.models import Comment, Like, Notification
from posts.models import Post
from users.models import User


def apply_like_state(viewer: User, posts: Iterable[Post]) -> None:
    """Set `liked_by_me` on each post for `viewer` and add likes not yet flushed to
    `like_count`: one Redis round trip and at most one query for the whole page."""
    posts = list(posts)
    if not posts:
        return
    viewer_id = viewer.pk if viewer.is_authenticated else None
    pending = _pending_likes([p.pk for p in posts], viewer_id)
    undecided = [p.pk for p in posts if pending.get(p.pk, (0, None))[1] is None]
    liked: set[int] = set()
    if viewer_id is not None and undecided:
        liked = set(
            Like.objects.filter(user_id=viewer_id, post_id__in=undecided).values_list(
                "post_id", flat=True
            )
        )
    for post in posts:
        delta, mine = pending.get(post.pk, (0, None))
        # The stored count is kept aside so that a post rendered twice is not counted up twice.
        stored = post.__dict__.setdefault("_stored_like_count", post.like_count)
        post.like_count = max(stored + delta, 0)
        post.liked_by_me = post.pk in liked if mine is None else mine


def _pending_likes(post_ids: list[int], viewer_id: int | None) -> dict:
    if not settings.LIKE_BUFFER_ENABLED:
        return {}
    try:
        return like_buffer.overlay(post_ids, viewer_id)
    except like_buffer.Unavailable:
        return {}  # Redis down: likes are written straight to PostgreSQL meanwhile


# --- comments -----------------------------------------------------------------


def post_comments(post_id: int) -> QuerySet[Comment]:
    """The live comments of a post with their authors, for CommentSerializer."""
    return Comment.objects.filter(
        post_id=post_id, deleted_at__isnull=True, hidden_at__isnull=True
    ).select_related("author")


def commentable_post(post_id: int) -> Post | None:
    return Post.objects.visible().filter(pk=post_id).first()


def get_comment(viewer: User, comment_id: int) -> Comment | None:
    """A live comment on a post the viewer may read, with its post."""
    comment = (
        Comment.objects.select_related("post")
        .filter(
            pk=comment_id,
            deleted_at__isnull=True,
            hidden_at__isnull=True,
            post__deleted_at__isnull=True,
        )
        .first()
    )
    if comment is None or not (comment.post.is_visible or comment.post.author_id == viewer.pk):
        return None
    return comment


# --- likes of a user -------------------------------------------------------------


def likes_of(user_id: int) -> QuerySet[Like]:
    """The user's likes of posts anyone may see, with each post and its author."""
    return Like.objects.filter(
        user_id=user_id,
        post__status=Post.Status.PUBLISHED,
        post__deleted_at__isnull=True,
        post__hidden_at__isnull=True,
    ).select_related("post__author")


# --- notifications ------------------------------------------------------------


def notifications_for(recipient: User) -> QuerySet[Notification]:
    """The recipient's notifications, minus those about posts or comments now gone."""
    return (
        Notification.objects.filter(recipient=recipient)
        .filter(
            Q(post__isnull=True) | Q(post__deleted_at__isnull=True, post__hidden_at__isnull=True)
        )
        .filter(
            Q(comment__isnull=True)
            | Q(comment__deleted_at__isnull=True, comment__hidden_at__isnull=True)
        )
        .select_related("actor")
    )
