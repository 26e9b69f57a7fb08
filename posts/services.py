"""Writes to posts: one function per user-visible action."""

import contextlib
import re
from collections.abc import Sequence

import orjson
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from feed import services as feed
from feed.models import OutboxEvent
from interactions.services import notifications, reports
from posts import rendering, sql
from posts.media import files as media_files
from posts.models import Pin, Post, PostHashtag, PostVersion
from puppies import tracing
from puppies.db import next_ids
from puppies.errors import Conflict
from users import moderation, revocations
from users.models import AuditLog, User


def _count_authors_post(post: Post, delta: int) -> None:
    """post_count counts the posts others can see: deleted and hidden ones leave it."""
    User.objects.filter(pk=post.author_id, post_count__gte=-delta).update(
        post_count=F("post_count") + delta
    )


# `#tag` not preceded by a word character or another `#` (so "a#b" and "##" tag nothing),
# nor followed by one: "#café" and a 101-character run are not tags, rather than cut ones.
_HASHTAG_RE = re.compile(r"(?<![\w#])#([A-Za-z0-9_]{1,100})(?!\w)")
MAX_HASHTAGS_PER_POST = 20


def hashtags_in(text: str) -> list[str]:
    """The distinct tags (lower-cased, without '#') in `text`, first ones first, capped."""
    tags = dict.fromkeys(tag.lower() for tag in _HASHTAG_RE.findall(text))
    return list(tags)[:MAX_HASHTAGS_PER_POST]


def _tag_post(post: Post, *, previous_text: str | None = None) -> None:
    """Make the post's PostHashtag rows those of its content (after an edit: replace the set)."""
    tags = hashtags_in(post.content)
    if previous_text is not None:
        if set(tags) == set(hashtags_in(previous_text)):
            return
        PostHashtag.objects.filter(post_id=post.pk).exclude(tag__in=tags).delete()
    PostHashtag.objects.bulk_create(
        [PostHashtag(post=post, tag=tag, created_at=post.created_at) for tag in tags],
        ignore_conflicts=True,
    )


def create_post(*, author: User, content: str, media: dict | None = None) -> Post:
    """A new post; with `media` ({content_type, size}) it waits, unseen, for its image.

    A revocation check of the author's token left pending (users.revocations) is made
    before anything is written; a plain post's statement carries it.
    """
    if media is not None:
        revocations.ensure_checked(author)
        return _create_pending(author, content, media)
    # A post that mentions no one is one statement, atomic on its own (the common case,
    # and a hot path); mentions are notified in the same transaction.
    mentions = bool(notifications.mentioned_usernames(content))
    with transaction.atomic() if mentions else contextlib.nullcontext():
        post = _publish_new(author, content)
        if mentions:
            notifications.notify_mentions(author, text=content, post=post)
    return post


def _publish_new(author: User, content: str) -> Post:
    """What `_announce` does for a new post, with the row, in one statement (posts.sql)."""
    # By id: the author may be the request's TokenUser, whose row need not be loaded.
    post = Post(author_id=author.pk, content=content, created_at=timezone.now())
    post.updated_at = post.created_at
    with connection.cursor() as cursor:
        cursor.execute(
            sql.PUBLISH_NEW,
            {
                "author": author.pk,
                "content": content,
                "now": post.created_at,
                "tags": hashtags_in(content),
                "kind": OutboxEvent.Kind.POST_PUBLISHED,
                "trace": tracing.traceparent(),
                "issued_at": revocations.pending_issued_at(author),
            },
        )
        row = cursor.fetchone()
    revocations.settled_by_sql(author, honoured=row is not None)
    post.pk, event_id, _, username, display_name, avatar_url = row
    post._state.adding = False  # as if loaded: saving it again updates the row
    # The author as the statement read them: the summary the 201 embeds, without a load.
    post.author = User(
        pk=author.pk, username=username, display_name=display_name, avatar_url=avatar_url
    )
    post.author._state.adding = False
    feed.events_written([event_id])
    return post


@transaction.atomic
def _create_pending(author: User, content: str, media: dict) -> Post:
    post = Post.objects.create(
        author_id=author.pk,
        content=content,
        status=Post.Status.PENDING_MEDIA,
        media={"content_type": media["content_type"], "size": media["size"]},
    )
    _tag_post(post)
    return post


def _announce(post: Post, author: User) -> None:
    """The post became visible to others: count it, fan it out, notify whom it mentions."""
    _count_authors_post(post, +1)
    feed.announce_new_post(post)
    notifications.notify_mentions(author, text=post.content, post=post)


