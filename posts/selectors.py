"""Reads of posts, always as a given viewer sees them."""

from collections.abc import Sequence

from django.db.models import QuerySet

from interactions import selectors as interactions
from posts.models import Post
from users.models import User


def visible_posts(viewer: User) -> QuerySet[Post]:
    """Posts `viewer` may read, with their authors, ready for PostSerializer."""
    return Post.objects.visible().select_related("author")


def get_post(viewer: User, post_id: int) -> Post | None:
    """A post the viewer may read; its author also sees it while hidden or pending media."""
    post = Post.objects.select_related("author").filter(pk=post_id, deleted_at__isnull=True).first()
    if post is None or not (post.is_visible or post.author_id == viewer.pk):
        return None
    return post


def user_timeline(viewer: User, author_id: int) -> QuerySet[Post]:
    return visible_posts(viewer).filter(author_id=author_id)


def with_viewer_state(viewer: User, posts: Sequence[Post]) -> Sequence[Post]:
    """Fill in what depends on the viewer (`liked_by_me`, pending likes) for a page at once."""
    interactions.apply_like_state(viewer, posts)
    return posts
