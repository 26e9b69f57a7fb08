"""The set-based SQL of the feed, in one place (table names from the models)."""

from feed.models import DormantFeed, FeedEntry, FeedFloor, OutboxEvent, VipAuthor
from interactions.models import Repost
from posts.models import VISIBLE_SQL, Post
from users import sql as users_sql
from users.models import Follow, User

ENTRY = FeedEntry._meta.db_table
VIP = VipAuthor._meta.db_table
DORMANT = DormantFeed._meta.db_table
FLOOR = FeedFloor._meta.db_table
POST = Post._meta.db_table
FOLLOW = Follow._meta.db_table
USER = User._meta.db_table
OUTBOX = OutboxEvent._meta.db_table
REPOST = Repost._meta.db_table
HIDDEN_AUTHORS = users_sql.HIDDEN_AUTHORS  # blocked either way, or muted by the owner

# Outbox events (one per post) and their notifications in one statement; PostgreSQL
# delivers a notification when (and only if) the transaction commits (feed.relay listens).
# EVENTS is a CTE over `{source}` (rows with an `id`, the posts): a statement that writes
# the posts themselves takes their events along (posts.sql) and selects NOTIFY_EVENT.
# The payload is the event id, then the writer's W3C traceparent when tracing is on, so
# that the relay queues the fan-out in the request's trace (puppies/tracing.py).
OUTBOX_CHANNEL = "feed_outbox"
EVENTS = f"""event AS (
    INSERT INTO {OUTBOX} (kind, post_id, created_at, dispatched_at, attempts)
    SELECT %(kind)s, id, now(), now(), 1 FROM {{source}}
    RETURNING id
)"""  # noqa: S608
NOTIFY_EVENT = f"pg_notify('{OUTBOX_CHANNEL}', event.id::text || COALESCE(' ' || %(trace)s, ''))"
EMIT = f"""
WITH {EVENTS.format(source="unnest(%(posts)s::bigint[]) AS post(id)")}
SELECT id, {NOTIFY_EVENT} FROM event
"""  # noqa: S608

VISIBLE = VISIBLE_SQL

# --- reposts: one event of `actor` about a post, written with the repost row (interactions.sql)
# `source` is a CTE of the post ids the change wrote (none: no event).
ACTOR_EVENTS = f"""event AS (
    INSERT INTO {OUTBOX} (kind, post_id, actor_id, created_at, dispatched_at, attempts)
    SELECT %(kind)s, post_id, %(user)s, now(), now(), 1 FROM {{source}}
    RETURNING id
)"""  # noqa: S608

# What plans a push, in one round trip: the count of followers it goes to (the author's,
# or the reposter's: the counter may lag the follow table a little: that only makes
# chunks a little uneven) and their VIP mark.
PUSH_AUTHOR = f"""
SELECT u.follower_count, EXISTS (SELECT 1 FROM {VIP} v WHERE v.user_id = u.id)
FROM {USER} u WHERE u.id = %(followee)s
"""  # noqa: S608

# Where each chunk after the first starts: every %(size)s-th follower by follower_id,
# all in one snapshot (chunks computed apart could skip a follower between them). Each
# step skips `size` entries of follow_followee_follower from the previous bound, so
# the walk reads the author's followers once, index-only: ~3x cheaper than numbering
# them with row_number() (0.6 vs 1.7 ms for 5k followers).
PUSH_BOUNDS = f"""
WITH RECURSIVE bounds(id) AS (
    SELECT (SELECT follower_id FROM {FOLLOW} WHERE followee_id = %(followee)s
            ORDER BY follower_id OFFSET %(size)s LIMIT 1)
    UNION ALL
    SELECT (SELECT follower_id FROM {FOLLOW} WHERE followee_id = %(followee)s
              AND follower_id >= b.id ORDER BY follower_id OFFSET %(size)s LIMIT 1)
    FROM bounds b WHERE b.id IS NOT NULL
)
SELECT id FROM bounds WHERE id IS NOT NULL
"""  # noqa: S608


