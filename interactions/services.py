"""Writes for likes, comments, reports and notifications."""

import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework.exceptions import NotFound, PermissionDenied

from feed import services as feed
from feed.models import OutboxEvent
from interactions import like_buffer, sql, viewer_sets
from interactions import metrics as like_metrics
from interactions.models import Comment, Like, Notification, Report
from posts.models import VISIBLE_SQL, Post
from posts.rendering import invalidate_posts, post_changed
from posts.selectors import PostNotFound
from puppies import ratelimit, tracing
from puppies.db import next_ids
from puppies.errors import ServiceUnavailable
from users import moderation, revocations
from users import sql as users_sql
from users.models import AuditLog, Mute, User
from users.selectors import hidden_q

logger = logging.getLogger(__name__)


def notify(
    recipient: User | int,
    actor: User,
    type: str,
    *,
    post: Post | None = None,
    comment=None,
) -> None:
    """Tell `recipient` what `actor` did; never about their own actions, likes and follows once."""
    recipient_id = recipient if isinstance(recipient, int) else recipient.pk
    if recipient_id == actor.pk:
        return
    # A like or follow notifies once (a unique index): its repeat is dropped by the insert
    # itself, which needs no savepoint round trips around it. A recipient who blocked or
    # muted the actor (or was blocked by them) is not told, in the same statement.
    with connection.cursor() as cursor:
        cursor.execute(
            _NOTIFY_SQL,
            {
                "recipient": recipient_id,
                "actor": actor.pk,
                "type": type,
                "post": post.pk if post is not None else None,
                "comment": comment.pk if comment is not None else None,
                "now": timezone.now(),
            },
        )


_NOTIFY_SQL = f"""
INSERT INTO {Notification._meta.db_table}
    (recipient_id, actor_id, type, post_id, comment_id, created_at, read_at)
SELECT %(recipient)s, %(actor)s, %(type)s, %(post)s, %(comment)s, %(now)s, NULL
WHERE {users_sql.may_notify("%(recipient)s", "%(actor)s")}
ON CONFLICT DO NOTHING
"""


# --- mentions -----------------------------------------------------------------

# `@name` not preceded by a word character or another `@`, so e-mail addresses do not mention.
_MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_])")
# A text mentioning more people than this notifies only the first ones: no mass pinging.
MAX_MENTIONS_PER_TEXT = 10


def mentioned_usernames(text: str) -> list[str]:
    """The distinct usernames (lower-cased) `@mentioned` in `text`, first ones first, capped."""
    names = dict.fromkeys(name.lower() for name in _MENTION_RE.findall(text))
    return list(names)[:MAX_MENTIONS_PER_TEXT]


def notify_mentions(
    actor: User,
    text: str,
    *,
    post: Post,
    comment: Comment | None = None,
    skip: Collection[int] = (),
    previous_text: str = "",
) -> None:
    """Notify existing users `@mentioned` in `text` (not `actor` or `skip`), in one insert.

    After an edit, pass the old text as `previous_text`: only newly mentioned users hear of it.
    """
    already = set(mentioned_usernames(previous_text))
    names = [name for name in mentioned_usernames(text) if name not in already]
    if not names:
        return
    recipients = (
        User.objects.filter(is_active=True)
        .annotate(username_lower=Lower("username"))
        .filter(username_lower__in=names)
        .exclude(pk__in=[actor.pk, *skip])
        .exclude(hidden_q(actor, "pk"))  # blocked either way
        .exclude(pk__in=Mute.objects.filter(muted_id=actor.pk).values("muter_id"))
        .values_list("pk", flat=True)
    )
    # Once per post body or comment (a unique index): a name mentioned again after an edit
    # removed it is dropped by the insert itself.
    Notification.objects.bulk_create(
        (
            Notification(
                recipient_id=recipient_id,
                actor_id=actor.pk,
                type=Notification.Type.MENTION,
                post=post,
                comment=comment,
            )
            for recipient_id in recipients
        ),
        ignore_conflicts=True,
    )


