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

# A notification, unless the recipient blocked or muted the actor (or was blocked by them);
# a like's or follow's repeat is dropped by the insert itself (a unique index), which needs
# no savepoint round trips around it.
NOTIFY = f"""
INSERT INTO {NOTIFICATION}
    (recipient_id, actor_id, type, post_id, comment_id, created_at, read_at)
SELECT %(recipient)s, %(actor)s, %(type)s, %(post)s, %(comment)s, %(now)s, NULL
WHERE {users_sql.may_notify("%(recipient)s", "%(actor)s")}
ON CONFLICT DO NOTHING
"""

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

# An import's comments counted, (post id, n) pairs as two arrays, in one statement that
# locks the posts and says which are visible (the others get none and count nothing): ->
# (post id, author id, visible). Its only row filter is the primary key, so no stale
# statistics can make the planner walk a partial index of all live posts.
COUNT_IMPORTED_COMMENTS = (
    f"UPDATE {POST} AS p SET comment_count = p.comment_count"  # noqa: S608
    f" + CASE WHEN {VISIBLE_SQL} THEN t.n ELSE 0 END"
    " FROM unnest(%s::bigint[], %s::int[]) AS t(id, n)"
    f" WHERE p.id = t.id RETURNING p.id, p.author_id, {VISIBLE_SQL}"
)
# An import's comments of one author (%s), at one time (%s), as one JSON parameter of
# (id, post_id, content) rows (cheaper than the ORM's thousands of bound values).
INSERT_IMPORTED_COMMENTS = (
    f"INSERT INTO {COMMENT} (id, post_id, author_id, content, created_at, deleted_at,"  # noqa: S608
    " hidden_at) SELECT id, post_id, %s, content, %s, NULL, NULL"
    " FROM json_to_recordset(%s::json) AS t(id bigint, post_id bigint, content text)"
)

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


# --- likes: raw SQL, as on this hot path the ORM would cost several times the query ---

# The post if it is not deleted and no block stands between its author and the user
# (params: post, user, user); with the like row (True), first whether PostgreSQL holds
# the user's like of it (params: user, then as above).
_LIKEABLE_POST = (
    """
SELECT p.id, p.author_id, p.status, p.like_count, p.hidden_at, {like_row}
FROM """
    + POST
    + """ p WHERE p.id = %s AND p.deleted_at IS NULL AND """
    + users_sql.unblocked("p.author_id", "%s")
)
LIKEABLE_POST = {
    True: _LIKEABLE_POST.format(
        like_row=f"EXISTS (SELECT 1 FROM {LIKE} l WHERE l.post_id = p.id AND l.user_id = %s)"  # noqa: S608
    ),
    False: _LIKEABLE_POST.format(like_row="NULL"),
}

# A like (True) or unlike (False) written straight (params: user, post): a row if it changed.
LIKE_ROW = {
    True: f"INSERT INTO {LIKE} (user_id, post_id, created_at) VALUES (%s, %s, now()) "  # noqa: S608
    "ON CONFLICT DO NOTHING RETURNING 1",
    False: f"DELETE FROM {LIKE} WHERE user_id = %s AND post_id = %s RETURNING 1",  # noqa: S608
}
# The post's like_count moved (params: change, post) -> the new count.
MOVE_LIKE_COUNT = (
    f"UPDATE {POST} SET like_count = GREATEST(like_count + %s, 0) WHERE id = %s "  # noqa: S608
    "RETURNING like_count"
)

# One statement per chunk of buffered intents: likes inserted and unlikes deleted
# idempotently, a notification for each like that really landed (once per liker and post,
# by constraint), and each post's like_count moved by exactly the rows that changed.
# Applied twice (a drain killed after commit, then rerun), it changes nothing the second
# time. Notifying here, not at like time, keeps the like path free of PostgreSQL writes,
# notifies only likes that stick (like then unlike within a flush notifies nobody) and
# commits with the like it announces. -> (likes inserted, likes deleted).
APPLY_LIKE_INTENTS = f"""
WITH liked AS (
    INSERT INTO {LIKE} (user_id, post_id, created_at)
    SELECT w.user_id, w.post_id, to_timestamp(w.at_ms / 1000.0)
    FROM unnest(%(like_users)s::bigint[], %(like_posts)s::bigint[], %(like_ms)s::bigint[])
        AS w(user_id, post_id, at_ms)
    WHERE EXISTS (SELECT 1 FROM {USER} u WHERE u.id = w.user_id)
        AND EXISTS (SELECT 1 FROM {POST} p WHERE p.id = w.post_id)
    ON CONFLICT DO NOTHING
    RETURNING user_id, post_id, created_at
), unliked AS (
    DELETE FROM {LIKE} l
    USING unnest(%(unlike_users)s::bigint[], %(unlike_posts)s::bigint[]) AS w(user_id, post_id)
    WHERE l.user_id = w.user_id AND l.post_id = w.post_id
    RETURNING l.post_id
), notified AS (
    INSERT INTO {NOTIFICATION} (recipient_id, actor_id, type, post_id, created_at)
    SELECT p.author_id, liked.user_id, '{Notification.Type.LIKE}', liked.post_id,
           liked.created_at
    FROM liked JOIN {POST} p ON p.id = liked.post_id
    WHERE p.author_id <> liked.user_id AND {users_sql.may_notify("p.author_id", "liked.user_id")}
    ON CONFLICT DO NOTHING
    RETURNING 1
), changes AS (
    SELECT post_id, sum(change) AS change
    FROM (SELECT post_id, 1 AS change FROM liked
          UNION ALL SELECT post_id, -1 FROM unliked) AS c
    GROUP BY post_id
), counted AS (
    UPDATE {POST} p SET like_count = GREATEST(p.like_count + changes.change, 0)
    FROM changes WHERE p.id = changes.post_id AND changes.change <> 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM liked), (SELECT count(*) FROM unliked)
"""  # noqa: S608
