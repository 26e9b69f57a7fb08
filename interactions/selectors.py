"""Reads for likes, comments and notifications."""

from django.db import connection
from django.db.models import BigIntegerField, Case, Count, F, Max, Q, QuerySet, Value, When, Window
from django.db.models.functions import RowNumber
from rest_framework.exceptions import NotFound

from interactions import sql
from interactions.models import Bookmark, Comment, Like, Notification, live_comment_q
from posts.models import visible_q
from users.models import User
from users.selectors import without_hidden

# --- comments -----------------------------------------------------------------


def post_comments(viewer: User, *, post_id: int) -> QuerySet[Comment]:
    """The live comments of a post with their authors, for CommentSerializer, minus those
    of authors blocked either way or muted by the viewer."""
    comments = Comment.objects.filter(live_comment_q(), post_id=post_id)
    return without_hidden(comments, viewer, "author_id", mutes=True).select_related("author")


class CommentNotFound(NotFound):
    """The one 404 of a comment: absent, deleted, hidden, or on a post the caller may not
    read -- the same answer for each."""

    default_detail = "Comment not found."


def get_comment_or_404(viewer: User, *, comment_id: int) -> Comment:
    """A live comment on a post `viewer` may read, with its post, or CommentNotFound."""
    comment = get_comment(viewer, comment_id=comment_id)
    if comment is None:
        raise CommentNotFound
    return comment


def get_comment(viewer: User, *, comment_id: int) -> Comment | None:
    """A live comment on a post the viewer may read, with its post."""
    comment = (
        Comment.objects.select_related("post")
        .filter(live_comment_q(), pk=comment_id, post__deleted_at__isnull=True)
        .first()
    )
    if comment is None or not (comment.post.is_visible or comment.post.author_id == viewer.pk):
        return None
    return comment


# --- likes of a user -------------------------------------------------------------


def likes_of(user_id: int) -> QuerySet[Like]:
    """The user's likes of posts anyone may see (their post ids, for rendering)."""
    return Like.objects.filter(visible_q("post__"), user_id=user_id).only("post_id", "created_at")


def bookmarks_of(user_id: int) -> QuerySet[Bookmark]:
    """The user's bookmarks of posts anyone may see (their post ids, for rendering)."""
    return Bookmark.objects.filter(visible_q("post__"), user_id=user_id).only(
        "post_id", "created_at"
    )


def viewer_marks(
    viewer_id: int,
    *,
    liked_among: list[int],
    saved_among: list[int] | None,
    saved_limit: int = 0,
) -> list[tuple[str, int]]:
    """(kind, post id): 'l' the viewer likes the post (among `liked_among`), 'b' bookmarked
    it, 'r' reposted it (among `saved_among`; None: the newest `saved_limit` of each), in
    one query. Likes still in the like buffer are not here (posts.rendering has them)."""
    statement = sql.viewer_marks(
        likes=bool(liked_among),
        saved="newest" if saved_among is None else ("among" if saved_among else None),
    )
    if not statement:
        return []
    params = {
        "viewer": viewer_id,
        "liked": liked_among,
        "saved": saved_among or [],
        "limit": saved_limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


# --- notifications ------------------------------------------------------------


def notifications_for(recipient: User) -> QuerySet[Notification]:
    """The recipient's notifications, minus those about posts or comments now gone."""
    return _shown_notifications(recipient).select_related("actor")


def _shown_notifications(recipient: User) -> QuerySet[Notification]:
    # Not from someone blocked either way or muted (made before, or by a like in flight).
    notifications = Notification.objects.filter(recipient=recipient)
    return (
        without_hidden(notifications, recipient, "actor_id", mutes=True)
        .filter(Q(post__isnull=True) | visible_q("post__"))
        .filter(Q(comment__isnull=True) | live_comment_q("comment__"))
    )


# Grouped per post and type (a follow has no post: one group). Comments and mentions each
# carry their own text, so each is a group of its own.
GROUPED_TYPES = (Notification.Type.LIKE, Notification.Type.REPOST, Notification.Type.FOLLOW)
ACTORS_PER_GROUP = 3


def _group_of() -> Case:
    """Within (type, post): 0 for the grouped types, else the notification's own id."""
    return Case(
        When(type__in=GROUPED_TYPES, then=Value(0)),
        default=F("id"),
        output_field=BigIntegerField(),
    )


def notification_groups(recipient: User) -> QuerySet[dict]:
    """The recipient's shown notifications, grouped: per group its type, post_id, comment_id
    (of a lone comment or mention), count, latest_id, latest_at and unread count. Keyset
    order: -latest_id (a group with news moves up)."""
    return (
        _shown_notifications(recipient)
        .annotate(group=_group_of())
        .values("type", "post_id", "group")
        .annotate(
            latest_id=Max("id"),
            latest_at=Max("created_at"),
            count=Count("id"),
            unread=Count("id", filter=Q(read_at__isnull=True)),
            comment_id=Max("comment_id"),
        )
    )


def with_newest_actors(recipient: User, *, groups: list[dict]) -> list[dict]:
    """`groups` (a page of notification_groups) with `actors`: the ACTORS_PER_GROUP newest
    actors of each, newest first, in one query whatever the page size."""
    if not groups:
        return groups
    wanted = Q()
    for group in groups:
        wanted |= (
            Q(pk=group["group"])
            if group["group"]
            else Q(type=group["type"], post_id=group["post_id"])
        )
    newest = (
        without_hidden(
            Notification.objects.filter(wanted, recipient=recipient),
            recipient,
            "actor_id",
            mutes=True,
        )
        .annotate(
            group=_group_of(),
            rank=Window(
                RowNumber(),
                partition_by=[F("type"), F("post_id"), _group_of()],
                # by when they acted: a like drain writes a batch's rows in no such order
                order_by=[F("created_at").desc(), F("id").desc()],
            ),
        )
        .filter(rank__lte=ACTORS_PER_GROUP)
        .select_related("actor")
        .order_by("-created_at", "-id")
    )
    actors: dict[tuple, list[User]] = {}
    for notification in newest:
        key = (notification.type, notification.post_id, notification.group)
        actors.setdefault(key, []).append(notification.actor)
    for group in groups:
        group["actors"] = actors.get((group["type"], group["post_id"], group["group"]), [])
    return groups