def push_range(*, skip_existing: bool, lower: bool, upper: bool) -> str:
    """One chunk of a push: followers of %(followee)s (the author, or a reposter: then
    %(reposted_by)s too) in [lo, hi) (each bound optional), dormant feeds skipped;
    returns the owners whose cached feed heads must go.

    The first attempt is a plain INSERT ... RETURNING owner_id. ON CONFLICT DO NOTHING
    (speculative insertion: a primary-key probe and an extra WAL record per row, ~25%
    slower) is only used when that one hits a row already there (a redelivered task, a
    concurrent follow backfill). That one returns (owner, rows it wrote) for every owner
    of the range, not only those it wrote to: the run that wrote the others may have
    died between its commit and dropping their heads.

    The range is repeated on the dormant side: it bounds the merge anti-join's scan of
    the dormant marks to the chunk's ids (else it reads them from the lowest id on).
    """
    bounds = [b for b, on in ((">= %(lo)s", lower), ("< %(hi)s", upper)) if on]
    f_range = "".join(f" AND f.follower_id {b}" for b in bounds)
    d_range = "".join(f" AND d.owner_id {b}" for b in bounds)
    targets = f"""
SELECT f.follower_id FROM {FOLLOW} f
WHERE f.followee_id = %(followee)s{f_range}
  AND NOT EXISTS (SELECT 1 FROM {DORMANT} d WHERE d.owner_id = f.follower_id{d_range})
"""  # noqa: S608
    insert = f"INSERT INTO {ENTRY} (owner_id, post_id, author_id, created_at, reposted_by_id)"
    row = "%(post)s, %(author)s, %(created_at)s, %(reposted_by)s"
    if not skip_existing:
        return f"""
{insert}
SELECT t.follower_id, {row} FROM ({targets}) t
RETURNING owner_id
"""  # noqa: S608
    return f"""
WITH t AS MATERIALIZED ({targets}), written AS (
    {insert}
    SELECT t.follower_id, {row} FROM t
    ON CONFLICT DO NOTHING RETURNING 1
)
SELECT t.follower_id, (SELECT count(*) FROM written) FROM t
"""  # noqa: S608


MARK_DORMANT = f"""
INSERT INTO {DORMANT} (owner_id, since)
SELECT u.id, now() FROM {USER} u
WHERE u.last_active_at IS NULL OR u.last_active_at < %(cutoff)s
ON CONFLICT DO NOTHING
RETURNING owner_id
"""  # noqa: S608

# Entries of a post leave the feeds of its author's followers and of its reposters'
# followers (the primary key serves it); -> the owners whose cached heads must go.
REMOVE_POST = f"""
DELETE FROM {ENTRY}
WHERE post_id = %(post)s
  AND owner_id IN (SELECT follower_id FROM {FOLLOW} WHERE followee_id = %(author)s
                   UNION
                   SELECT f.follower_id FROM {REPOST} r
                   JOIN {FOLLOW} f ON f.followee_id = r.user_id WHERE r.post_id = %(post)s)
RETURNING owner_id
"""  # noqa: S608