# --- comments -----------------------------------------------------------------


def create_comment(*, post_id: int, author: User, content: str) -> Comment:
    """A comment on a post others may see (NotFound if not); its author is notified."""
    # One statement, atomic on its own (the common case, and a hot path); mentions are
    # notified in the same transaction.
    mentions = bool(mentioned_usernames(content))
    with transaction.atomic() if mentions else contextlib.nullcontext():
        comment = _insert_comment(post_id, author, content)
        if mentions:
            notify_mentions(
                author, content, post=comment.post, comment=comment, skip=[comment.post.author_id]
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


_VISIBLE = VISIBLE_SQL


@transaction.atomic
def import_comments(*, author: User, items: Sequence[tuple[int, str]]) -> list[int | None]:
    """Many comments of `author` at once (an import), `items` being (post id, content).

    What `create_comment` does for each, set-based: posts not visible (deleted, hidden,
    missing) get none (None in their place in the result); comment_count moves in the
    same transaction, with the post rows locked; the post's author and the mentioned
    are notified; the posts' cached renderings go once this commits.
    """
    if not items:
        return []
    per_post = sorted(Counter(post_id for post_id, _ in items).items())
    # One statement counts the comments, locks the posts and says which are visible (the
    # others get none and count nothing). Its only row filter is the primary key, so no
    # stale statistics can make the planner walk a partial index of all live posts.
    posts = Post._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {posts} AS p SET comment_count = p.comment_count"  # noqa: S608 (table names from the models)
            f" + CASE WHEN {_VISIBLE} THEN t.n ELSE 0 END"
            " FROM unnest(%s::bigint[], %s::int[]) AS t(id, n)"
            f" WHERE p.id = t.id RETURNING p.id, p.author_id, {_VISIBLE}",
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
                content,
                post=Post(pk=post_id, author_id=authors[post_id]),
                comment=Comment(pk=pk, post_id=post_id, author_id=author.pk, content=content),
                skip=[authors[post_id]],
            )
    placed_ids = iter(comment_ids)
    return [next(placed_ids) if post_id in authors else None for post_id, _ in items]


def _insert_comments(author: User, placed: list[tuple[int, str]]) -> list[int]:
    """Insert (post id, content) comments of `author`; their ids, in order. Ids come from
    the sequence first; the rows go as one JSON parameter (cheaper than the ORM's
    thousands of bound values)."""
    if not placed:
        return []
    table = Comment._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        ids = next_ids(Comment, len(placed))
        rows = [
            {"id": pk, "post_id": post_id, "content": content}
            for pk, (post_id, content) in zip(ids, placed, strict=True)
        ]
        cursor.execute(
            f"INSERT INTO {table} (id, post_id, author_id, content, created_at, deleted_at,"  # noqa: S608 (table names from the models)
            " hidden_at) SELECT id, post_id, %s, content, %s, NULL, NULL"
            " FROM json_to_recordset(%s::json) AS t(id bigint, post_id bigint, content text)",
            [author.pk, now, orjson.dumps(rows).decode()],
        )
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
    notify_mentions(author, content, post=post, comment=comment, previous_text=previous)
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
    deleted = Comment.objects.filter(
        pk=comment.pk, deleted_at__isnull=True, hidden_at__isnull=True
    ).update(deleted_at=timezone.now())
    if not deleted:
        raise NotFound("Comment not found.")
    Post.objects.filter(pk=comment.post_id, comment_count__gt=0).update(
        comment_count=F("comment_count") - 1
    )
    post_changed(comment.post)


# --- reports ------------------------------------------------------------------


def report_post(
    *, post: Post, reporter: User, reason: str, details: str = ""
) -> tuple[Report, bool]:
    """File a report for moderators; (report, created). A repeat open report returns the first."""
    open_reports = Report.objects.filter(post=post, reporter=reporter, status=Report.Status.OPEN)
    existing = open_reports.first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            report = Report.objects.create(
                post=post, reporter=reporter, reason=reason, details=details
            )
    except IntegrityError:  # a concurrent identical report won the unique constraint
        return open_reports.get(), False
    return report, True


