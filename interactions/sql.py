"""The set-based SQL of interactions, in one place (table names from the models)."""

from feed import sql as feed_sql
from interactions.models import Bookmark, Comment, Like, Notification, Repost
from posts.models import VISIBLE_SQL, Post
from users import sql as users_sql
from users.models import User

POST = Post._meta.db_table
COMMENT = Comment._meta.db_table
NOTIFICATION = Notification._meta.db_table
USER = User._meta.db_table
LIKE = Like._meta.db_table
BOOKMARK = Bookmark._meta.db_table
REPOST = Repost._meta.db_table

# A comment in one statement, so one round trip and a transaction of its own: the post's
# comment_count (only while the post is visible: no row, no comment), the comment, its
# notification to the post's author (not to oneself), and the commenter's summary for
# the answer; no comment on the post of someone with a block with the commenter, and no
# notification to an author who muted them. The UPDATE locks the post row, so a
# concurrent delete or hide either sees this comment counted or leaves it uncommented.
CREATE_COMMENT = f"""
WITH p AS (
    UPDATE {POST} AS p SET comment_count = p.comment_count + 1
    WHERE p.id = %(post)s AND {VISIBLE_SQL}
      AND {users_sql.unblocked("p.author_id", "%(author)s")}
    RETURNING p.id, p.author_id
), comment AS (
    INSERT INTO {COMMENT} (post_id, author_id, content, created_at, deleted_at, hidden_at)
    SELECT p.id, %(author)s, %(content)s, %(now)s, NULL, NULL FROM p
    RETURNING id
), notified AS (
    INSERT INTO {NOTIFICATION} (recipient_id, actor_id, type, post_id, comment_id,
                                created_at, read_at)
    SELECT p.author_id, %(author)s, '{Notification.Type.COMMENT}', p.id, comment.id, %(now)s,
           NULL
    FROM p, comment
    WHERE p.author_id <> %(author)s AND {users_sql.may_notify("p.author_id", "%(author)s")}
)
SELECT comment.id, p.author_id, u.username, u.display_name, u.avatar_url
FROM comment, p, {USER} u WHERE u.id = %(author)s
"""  # noqa: S608

# A bookmark of a post the caller may see (checked before): a row or nothing, once.
ADD_BOOKMARK = f"""
INSERT INTO {BOOKMARK} (user_id, post_id, created_at) VALUES (%(user)s, %(post)s, %(now)s)
ON CONFLICT DO NOTHING RETURNING 1
"""  # noqa: S608
REMOVE_BOOKMARK = f"DELETE FROM {BOOKMARK} WHERE user_id = %(user)s AND post_id = %(post)s"  # noqa: S608

# A repost, the post's repost_count and the feeds' outbox event (feed.sql) in one
# statement. The post's row lock (FOR UPDATE, then the UPDATE) orders it with other
# reposts of the post, so the count moves exactly once per row written, and with a
# concurrent delete or hide (which lock the row too): a post that is no longer visible,
# or the caller's own, gets none. -> (row written, repost_count, event id or NULL), or
# no row when the post cannot be reposted.
ADD_REPOST = f"""
WITH p AS (
    SELECT p.id, p.repost_count FROM {POST} p
    WHERE p.id = %(post)s AND {VISIBLE_SQL} AND p.author_id <> %(user)s
    FOR UPDATE
), written AS (
    INSERT INTO {REPOST} (user_id, post_id, created_at)
    SELECT %(user)s, p.id, %(now)s FROM p
    ON CONFLICT DO NOTHING RETURNING post_id
), counted AS (
    UPDATE {POST} SET repost_count = repost_count + 1
    WHERE id = (SELECT post_id FROM written) RETURNING repost_count
), {feed_sql.ACTOR_EVENTS.format(source="written")}
SELECT EXISTS (SELECT 1 FROM written), COALESCE((SELECT repost_count FROM counted), p.repost_count),
       (SELECT id FROM event), (SELECT {feed_sql.NOTIFY_EVENT} FROM event)
FROM p
"""  # noqa: S608
REMOVE_REPOST = f"""
WITH gone AS (
    DELETE FROM {REPOST} WHERE user_id = %(user)s AND post_id = %(post)s RETURNING post_id
), counted AS (
    UPDATE {POST} SET repost_count = repost_count - 1
    WHERE id = (SELECT post_id FROM gone) AND repost_count > 0
), {feed_sql.ACTOR_EVENTS.format(source="gone")}
SELECT id, {feed_sql.NOTIFY_EVENT} FROM event
"""  # noqa: S608


_MARKS = {
    "l": f"SELECT 'l', post_id FROM {LIKE} WHERE user_id = %(viewer)s AND post_id = ANY(%(liked)s)",  # noqa: S608
    **{
        kind: f"SELECT '{kind}', post_id FROM {table} WHERE user_id = %(viewer)s"  # noqa: S608
        for kind, table in (("b", BOOKMARK), ("r", REPOST))
    },
}
_AMONG = " AND post_id = ANY(%(saved)s)"
_NEWEST = " ORDER BY created_at DESC, post_id DESC LIMIT %(limit)s"


def viewer_marks(*, likes: bool, saved: str | None) -> str:
    """(kind, post id) rows of the viewer's marks: 'l' likes among %(liked)s; 'b'
    bookmarks and 'r' reposts among %(saved)s (`saved` "among") or the newest
    %(limit)s of each (`saved` "newest"), each through its table's primary key or
    (user, created_at) index."""
    parts = [f"({_MARKS['l']})"] if likes else []
    if saved is not None:
        tail = _AMONG if saved == "among" else _NEWEST
        parts += [f"({_MARKS[kind]}{tail})" for kind in ("b", "r")]
    return " UNION ALL ".join(parts)
