"""Bookmarks: a viewer's own saved posts (bookmarked_by_me through viewer_sets)."""

from django.db import connection
from django.utils import timezone

from interactions import sql, viewer_sets
from posts.models import Post
from users.models import User


def bookmark_post(user: User, *, post: Post) -> bool:
    """`user` bookmarks a post they may see (idempotent); True if this bookmarked it."""
    with connection.cursor() as cursor:
        cursor.execute(sql.ADD_BOOKMARK, {"user": user.pk, "post": post.pk, "now": timezone.now()})
        created = cursor.fetchone() is not None
    if created:
        viewer_sets.changed_on_commit(user.pk, viewer_sets.BOOKMARK, post.pk, present=True)
    return created


def unbookmark_post(user: User, *, post_id: int) -> None:
    """`user` removes their bookmark of the post (idempotent)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_BOOKMARK, {"user": user.pk, "post": post_id})
        removed = cursor.rowcount
    if removed:
        viewer_sets.changed_on_commit(user.pk, viewer_sets.BOOKMARK, post_id, present=False)
