"""Writes to posts: one function per user-visible action."""

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from feed import services as feed
from posts.models import Post
from users.models import User


@transaction.atomic
def create_post(*, author: User, content: str) -> Post:
    post = Post.objects.create(author=author, content=content)
    User.objects.filter(pk=author.pk).update(post_count=F("post_count") + 1)
    feed.announce_new_post(post)
    return post


def edit_post(post: Post, *, editor: User, content: str) -> Post:
    if post.author_id != editor.pk:
        raise PermissionDenied("Only the author can edit a post.")
    post.content = content
    post.save(update_fields=["content", "updated_at"])
    return post


@transaction.atomic
def delete_post(post: Post, *, actor: User) -> None:
    if post.author_id != actor.pk and not actor.is_moderator:
        raise PermissionDenied("Only the author or a moderator can delete a post.")
    # Conditional UPDATE: a second, concurrent delete changes nothing and counts nothing.
    deleted = Post.objects.filter(pk=post.pk, deleted_at__isnull=True).update(
        deleted_at=timezone.now()
    )
    if deleted:
        User.objects.filter(pk=post.author_id, post_count__gt=0).update(
            post_count=F("post_count") - 1
        )
        feed.retract_post(post)
