# Tags the posts written before hashtags existed, in one set-based statement. The pattern and
# the cap mirror posts.services.hashtags_in (PostgreSQL ARE supports the same look-arounds).

from django.db import migrations

BACKFILL_SQL = r"""
INSERT INTO posts_posthashtag (post_id, tag, created_at)
SELECT post_id, tag, created_at
FROM (
    SELECT post_id, tag, created_at, row_number() OVER (PARTITION BY post_id ORDER BY first_at) AS n
    FROM (
        SELECT p.id AS post_id, p.created_at, lower(m.match[1]) AS tag, min(m.at) AS first_at
        FROM posts_post p,
             regexp_matches(p.content, '(?<![\w#])#([A-Za-z0-9_]{1,100})(?!\w)', 'g')
                 WITH ORDINALITY AS m(match, at)
        WHERE p.content LIKE '%#%'
        GROUP BY p.id, p.created_at, lower(m.match[1])
    ) AS distinct_tags
) AS ranked
WHERE n <= 20
ON CONFLICT DO NOTHING
"""


class Migration(migrations.Migration):

    dependencies = [
        ("posts", "0002_search_hashtags"),
    ]

    operations = [
        migrations.RunSQL(BACKFILL_SQL, migrations.RunSQL.noop),
    ]