# One repost's entries leave its reposter's followers' feeds; -> their owners. A feed has
# one entry per post, written by whichever push came first: an owner who still follows
# the author (pushed) or another reposter keeps the post, as theirs (the author's own
# first, else the earliest repost left), at that one's time.
REMOVE_REPOST = f"""
WITH gone AS (
    SELECT e.owner_id, e.author_id FROM {ENTRY} e
    WHERE e.post_id = %(post)s AND e.reposted_by_id = %(reposter)s
      AND e.owner_id IN (SELECT follower_id FROM {FOLLOW} WHERE followee_id = %(reposter)s)
), kept AS (
    SELECT DISTINCT ON (owner_id) owner_id, reposted_by_id, created_at
    FROM (
        SELECT g.owner_id, NULL::bigint AS reposted_by_id, p.created_at, 0 AS rank
        FROM gone g
        JOIN {FOLLOW} f ON f.follower_id = g.owner_id AND f.followee_id = g.author_id
        JOIN {POST} p ON p.id = %(post)s
        WHERE NOT EXISTS (SELECT 1 FROM {VIP} v WHERE v.user_id = g.author_id)
        UNION ALL
        SELECT g.owner_id, r.user_id, r.created_at, 1
        FROM gone g
        JOIN {FOLLOW} f ON f.follower_id = g.owner_id
        JOIN {REPOST} r ON r.user_id = f.followee_id AND r.post_id = %(post)s
        WHERE r.user_id <> %(reposter)s
    ) candidate
    ORDER BY owner_id, rank, created_at
), moved AS (
    UPDATE {ENTRY} e SET reposted_by_id = k.reposted_by_id, created_at = k.created_at
    FROM kept k WHERE e.owner_id = k.owner_id AND e.post_id = %(post)s
    RETURNING e.owner_id
), removed AS (
    DELETE FROM {ENTRY} e
    WHERE e.post_id = %(post)s AND e.owner_id IN (SELECT owner_id FROM gone)
      AND e.owner_id NOT IN (SELECT owner_id FROM kept)
    RETURNING e.owner_id
)
SELECT owner_id FROM moved UNION ALL SELECT owner_id FROM removed
"""  # noqa: S608


def raise_floors(source: str) -> str:
    """Raise owners' floors (feed.models.FeedFloor) to the keys `source` selects
    (owner_id, created_at, post_id; one row per owner); a floor never comes down."""
    return f"""
INSERT INTO {FLOOR} AS fl (owner_id, created_at, post_id) {source}
ON CONFLICT (owner_id) DO UPDATE SET created_at = EXCLUDED.created_at, post_id = EXCLUDED.post_id
WHERE (fl.created_at, fl.post_id) < (EXCLUDED.created_at, EXCLUDED.post_id)
"""


def _recent_of_author(author: str) -> str:
    """A followee's newest %(per_author)s posts, which backfill, rebuild and demotion
    write into feeds. When it has that many, its older ones are left out: the oldest
    written is where a feed's floor goes up to (conservatively: it may have no more)."""
    return f"""
SELECT p.id, p.author_id, p.created_at FROM {POST} p
WHERE p.author_id = {author} AND {VISIBLE}
ORDER BY p.created_at DESC, p.id DESC LIMIT %(per_author)s
"""  # noqa: S608


# Recent posts of one followee into one feed (follow), and the floor raised past them.
BACKFILL_AUTHOR = f"""
WITH recent AS MATERIALIZED ({_recent_of_author("%(author)s")}), written AS (
    INSERT INTO {ENTRY} (owner_id, post_id, author_id, created_at)
    SELECT %(owner)s, id, author_id, created_at FROM recent
    ON CONFLICT DO NOTHING
)
{
    raise_floors(
        "SELECT %(owner)s, created_at, id FROM recent"
        " WHERE (SELECT count(*) FROM recent) = %(per_author)s"
        " ORDER BY created_at, id LIMIT 1"
    )
}"""  # noqa: S608

# A demoted VIP's followers get its recent posts pushed (feed.services.demote_vip), no
# older ones: their floors go up to the oldest pushed.
DEMOTED_AUTHOR_FLOORS = f"""
WITH recent AS MATERIALIZED ({_recent_of_author("%(author)s")})
{
    raise_floors(f'''
SELECT f.follower_id, c.created_at, c.id FROM {FOLLOW} f
CROSS JOIN (SELECT created_at, id FROM recent ORDER BY created_at, id LIMIT 1) c
WHERE f.followee_id = %(author)s AND (SELECT count(*) FROM recent) = %(per_author)s''')
}"""  # noqa: S608