# --- notifications ------------------------------------------------------------


def mark_notifications_read(recipient: User, *, up_to_id: int | None = None) -> int:
    """Mark the recipient's unread notifications (all, or those up to `up_to_id`) read."""
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if up_to_id is not None:
        unread = unread.filter(id__lte=up_to_id)
    return unread.update(read_at=timezone.now())


# --- moderation -----------------------------------------------------------------


def settle_reports(post: Post, *, resolved: bool) -> int:
    """Close the post's open reports: resolved (action taken) or dismissed (none needed)."""
    status = Report.Status.RESOLVED if resolved else Report.Status.DISMISSED
    return Report.objects.filter(post=post, status=Report.Status.OPEN).update(status=status)


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


@transaction.atomic
def dismiss_reports(post: Post, *, actor: User, reason: str) -> int:
    """A moderator found nothing wrong with a reported post: close its open reports."""
    moderation.require_moderator(actor, reason=reason)
    dismissed = settle_reports(post, resolved=False)
    if dismissed:
        moderation.record_action(
            actor, action=AuditLog.Action.DISMISS_REPORT, target=post, reason=reason
        )
    return dismissed


# --- bookmarks and reposts -----------------------------------------------------
# The viewer's own marks show in every post they read (bookmarked_by_me, reposted_by_me)
# through their saved set (interactions.viewer_sets), kept here after each commit.


def bookmark_post(*, user: User, post: Post) -> bool:
    """`user` bookmarks a post they may see (idempotent); True if this bookmarked it."""
    with connection.cursor() as cursor:
        cursor.execute(sql.ADD_BOOKMARK, {"user": user.pk, "post": post.pk, "now": timezone.now()})
        created = cursor.fetchone() is not None
    if created:
        _saved_changed(user, viewer_sets.BOOKMARK, post.pk, present=True)
    return created


def unbookmark_post(*, user: User, post_id: int) -> None:
    """`user` removes their bookmark of the post (idempotent)."""
    with connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_BOOKMARK, {"user": user.pk, "post": post_id})
        removed = cursor.rowcount
    if removed:
        _saved_changed(user, viewer_sets.BOOKMARK, post_id, present=False)


@dataclass(frozen=True)
class RepostState:
    post_id: int
    reposted_by_me: bool
    repost_count: int
    created: bool  # this call reposted the post (201), as opposed to it being reposted already


