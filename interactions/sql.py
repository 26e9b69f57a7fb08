"""The set-based SQL of interactions, in one place (table names from the models)."""

from interactions.models import Comment, Notification
from posts.models import VISIBLE_SQL, Post
from users import sql as users_sql
from users.models import User

POST = Post._meta.db_table
COMMENT = Comment._meta.db_table
NOTIFICATION = Notification._meta.db_table
USER = User._meta.db_table

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