# A whole feed from the recent posts of every pushed followee (first read, or back
# from inactivity), at most %(cap)s of them; VIP followees are merged at read time
# anyway. The floor goes up to the highest point below which posts were left out: the
# oldest taken of each followee that had %(per_author)s taken, and the cap's cut.
REBUILD = f"""
WITH recent AS MATERIALIZED (
    SELECT p.id, p.author_id, p.created_at, p.nth FROM {FOLLOW} f
    CROSS JOIN LATERAL (
        SELECT r.*, row_number() OVER (ORDER BY r.created_at DESC, r.id DESC) AS nth
        FROM ({_recent_of_author("f.followee_id")}) r
    ) p
    WHERE f.follower_id = %(owner)s
      AND NOT EXISTS (SELECT 1 FROM {VIP} v WHERE v.user_id = f.followee_id)
), kept AS MATERIALIZED (
    SELECT id, author_id, created_at FROM recent ORDER BY created_at DESC, id DESC LIMIT %(cap)s
), written AS (
    INSERT INTO {ENTRY} (owner_id, post_id, author_id, created_at)
    SELECT %(owner)s, id, author_id, created_at FROM kept
    ON CONFLICT DO NOTHING
    RETURNING 1
), cuts AS (
    (SELECT created_at, id FROM recent WHERE nth = %(per_author)s)
    UNION ALL
    (SELECT created_at, id FROM kept WHERE (SELECT count(*) FROM recent) > %(cap)s
     ORDER BY created_at, id LIMIT 1)
), floor AS ({
    raise_floors(
        "SELECT %(owner)s, created_at, id FROM cuts ORDER BY created_at DESC, id DESC LIMIT 1"
    )
})
SELECT count(*) FROM written
"""  # noqa: S608

# Trim a batch of owners (keyset by owner id) to their newest `cap` entries, raising
# their floors to the newest entry deleted. The boundary lookup is an index-only scan
# of feed_owner_created.
TRIM_BATCH = f"""
WITH owners AS (
    SELECT id FROM {USER} WHERE id > %(after)s ORDER BY id LIMIT %(batch)s
), cut AS (
    SELECT o.id AS owner_id, b.created_at, b.post_id FROM owners o
    CROSS JOIN LATERAL (
        SELECT created_at, post_id FROM {ENTRY} e WHERE e.owner_id = o.id
        ORDER BY created_at DESC, post_id DESC OFFSET %(cap)s LIMIT 1
    ) b
), gone AS (
    DELETE FROM {ENTRY} e USING cut
    WHERE e.owner_id = cut.owner_id AND (e.created_at, e.post_id) <= (cut.created_at, cut.post_id)
    RETURNING 1
), floor AS ({raise_floors("SELECT owner_id, created_at, post_id FROM cut")})
SELECT (SELECT max(id) FROM owners), (SELECT count(*) FROM gone)
"""  # noqa: S608


