"""Reads for likes, comments and notifications."""

from django.db.models import Q, QuerySet

from interactions.models import Comment, Like, Notification
from posts.models import Post
from users.models import User

# --- comments -----------------------------------------------------------------


def post_comments(post_id: int) -> QuerySet[Comment]:
    """The live comments of a post with their authors, for CommentSerializer."""
    return Comment.objects.filter(
        post_id=post_id, deleted_at__isnull=True, hidden_at__isnull=True
    ).select_related("author")


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
    """The user's likes of posts anyone may see (their post ids, for rendering)."""
    return Like.objects.filter(
        user_id=user_id,
        post__status=Post.Status.PUBLISHED,
        post__deleted_at__isnull=True,
        post__hidden_at__isnull=True,
    ).only("post_id", "created_at")


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
