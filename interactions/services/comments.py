"""Comments: writing one (or an import's many), editing, deleting, and hiding by moderators."""

import contextlib
from collections import Counter
from collections.abc import Sequence

import orjson
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from interactions import sql
from interactions.models import Comment, Notification, live_comment_q
from interactions.selectors import CommentNotFound
from interactions.services.notifications import mentioned_usernames, notify_mentions
from posts.models import Post
from posts.rendering import invalidate_posts, post_changed
from posts.selectors import PostNotFound
from puppies.db import next_ids
from users import moderation
from users.models import AuditLog, User


def create_comment(author: User, *, post_id: int, content: str) -> Comment:
    """A comment on a post others may see (NotFound if not); its author is notified."""
    # One statement, atomic on its own (the common case, and a hot path); mentions are
    # notified in the same transaction.
    mentions = bool(mentioned_usernames(content))
    with transaction.atomic() if mentions else contextlib.nullcontext():
        comment = _insert_comment(post_id, author, content)
        if mentions:
            notify_mentions(
                author,
                text=content,
                post=comment.post,
                comment=comment,
                skip=[comment.post.author_id],
            )
    return comment


def _insert_comment(post_id: int, author: User, content: str) -> Comment:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.CREATE_COMMENT,
            {"post": post_id, "author": author.pk, "content": content, "now": now},
        )
        row = cursor.fetchone()
    if row is None:
        raise PostNotFound
    comment_id, post_author_id, username, display_name, avatar_url = row
    post_changed(Post(pk=post_id))  # its comment_count
    commenter = User(pk=author.pk, username=username, display_name=display_name)
    commenter.avatar_url = avatar_url
    comment = Comment(pk=comment_id, post_id=post_id, content=content, created_at=now)
    comment.author, comment.post = commenter, Post(pk=post_id, author_id=post_author_id)
    comment._state.adding = False
    return comment


@transaction.atomic
def import_comments(author: User, *, items: Sequence[tuple[int, str]]) -> list[int | None]:
    """Many comments of `author` at once (an import), `items` being (post id, content).

    What `create_comment` does for each, set-based: posts not visible (deleted, hidden,
    missing) get none (None in their place in the result); comment_count moves in the
    same transaction, with the post rows locked; the post's author and the mentioned
    are notified; the posts' cached renderings go once this commits.
    """
    if not items:
        return []
    per_post = sorted(Counter(post_id for post_id, _ in items).items())
    with connection.cursor() as cursor:
        cursor.execute(
            sql.COUNT_IMPORTED_COMMENTS,
            [[pk for pk, _ in per_post], [n for _, n in per_post]],
        )
        authors = {pk: author_id for pk, author_id, visible in cursor.fetchall() if visible}
    placed = [(post_id, content) for post_id, content in items if post_id in authors]
    comment_ids = _insert_comments(author, placed)
    if authors:
        changed = list(authors)
        transaction.on_commit(lambda: invalidate_posts(changed))
    # Model instances only for what notifies: an import's own posts (its bot's) notify no one.
    notified = [
        (pk, post_id, content)
        for pk, (post_id, content) in zip(comment_ids, placed, strict=True)
        if authors[post_id] != author.pk or "@" in content
    ]
    Notification.objects.bulk_create(
        Notification(
            recipient_id=authors[post_id],
            actor_id=author.pk,
            type=Notification.Type.COMMENT,
            post_id=post_id,
            comment_id=pk,
        )
        for pk, post_id, _ in notified
        if authors[post_id] != author.pk
    )
    for pk, post_id, content in notified:
        if "@" in content:
            notify_mentions(
                author,
                text=content,
                post=Post(pk=post_id, author_id=authors[post_id]),
                comment=Comment(pk=pk, post_id=post_id, author_id=author.pk, content=content),
                skip=[authors[post_id]],
            )
    placed_ids = iter(comment_ids)
    return [next(placed_ids) if post_id in authors else None for post_id, _ in items]


def _insert_comments(author: User, placed: list[tuple[int, str]]) -> list[int]:
    """Insert (post id, content) comments of `author`; their ids, in order. Ids come from
    the sequence first; the rows go as one JSON parameter (sql.INSERT_IMPORTED_COMMENTS)."""
    if not placed:
        return []
    now = timezone.now()
    with connection.cursor() as cursor:
        ids = next_ids(Comment, len(placed))
        rows = [
            {"id": pk, "post_id": post_id, "content": content}
            for pk, (post_id, content) in zip(ids, placed, strict=True)
        ]
        cursor.execute(sql.INSERT_IMPORTED_COMMENTS, [author.pk, now, orjson.dumps(rows).decode()])
    return ids


@transaction.atomic
def import_comment_change(comment_id: int, *, author: User, content: str) -> bool:
    """An imported comment's text changed at its source: the comment says it now.

    Only the comment's author's own, live comment; newly mentioned users are notified.
    """
    comment = (
        Comment.objects.select_for_update()
        .filter(pk=comment_id, author_id=author.pk, deleted_at__isnull=True)
        .first()
    )
    if comment is None:
        return False
    previous, comment.content = comment.content, content
    comment.save(update_fields=["content"])
    post = Post(pk=comment.post_id)
    post_changed(post)
    notify_mentions(author, text=content, post=post, comment=comment, previous_text=previous)
    return True


@transaction.atomic
def delete_comment(comment: Comment, *, actor: User) -> None:
    """Soft delete by the comment's author or the post's author. A moderator hides it
    instead (set_comment_hidden: a reason, rank, an audit row, undoable)."""
    if actor.pk not in (comment.author_id, comment.post.author_id):
        if actor.is_moderator:
            raise PermissionDenied(
                moderation.HIDE_INSTEAD.format(what="comments", path="/admin/interactions/comment/")
            )
        raise PermissionDenied("Only the comment's author or the post's author can.")
    # Conditional UPDATE: a second, concurrent delete changes nothing and counts nothing.
    deleted = Comment.objects.filter(live_comment_q(), pk=comment.pk).update(
        deleted_at=timezone.now()
    )
    if not deleted:
        raise CommentNotFound
    Post.objects.filter(pk=comment.post_id, comment_count__gt=0).update(
        comment_count=F("comment_count") - 1
    )
    post_changed(comment.post)


@transaction.atomic
def set_comment_hidden(comment: Comment, *, hidden: bool, actor: User, reason: str) -> bool:
    """A moderator hides or unhides a comment; comment_count counts only live comments."""
    moderation.require_moderator(actor, reason=reason)
    moderation.require_outranks(actor, author=comment.author)
    live = Comment.objects.filter(pk=comment.pk, deleted_at__isnull=True)
    if hidden:
        changed = live.filter(hidden_at__isnull=True).update(hidden_at=timezone.now())
    else:
        changed = live.filter(hidden_at__isnull=False).update(hidden_at=None)
    if changed:
        delta = -1 if hidden else 1
        Post.objects.filter(pk=comment.post_id, comment_count__gte=-delta).update(
            comment_count=F("comment_count") + delta
        )
        post_changed(comment.post)
        action = AuditLog.Action.HIDE_COMMENT if hidden else AuditLog.Action.UNHIDE_COMMENT
        moderation.record_action(actor, action=action, target=comment, reason=reason)
    return bool(changed)