def feed_page(*, after: bool, pull_all: bool = False) -> str:
    """Candidates for a merged home-feed page: pushed entries (with the reposter that put
    each there, if any) UNION each followed VIP's newest posts and newest reposts (with
    `pull_all`, every followee's: a dormant feed being rebuilt, or a page past the stored
    entries), each post once (its newest occurrence), then whether each candidate is
    visible (a repost's also needs the repost still there); then a row (NULL, NULL, NULL,
    NULL, flag) for each of 'dormant' (the owner's feed is dormant) and 'vips' (the owner
    follows a VIP).

    Every branch is an index-only keyset scan bounded by %(n)s (feed_owner_created;
    posts' post_author_created; repost_user_list), so the cost depends on the page size
    and the number of VIPs followed, not on table sizes; only the %(n)s merged
    candidates touch the posts heap, for visibility. DISTINCT ON drops a post present
    twice (pushed before its author became a VIP; reposted by several VIPs): a page
    shows each post once. Each branch is distinct in itself and limited to %(n)s, so
    fewer than %(n)s candidates still means every branch was exhausted. Authors blocked
    either way or muted by the owner are left out, as posters and as reposters
    (HIDDEN_AUTHORS, read once; the pushed scan then reads author_id from the heap).

    Last, a row (post id, created_at, NULL, NULL, 'floor') with the owner's floor, if any
    (feed.models.FeedFloor): at and below it the entries may miss posts, so a page that
    reaches it is read again `pull_all`, continuing from every followee's own posts and
    reposts (feed.selectors.stored_page).
    """
    entry_after = "AND (e.created_at, e.post_id) < (%(at)s, %(id)s)" if after else ""
    post_after = "AND (p.created_at, p.id) < (%(at)s, %(id)s)" if after else ""
    repost_after = "AND (r.created_at, r.post_id) < (%(at)s, %(id)s)" if after else ""
    pulled = "" if pull_all else f"JOIN {VIP} v ON v.user_id = f.followee_id"
    return f"""
WITH hidden(id) AS ({HIDDEN_AUTHORS}), found AS (
    (SELECT e.post_id AS id, e.created_at, e.reposted_by_id AS by FROM {ENTRY} e
      WHERE e.owner_id = %(owner)s {entry_after}
        AND e.author_id NOT IN (SELECT id FROM hidden)
        AND (e.reposted_by_id IS NULL OR e.reposted_by_id NOT IN (SELECT id FROM hidden))
      ORDER BY e.created_at DESC, e.post_id DESC LIMIT %(n)s)
    UNION ALL
    (SELECT vp.id, vp.created_at, NULL FROM {FOLLOW} f
      {pulled}
      CROSS JOIN LATERAL (
          SELECT p.id, p.created_at FROM {POST} p
          WHERE p.author_id = f.followee_id {post_after}
          ORDER BY p.created_at DESC, p.id DESC LIMIT %(n)s
      ) vp
      WHERE f.follower_id = %(owner)s AND f.followee_id NOT IN (SELECT id FROM hidden))
    UNION ALL
    (SELECT vr.post_id, vr.created_at, f.followee_id FROM {FOLLOW} f
      {pulled}
      CROSS JOIN LATERAL (
          SELECT r.post_id, r.created_at FROM {REPOST} r
          WHERE r.user_id = f.followee_id {repost_after}
          ORDER BY r.created_at DESC, r.post_id DESC LIMIT %(n)s
      ) vr
      WHERE f.follower_id = %(owner)s AND f.followee_id NOT IN (SELECT id FROM hidden))
), candidates AS (
    SELECT * FROM (
        SELECT DISTINCT ON (id) id, created_at, by FROM found
        ORDER BY id, created_at DESC, by NULLS FIRST
    ) once
    ORDER BY created_at DESC, id DESC LIMIT %(n)s
)
(SELECT c.id, c.created_at, c.by,
        p.id IS NOT NULL AND (c.by IS NULL OR r.user_id IS NOT NULL) AS visible, NULL AS flag
FROM candidates c
LEFT JOIN {POST} p ON p.id = c.id AND {VISIBLE} AND p.author_id NOT IN (SELECT id FROM hidden)
LEFT JOIN {REPOST} r ON r.user_id = c.by AND r.post_id = c.id
ORDER BY c.created_at DESC, c.id DESC)
UNION ALL
SELECT NULL, NULL, NULL, NULL, 'dormant' WHERE EXISTS (
    SELECT 1 FROM {DORMANT} d WHERE d.owner_id = %(owner)s)
UNION ALL
SELECT NULL, NULL, NULL, NULL, 'vips' WHERE EXISTS (
    SELECT 1 FROM {FOLLOW} f JOIN {VIP} v ON v.user_id = f.followee_id
    WHERE f.follower_id = %(owner)s)
UNION ALL
SELECT fl.post_id, fl.created_at, NULL, NULL, 'floor' FROM {FLOOR} fl WHERE fl.owner_id = %(owner)s
"""  # noqa: S608


def naive_page(*, after: bool) -> str:
    """The pull-only baseline the benchmark compares against."""
    post_after = "AND (p.created_at, p.id) < (%(at)s, %(id)s)" if after else ""
    return f"""
SELECT p.id, p.created_at FROM {POST} p
WHERE p.author_id IN (SELECT followee_id FROM {FOLLOW} WHERE follower_id = %(owner)s)
  AND {VISIBLE} {post_after}
ORDER BY p.created_at DESC, p.id DESC LIMIT %(n)s
"""  # noqa: S608