def publish_media(post_id: int, *, media: dict) -> Post | None:
    """A pending post's image passed its check: attach it and publish the post, once.

    None if there is nothing to publish (deleted meanwhile, or published by a repeat).
    """
    with transaction.atomic():
        # Row lock: of two concurrent checks of the same upload, one publishes.
        post = (
            Post.objects.select_for_update(of=("self",))
            .select_related("author")
            .filter(pk=post_id, deleted_at__isnull=True)
            .first()
        )
        if post is None or post.status != Post.Status.PENDING_MEDIA:
            return None
        post.media = media
        post.status = Post.Status.PUBLISHED
        post.save(update_fields=["media", "status", "updated_at"])
        rendering.post_changed(post)
        if post.hidden_at is None:
            _announce(post, post.author)
    return post


@transaction.atomic
def reject_media(post_id: int, *, error: str) -> None:
    """The image of a pending post was refused: it stays unpublished, and its author sees why."""
    post = (
        Post.objects.select_for_update()
        .filter(pk=post_id, status=Post.Status.PENDING_MEDIA, deleted_at__isnull=True)
        .first()
    )
    if post is not None:
        post.media = {**(post.media or {}), "error": error}
        post.save(update_fields=["media", "updated_at"])
        rendering.post_changed(post)


@transaction.atomic
def edit_post(post: Post, *, editor: User, content: str | None = None) -> Post:
    """PATCH semantics: what is not given (None) is left as it is."""
    if post.author_id != editor.pk:
        raise PermissionDenied("Only the author can edit a post.")
    if content is None:
        return post
    # Row lock, then the content as it is now: of two concurrent edits each keeps the
    # version the other wrote, so the history has no gap and no duplicate.
    current = Post.objects.select_for_update().only("content", "created_at", "edited_at")
    current = current.get(pk=post.pk)
    previous = current.content
    if content == previous:  # nothing changed: no version, no edited_at
        return post
    PostVersion.objects.create(
        post_id=post.pk, content=previous, edited_at=current.edited_at or current.created_at
    )
    post.content, post.edited_at = content, timezone.now()
    post.save(update_fields=["content", "edited_at", "updated_at"])
    rendering.post_changed(post)
    _tag_post(post, previous_text=previous)
    if post.status == Post.Status.PUBLISHED:  # a pending post notifies when published
        notifications.notify_mentions(editor, text=content, post=post, previous_text=previous)
    return post


@transaction.atomic
def delete_post(post: Post, *, actor: User) -> None:
    """The author deletes their post. A moderator hides it instead (hide_post): a delete
    would take no reason, leave no audit row and could not be undone."""
    if post.author_id != actor.pk:
        if actor.is_moderator:
            raise PermissionDenied(
                moderation.HIDE_INSTEAD.format(what="posts", path="/admin/posts/post/")
            )
        raise PermissionDenied("Only the author can delete a post.")
    # Row lock: a concurrent delete or hide sees this one's outcome, so counts move once.
    current = Post.objects.select_for_update().filter(pk=post.pk, deleted_at__isnull=True).first()
    if current is not None:
        current.deleted_at = timezone.now()
        current.save(update_fields=["deleted_at", "updated_at"])
        # a hidden post already left the count; a pending one never entered it
        counted = current.hidden_at is None and current.status == Post.Status.PUBLISHED
        _left_others_view(current, counted=counted)


@transaction.atomic
def hide_post(post: Post, *, actor: User, reason: str) -> bool:
    """A moderator hides a post: it leaves feeds, timelines and search; its author still sees it.

    Settles the post's open reports. True if this hid it (a second hide changes nothing).
    """
    moderation.require_moderator(actor, reason=reason)
    moderation.require_outranks(actor, author=post.author)
    hidden = Post.objects.filter(
        pk=post.pk, hidden_at__isnull=True, deleted_at__isnull=True
    ).update(hidden_at=timezone.now())
    if hidden:
        post.hidden_at = timezone.now()
        _left_others_view(post, counted=post.status == Post.Status.PUBLISHED)
        reports.settle_reports(post, resolved=True)
        moderation.record_action(
            actor, action=AuditLog.Action.HIDE_POST, target=post, reason=reason
        )
    return bool(hidden)


def _left_others_view(post: Post, *, counted: bool) -> None:
    """`post` was deleted or hidden: its renderings go stale, it leaves the author's
    post_count (if `counted` there), every feed, the served files and its pin (showing it
    again does not pin it again)."""
    rendering.post_changed(post)
    if counted:
        _count_authors_post(post, -1)
    feed.retract_post(post)
    media_files.visibility_changed(post)
    Pin.objects.filter(post_id=post.pk).delete()


