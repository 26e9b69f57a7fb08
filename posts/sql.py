"""The set-based SQL of posts, in one place (table names from the models)."""

from feed import sql as feed_sql
from posts.models import Post, PostHashtag
from users import revocations
from users.models import User

POST = Post._meta.db_table
TAG = PostHashtag._meta.db_table
USER = User._meta.db_table

# A new published post in one statement, so one round trip and a transaction of its own
# (no BEGIN and COMMIT to wait for): the row, its hashtags, the author's post_count and the
# fan-out's outbox event with its notification (feed.sql), which PostgreSQL sends at commit.
# It writes only while the author's row honours the request's token (users.revocations):
# no row back means the token was revoked, and nothing was written. It answers what the
# 201 shows of the author too (their summary), so that needs no other call.
PUBLISH_NEW = f"""
WITH author AS (
    SELECT u.id, u.username, u.display_name, u.avatar_url
    FROM {USER} u WHERE u.id = %(author)s AND {revocations.HONOURED_SQL}
), post AS (
    INSERT INTO {POST} (author_id, content, media, status, like_count, comment_count,
                        created_at, updated_at, edited_at, deleted_at, hidden_at)
    SELECT author.id, %(content)s, NULL, '{Post.Status.PUBLISHED}', 0, 0, %(now)s, %(now)s,
           NULL, NULL, NULL
    FROM author
    RETURNING id, author_id
), tagged AS (
    INSERT INTO {TAG} (post_id, tag, created_at)
    SELECT post.id, tag, %(now)s FROM post, unnest(%(tags)s::text[]) AS tag
), counted AS (
    UPDATE {USER} SET post_count = post_count + 1 WHERE id = (SELECT author_id FROM post)
), {feed_sql.EVENTS.format(source="post")}
SELECT post.id, event.id, {feed_sql.NOTIFY_EVENT},
       author.username, author.display_name, author.avatar_url
FROM post, event, author
"""  # noqa: S608