def repost_post(*, user: User, post: Post) -> RepostState:
    """`user` reposts someone else's published post (idempotent): PermissionDenied for
    their own, NotFound if it is not visible (any more)."""
    if post.author_id == user.pk:
        raise PermissionDenied("You cannot repost your own post.")
    params = {
        "user": user.pk,
        "post": post.pk,
        "now": timezone.now(),
        "kind": OutboxEvent.Kind.REPOST_PUBLISHED,
        "trace": tracing.traceparent(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.ADD_REPOST, params)
        row = cursor.fetchone()
    if row is None:  # deleted or hidden meanwhile
        raise NotFound("Post not found.")
    created, count, event_id, _ = row
    if created:
        feed.events_written([event_id])
        _saved_changed(user, viewer_sets.REPOST, post.pk, present=True)
        post_changed(post)  # its repost_count
    return RepostState(post_id=post.pk, reposted_by_me=True, repost_count=count, created=created)


def unrepost_post(*, user: User, post_id: int) -> None:
    """`user` takes back their repost of the post (idempotent); it leaves the feeds it
    was pushed to (an outbox event, as the repost's)."""
    params = {
        "user": user.pk,
        "post": post_id,
        "kind": OutboxEvent.Kind.REPOST_RETRACTED,
        "trace": tracing.traceparent(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql.REMOVE_REPOST, params)
        events = [row[0] for row in cursor.fetchall()]
    if events:
        feed.events_written(events)
        _saved_changed(user, viewer_sets.REPOST, post_id, present=False)
        post_changed(Post(pk=post_id))  # its repost_count


def _saved_changed(user: User, kind: str, post_id: int, *, present: bool) -> None:
    transaction.on_commit(lambda: viewer_sets.changed(user.pk, kind, post_id, present=present))


# --- likes --------------------------------------------------------------------
# POST/DELETE /likes record an intent in Redis (interactions/like_buffer.py); the beat task
# `drain_like_buffer` writes intents to PostgreSQL in batches. With Redis unreachable (or the
# buffer off) likes are written straight to PostgreSQL, with the same answers.


@dataclass(frozen=True)
class LikeState:
    post_id: int
    liked_by_me: bool
    like_count: int  # with likes not yet flushed
    created: bool  # this call liked the post (201), as opposed to it being liked already


def like_post(user: User, post_id: int) -> LikeState:
    """`user` likes the post (idempotent); NotFound if they may not see it. Counts against
    the user's RATELIMIT_LIKE (RateLimited past it), in the like's own Redis call."""
    return _set_like(user, post_id, liked=True)


def unlike_post(user: User, post_id: int) -> LikeState:
    """`user` no longer likes the post (idempotent); NotFound if they may not see it.
    Counts against the same limit as a like."""
    return _set_like(user, post_id, liked=False)


# Raw SQL: on this hot path the ORM would cost several times the query itself.
_LIKEABLE_SQL = (
    """
SELECT p.id, p.author_id, p.status, p.like_count, p.hidden_at, {like_row}
FROM posts_post p WHERE p.id = %s AND p.deleted_at IS NULL AND """
    # no block between the post's author and the user: the post is not found for them
    + users_sql.unblocked("p.author_id", "%s")
)
_LIKEABLE_SQLS = {
    True: _LIKEABLE_SQL.format(
        like_row="EXISTS (SELECT 1 FROM interactions_like l "
        "WHERE l.post_id = p.id AND l.user_id = %s)"
    ),
    False: _LIKEABLE_SQL.format(like_row="NULL"),
}


def _likeable_post(user: User, post_id: int, *, with_like_row: bool = False) -> Post:
    """The post if `user` may see it (as posts.selectors.get_post), in one query; with
    `with_like_row`, `.has_like_row` says whether PostgreSQL holds the user's like of it."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LIKEABLE_SQLS[with_like_row],
            [user.pk, post_id, user.pk, user.pk] if with_like_row else [post_id, user.pk, user.pk],
        )
        row = cursor.fetchone()
    post = None
    if row is not None:
        post = Post(id=row[0], author_id=row[1], status=row[2], like_count=row[3], hidden_at=row[4])
        post.has_like_row = row[5]
    if post is None or not (post.is_visible or post.author_id == user.pk):
        raise PostNotFound
    return post


def _set_like(user: User, post_id: int, *, liked: bool) -> LikeState:
    limit = ratelimit.ScriptLimit("like", user.pk)
    if settings.LIKE_BUFFER_ENABLED:
        try:
            return _set_like_buffered(user, post_id, liked=liked, limit=limit)
        except like_buffer.Unavailable:
            logger.warning("like buffer unreachable: writing the like to PostgreSQL")
            like_metrics.LIKES_WRITTEN_DIRECTLY.inc()
    revocations.ensure_checked(user)
    limit.enforce()  # unless the buffer's script counted it already
    return _set_like_directly(user, _likeable_post(user, post_id), liked=liked)


def _set_like_buffered(
    user: User, post_id: int, *, liked: bool, limit: ratelimit.ScriptLimit
) -> LikeState:
    # One Redis round trip when the post's rendering and the user's liked set are cached;
    # else two and one query (the post, plus its like row only when the buffer holds
    # nothing for this user). The Like table is written by the drain alone. The like
    # limit is counted in the first round trip, whichever way it goes on.
    cached = like_buffer.record_intent_cached(post_id, user, liked=liked, limit=limit)
    if cached is not None:
        changed, delta, stored = cached
        return LikeState(post_id, liked, max(stored + delta, 0), created=changed and liked)
    revocations.ensure_checked(user)  # before anything is recorded the slower way
    for _ in range(5):
        seen_epoch, buffer_decides = like_buffer.peek(post_id, user.pk)
        post = _likeable_post(user, post_id, with_like_row=not buffer_decides)
        recorded = like_buffer.record_intent(
            post_id,
            user.pk,
            liked=liked,
            in_database=None if buffer_decides else post.has_like_row,
            seen_epoch=seen_epoch,
        )
        if recorded is not None:
            changed, delta = recorded
            like_count = max(post.like_count + delta, 0)
            return LikeState(post.pk, liked, like_count, created=changed and liked)
    raise ServiceUnavailable("Likes of this post are changing too fast; try again.")


_LIKE_ROW_SQL = {
    True: "INSERT INTO interactions_like (user_id, post_id, created_at) VALUES (%s, %s, now()) "
    "ON CONFLICT DO NOTHING RETURNING 1",
    False: "DELETE FROM interactions_like WHERE user_id = %s AND post_id = %s RETURNING 1",
}
_COUNT_SQL = (
    "UPDATE posts_post SET like_count = GREATEST(like_count + %s, 0) WHERE id = %s "
    "RETURNING like_count"
)


@transaction.atomic
def _set_like_directly(user: User, post: Post, *, liked: bool) -> LikeState:
    with connection.cursor() as cursor:
        cursor.execute(_LIKE_ROW_SQL[liked], [user.pk, post.pk])
        changed = cursor.fetchone() is not None
        like_count = post.like_count
        if changed:
            cursor.execute(_COUNT_SQL, [1 if liked else -1, post.pk])
            (like_count,) = cursor.fetchone()
    if changed:
        post_changed(post)
        intent = like_buffer.Intent(post.pk, user.pk, liked, 0)
        transaction.on_commit(lambda: _keep_liked_set(intent))
    if changed and liked:
        notify(post.author_id, user, Notification.Type.LIKE, post=post)
    return LikeState(post.pk, liked, like_count, created=changed and liked)


def _keep_liked_set(intent: like_buffer.Intent) -> None:
    # Redis down: the set (if any) goes stale until it expires (LIKED_SET_TTL_S).
    with contextlib.suppress(like_buffer.Unavailable):
        like_buffer.keep_liked_sets([intent])


# One statement per chunk of intents: likes inserted and unlikes deleted idempotently, a
# notification for each like that really landed (once per liker and post, by constraint),
# and each post's like_count moved by exactly the rows that changed. Applied twice (a drain
# killed after commit, then rerun), it changes nothing the second time. Notifying here, not
# at like time, keeps the like path free of PostgreSQL writes, notifies only likes that stick
# (like then unlike within a flush notifies nobody) and commits with the like it announces.
_APPLY_SQL = f"""
WITH liked AS (
    INSERT INTO interactions_like (user_id, post_id, created_at)
    SELECT w.user_id, w.post_id, to_timestamp(w.at_ms / 1000.0)
    FROM unnest(%(like_users)s::bigint[], %(like_posts)s::bigint[], %(like_ms)s::bigint[])
        AS w(user_id, post_id, at_ms)
    WHERE EXISTS (SELECT 1 FROM users_user u WHERE u.id = w.user_id)
        AND EXISTS (SELECT 1 FROM posts_post p WHERE p.id = w.post_id)
    ON CONFLICT DO NOTHING
    RETURNING user_id, post_id, created_at
), unliked AS (
    DELETE FROM interactions_like l
    USING unnest(%(unlike_users)s::bigint[], %(unlike_posts)s::bigint[]) AS w(user_id, post_id)
    WHERE l.user_id = w.user_id AND l.post_id = w.post_id
    RETURNING l.post_id
), notified AS (
    INSERT INTO interactions_notification (recipient_id, actor_id, type, post_id, created_at)
    SELECT p.author_id, liked.user_id, 'like', liked.post_id, liked.created_at
    FROM liked JOIN posts_post p ON p.id = liked.post_id
    WHERE p.author_id <> liked.user_id AND {users_sql.may_notify("p.author_id", "liked.user_id")}
    ON CONFLICT DO NOTHING
    RETURNING 1
), changes AS (
    SELECT post_id, sum(change) AS change
    FROM (SELECT post_id, 1 AS change FROM liked
          UNION ALL SELECT post_id, -1 FROM unliked) AS c
    GROUP BY post_id
), counted AS (
    UPDATE posts_post p SET like_count = GREATEST(p.like_count + changes.change, 0)
    FROM changes WHERE p.id = changes.post_id AND changes.change <> 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM liked), (SELECT count(*) FROM unliked)
"""  # noqa: S608


def _apply_intents(intents: list[like_buffer.Intent]) -> tuple[int, int]:
    """Write intents to PostgreSQL in one transaction -> (likes inserted, likes deleted)."""
    likes = [i for i in intents if i.liked]
    unlikes = [i for i in intents if not i.liked]
    params = {
        "like_users": [i.user_id for i in likes],
        "like_posts": [i.post_id for i in likes],
        "like_ms": [i.at_ms for i in likes],
        "unlike_users": [i.user_id for i in unlikes],
        "unlike_posts": [i.post_id for i in unlikes],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_APPLY_SQL, params)
        inserted, deleted = cursor.fetchone()
    like_metrics.LIKES_FLUSHED.labels("inserted").inc(inserted)
    like_metrics.LIKES_FLUSHED.labels("deleted").inc(deleted)
    return inserted, deleted


def _no_hook(step: str) -> None:
    pass


def drain_like_buffer(*, between_steps: Callable[[str], None] = _no_hook) -> int:
    """Write buffered likes to PostgreSQL in batches -> intents written. Kill it anywhere and
    run it again: nothing is lost or counted twice (see like_buffer). `between_steps(name)` is
    called after each step ("claimed", "moved", "applied", "forgotten", "released")."""
    try:
        token = like_buffer.acquire_lock()
    except like_buffer.Unavailable:
        return 0  # nothing to reach; likes go straight to PostgreSQL meanwhile
    if token is None:
        return 0  # another drain is at it
    written = 0
    deadline = time.monotonic() + settings.LIKE_FLUSH_MAX_SECONDS
    try:
        caught_up = False
        while not caught_up and time.monotonic() < deadline and like_buffer.keep_lock(token):
            started = time.perf_counter()
            batch = settings.LIKE_FLUSH_POSTS_PER_BATCH
            post_ids, resumed = like_buffer.claim(batch)
            if not post_ids:
                break
            # A fresh, partial claim means we caught up: later likes wait for the next beat,
            # so a hot post is written in a few large batches rather than many tiny ones.
            caught_up = not resumed and len(post_ids) < batch
            between_steps("claimed")
            intents = like_buffer.move(post_ids)
            between_steps("moved")
            chunk = settings.LIKE_FLUSH_BATCH_SIZE
            for start in range(0, len(intents), chunk):
                _apply_intents(intents[start : start + chunk])
                between_steps("applied")
            like_buffer.keep_liked_sets(intents)
            waiting = like_buffer.forget(post_ids)
            between_steps("forgotten")
            like_buffer.release(post_ids, waiting)
            between_steps("released")
            like_metrics.FLUSH_BATCH_SIZE.observe(len(intents))
            like_metrics.FLUSH_DURATION.observe(time.perf_counter() - started)
            written += len(intents)
        if time.monotonic() < deadline and like_buffer.keep_lock(token):
            like_buffer.build_liked_sets(_liked_posts)
    except Exception:
        # An error (not a kill): let the next beat retry at once instead of after the TTL.
        like_buffer.release_lock(token)
        raise
    like_buffer.release_lock(token)
    return written


def _liked_posts(user_id: int, limit: int) -> list[int]:
    return list(Like.objects.filter(user_id=user_id).values_list("post_id", flat=True)[:limit])
