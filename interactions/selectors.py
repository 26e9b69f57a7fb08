"""Reads for likes, comments and notifications."""

from collections.abc import Iterable

from interactions.models import Like
from posts.models import Post
from users.models import User


def apply_like_state(viewer: User, posts: Iterable[Post]) -> None:
    """Set `liked_by_me` on each post for `viewer`, in one query for the whole page."""
    posts = list(posts)
    liked: set[int] = set()
    if viewer.is_authenticated and posts:
        liked = set(
            Like.objects.filter(user=viewer, post_id__in=[p.pk for p in posts]).values_list(
                "post_id", flat=True
            )
        )
    for post in posts:
        post.liked_by_me = post.pk in liked