@transaction.atomic
def unhide_post(post: Post, *, actor: User, reason: str) -> bool:
    moderation.require_moderator(actor, reason=reason)
    moderation.require_outranks(actor, author=post.author)
    shown = Post.objects.filter(
        pk=post.pk, hidden_at__isnull=False, deleted_at__isnull=True
    ).update(hidden_at=None)
    if shown:
        post.hidden_at = None
        rendering.post_changed(post)
        if post.status == Post.Status.PUBLISHED:
            _count_authors_post(post, +1)
        feed.restore_post(post)
        media_files.visibility_changed(post)
        moderation.record_action(
            actor, action=AuditLog.Action.UNHIDE_POST, target=post, reason=reason
        )
    return bool(shown)


# pg_advisory_xact_lock(_PIN_LOCK, author id): one author's pins are counted one at a time.
_PIN_LOCK = 0x7019


@transaction.atomic
def pin_post(post: Post, *, actor: User) -> tuple[Pin, bool]:
    """Pin the actor's own visible post; (the pin, True if this pinned it).

    Conflict when the post is not published and visible, or the author already has
    Pin.MAX_PINS pins (unpin one first).
    """
    if post.author_id != actor.pk:
        raise PermissionDenied("Only the author can pin a post.")
    # The post's row lock orders this with a concurrent delete or hide (which unpin it);
    # the advisory lock, not the author's row, keeps the count exact without making the
    # author's post creations (which update that row) wait.
    if not Post.objects.visible().select_for_update().filter(pk=post.pk).values("pk"):
        raise Conflict("Only a published post others can see can be pinned.")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_PIN_LOCK, actor.pk])
    existing = Pin.objects.filter(post_id=post.pk).first()
    if existing is not None:
        return existing, False
    if Pin.objects.filter(author_id=actor.pk).count() >= Pin.MAX_PINS:
        raise Conflict(
            f"You can pin at most {Pin.MAX_PINS} posts: unpin one first.", "pin_limit_reached"
        )
    return Pin.objects.create(post_id=post.pk, author_id=actor.pk), True


def unpin_post(post: Post, *, actor: User) -> None:
    """Unpin the actor's own post (idempotent)."""
    if post.author_id != actor.pk:
        raise PermissionDenied("Only the author can unpin a post.")
    Pin.objects.filter(post_id=post.pk).delete()


def _json_rows(**columns: Sequence) -> str:
    """[{column: value, ...}, ...] as JSON, for json_to_recordset."""
    names = list(columns)
    return orjson.dumps(
        [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    ).decode()


@transaction.atomic
def import_posts(*, author: User, contents: Sequence[str]) -> list[int]:
    """Publish many posts of `author` at once (an import); their ids, in `contents` order.

    What `create_post` does for each, set-based: the rows, their hashtags, the author's
    post_count, the fan-out (feed.announce_imported_posts: nothing for a pulled author)
    and mention notifications. Ids are drawn from the sequence first, so each content
    knows its id without relying on the order of RETURNING.
    """
    if not contents:
        return []
    posts, tags = Post._meta.db_table, PostHashtag._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        ids = next_ids(Post, len(contents))
        # Rows as one JSON parameter: quoting one string beats binding thousands of values.
        cursor.execute(
            f"INSERT INTO {posts} (id, author_id, content, media, status, like_count,"  # noqa: S608 (table names from the models)
            " comment_count, created_at, updated_at, edited_at, deleted_at, hidden_at)"
            " SELECT id, %s, content, NULL, %s, 0, 0, %s, %s, NULL, NULL, NULL"
            " FROM json_to_recordset(%s::json) AS t(id bigint, content text)",
            [author.pk, Post.Status.PUBLISHED, now, now, _json_rows(id=ids, content=contents)],
        )
        tagged = [
            (pk, tag) for pk, text in zip(ids, contents, strict=True) for tag in hashtags_in(text)
        ]
        if tagged:
            cursor.execute(
                f"INSERT INTO {tags} (post_id, tag, created_at)"  # noqa: S608 (table names from the models)
                " SELECT post_id, tag, %s"
                " FROM json_to_recordset(%s::json) AS t(post_id bigint, tag text)"
                " ON CONFLICT DO NOTHING",
                [now, _json_rows(post_id=[pk for pk, _ in tagged], tag=[t for _, t in tagged])],
            )
    User.objects.filter(pk=author.pk).update(post_count=F("post_count") + len(ids))
    feed.announce_imported_posts(author.pk, post_ids=ids)
    for pk, text in zip(ids, contents, strict=True):
        if "@" in text:  # cheap test first: most imported texts mention nobody
            notifications.notify_mentions(
                author, text=text, post=Post(pk=pk, author_id=author.pk, content=text)
            )
    return ids
