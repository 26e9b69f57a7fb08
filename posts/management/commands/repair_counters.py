"""Recompute every denormalized counter from the rows it summarizes.

Counters are kept exact by the code paths that change them; this is the safety
net for drift (a bug, a manual SQL fix, a restored backup). Each batch of ids is
one transaction that first locks its rows: a concurrent follow, comment or like
flush either committed before the lock (so the recount sees its row) or waits
for it and then applies its own +1/-1 on top of the recount. Nothing is lost
while the site is live.
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, connection, transaction
from psycopg.errors import DeadlockDetected
from tqdm import tqdm

from interactions.models import LIVE_COMMENT_SQL, Comment, Like, Repost
from posts.models import VISIBLE_SQL, Post
from users.models import Follow, User

_DEADLOCK_RETRIES = 5


def _user_counts_sql() -> str:
    users, follows, posts = User._meta.db_table, Follow._meta.db_table, Post._meta.db_table
    return f"""
        UPDATE {users} AS u
        SET follower_count = s.follower_count,
            following_count = s.following_count,
            post_count = s.post_count
        FROM (
            SELECT u2.id,
                   COALESCE(fr.n, 0) AS follower_count,
                   COALESCE(fg.n, 0) AS following_count,
                   COALESCE(p.n, 0) AS post_count
            FROM {users} AS u2
            LEFT JOIN (
                SELECT followee_id AS id, count(*) AS n FROM {follows}
                WHERE followee_id > %(lo)s AND followee_id <= %(hi)s GROUP BY followee_id
            ) AS fr ON fr.id = u2.id
            LEFT JOIN (
                SELECT follower_id AS id, count(*) AS n FROM {follows}
                WHERE follower_id > %(lo)s AND follower_id <= %(hi)s GROUP BY follower_id
            ) AS fg ON fg.id = u2.id
            LEFT JOIN (
                SELECT p.author_id AS id, count(*) AS n FROM {posts} AS p
                WHERE p.author_id > %(lo)s AND p.author_id <= %(hi)s AND {VISIBLE_SQL}
                GROUP BY p.author_id
            ) AS p ON p.id = u2.id
            WHERE u2.id > %(lo)s AND u2.id <= %(hi)s
        ) AS s
        WHERE u.id = s.id
          AND (u.follower_count, u.following_count, u.post_count)
              IS DISTINCT FROM (s.follower_count, s.following_count, s.post_count)
    """  # noqa: S608 (table names come from the models)


def _post_counts_sql() -> str:
    posts, likes, comments = Post._meta.db_table, Like._meta.db_table, Comment._meta.db_table
    reposts = Repost._meta.db_table
    return f"""
        UPDATE {posts} AS p
        SET like_count = s.like_count, comment_count = s.comment_count,
            repost_count = s.repost_count
        FROM (
            SELECT p2.id, COALESCE(l.n, 0) AS like_count, COALESCE(c.n, 0) AS comment_count,
                   COALESCE(r.n, 0) AS repost_count
            FROM {posts} AS p2
            LEFT JOIN (
                SELECT post_id AS id, count(*) AS n FROM {likes}
                WHERE post_id > %(lo)s AND post_id <= %(hi)s GROUP BY post_id
            ) AS l ON l.id = p2.id
            LEFT JOIN (
                SELECT c.post_id AS id, count(*) AS n FROM {comments} AS c
                WHERE c.post_id > %(lo)s AND c.post_id <= %(hi)s AND {LIVE_COMMENT_SQL}
                GROUP BY c.post_id
            ) AS c ON c.id = p2.id
            LEFT JOIN (
                SELECT post_id AS id, count(*) AS n FROM {reposts}
                WHERE post_id > %(lo)s AND post_id <= %(hi)s GROUP BY post_id
            ) AS r ON r.id = p2.id
            WHERE p2.id > %(lo)s AND p2.id <= %(hi)s
        ) AS s
        WHERE p.id = s.id
          AND (p.like_count, p.comment_count, p.repost_count)
              IS DISTINCT FROM (s.like_count, s.comment_count, s.repost_count)
    """  # noqa: S608 (table names come from the models)


class Command(BaseCommand):
    help = (
        "Recompute users' follower_count, following_count and post_count and posts' "
        "like_count, comment_count and repost_count from the rows, in batches; safe on a live site."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="ids per transaction (default 5000)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, batch_size: int, no_progress: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        for model, sql, extra in (
            (User, _user_counts_sql(), {}),
            (Post, _post_counts_sql(), {}),
        ):
            label = model._meta.verbose_name_plural
            started = time.monotonic()
            checked, fixed = self._repair(model, sql, extra, batch_size, no_progress)
            self.stdout.write(
                f"{label}: {checked} checked, {fixed} repaired in {time.monotonic() - started:.1f}s"
            )

    def _repair(self, model, sql: str, extra: dict, batch_size: int, no_progress: bool):
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (table name from the model)
            total = cursor.fetchone()[0]
        fixed = checked = 0
        with tqdm(
            total=total,
            desc=str(model._meta.verbose_name_plural),
            unit=" rows",
            disable=no_progress,
            file=sys.stderr,
        ) as bar:
            for lo, hi, rows in _id_batches(table, batch_size):
                fixed += _repair_batch(table, sql, {"lo": lo, "hi": hi, **extra})
                checked += rows
                bar.update(rows)
        return checked, fixed


def _id_batches(table: str, batch_size: int):
    """(lo, hi, rows): consecutive id ranges lo < id <= hi of about `batch_size` rows each."""
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT max(id), count(*) FROM (SELECT id FROM {table} "  # noqa: S608
                "WHERE id > %s ORDER BY id LIMIT %s) AS batch",
                [last, batch_size],
            )
            hi, rows = cursor.fetchone()
        if not rows:
            return
        yield last, hi, rows
        last = hi


def _repair_batch(table: str, sql: str, params: dict) -> int:
    for attempt in range(_DEADLOCK_RETRIES):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # Lock first, in id order: the recount below then sees every change that
                # committed before, and changes still in flight wait and apply after it.
                cursor.execute(
                    f"SELECT id FROM {table} WHERE id > %(lo)s AND id <= %(hi)s "  # noqa: S608
                    "ORDER BY id FOR UPDATE",
                    params,
                )
                cursor.execute(sql, params)
                return cursor.rowcount
        except OperationalError as exc:
            # A writer locking two rows the other way (follower, then followee) can deadlock
            # with the batch lock; PostgreSQL aborts one side and the batch simply retries.
            if not isinstance(exc.__cause__, DeadlockDetected) or attempt == _DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return 0
