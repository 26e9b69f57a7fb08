"""Home-feed benchmark: hybrid push/pull fan-out against the naive pull query.

    make bench-feed                               # full scale (100k users, 1M -> 10M posts)
    .venv/bin/python bench/feed.py --scale 0.05   # a quick run

Builds (once; reruns reuse it) a dataset in its own database (BENCH_DATABASE_URL,
default: DATABASE_URL's server, database `puppies_bench`) with a power-law follower
graph, loaded with COPY; then measures, in one run:

- fan-out: rows/s and post-to-visible latency p50/p99 for authors with 100, 1k and 9k
  followers (create_post -> commit -> outbox -> fan_out_post, the task run in
  process, so no broker hop: that adds ~1 ms), next to its ceiling: the same rows
  written by one bare INSERT ... SELECT (no chunks, threads, VIP check, dormant
  anti-join, RETURNING or head invalidation), and the ratio. The three authors are
  made for the benchmark (once), followed by that many users of the graph, plus new
  users when the graph has fewer (small scales); fan-out uses the unscaled VIP
  thresholds, so they are pushed at any scale;
- feed read at the database layer p50/p99 (the one merged query of GET /v1/feed, first
  page and the page after it) for users following 200 accounts, 0 / 5 / 20 of them VIPs,
  with the naive pull query (posts WHERE author IN followees ORDER BY created_at DESC
  LIMIT 20) on the same users, as a ratio;
- the same reads again after growing the posts table to --posts-max (default 10M), to
  show the feed read stays flat while the naive query does not.
"""

import argparse
import json
import os
import random
import sys
import time
from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FULL = {"users": 100_000, "posts": 1_000_000, "follows": 10_000_000}
FOLLOWEE_EXPONENT = 1.0  # popularity ~ 1 / rank: a few huge accounts, a long tail
READERS_PER_GROUP = 40
READER_FOLLOWS = 200
VIP_GROUPS = (0, 5, 20)
FANOUT_TARGETS = (100, 1_000, 9_000)
FANOUT_POSTS = 15
HISTORY_DAYS = 365
FILL_DAYS = 7  # pre-fill feeds with the last week's fan-out, so the table is not toy-sized


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_SCALE", 1.0)),
        help="fraction of the full dataset (100k users, 1M posts, 10M follows)",
    )
    parser.add_argument(
        "--posts-max",
        type=int,
        default=None,
        help="grow posts to this many for the flatness check (default 10x posts; 0 skips)",
    )
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the dataset")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--build-only", action="store_true", help="build the dataset and stop")
    return parser.parse_args()


def bench_database_url() -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/puppies"))
    return urlunsplit(base._replace(path="/puppies_bench"))


def setup_django(url: str, rebuild: bool) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and rebuild:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "puppies.settings"
    # The fan-out task runs in this process after commit: the benchmark measures the
    # database work, not broker round trips. Logs stay quiet.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from bench.support import use_bench_keys

    use_bench_keys()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- dataset -----------------------------------------------------------------------


class step:
    """Prints how long a build step took."""

    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        print(f"{self.label} ...", flush=True)
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        print(f"  {self.label}: {time.perf_counter() - self.started:.1f} s", flush=True)


def meta_get(key: str):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value jsonb)")
        cursor.execute("SELECT value FROM bench_meta WHERE key = %s", [key])
        row = cursor.fetchone()
    return None if row is None else json.loads(row[0]) if isinstance(row[0], str) else row[0]


def meta_set(key: str, value) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_meta VALUES (%s, %s::jsonb) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, json.dumps(value)],
        )


def copy_model_rows(model, overrides: list[str], rows, total: int, label: str) -> None:
    """COPY rows into `model`'s table: `overrides` name the columns each row gives; every
    other concrete column gets the field's default (so new columns elsewhere don't break
    the benchmark)."""
    from django.db import connection
    from django.db.models import GeneratedField
    from tqdm import tqdm

    fields = [
        f
        for f in model._meta.concrete_fields
        if not isinstance(f, GeneratedField) and f.column not in overrides
    ]
    defaults = []
    for field in fields:
        value = field.get_default()
        if field.null and value in ("", None):
            value = None
        defaults.append(field.get_db_prep_save(value, connection))
    columns = ", ".join(f'"{c}"' for c in [*overrides, *(f.column for f in fields)])
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # no per-row FK triggers
        with cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in tqdm(rows, total=total, desc=label, unit="row", mininterval=1):
                copy.write_row([*row, *defaults])
        cursor.execute("SET session_replication_role = DEFAULT")


def copy_text(table: str, columns: str, blocks, total: int, label: str) -> None:
    """COPY pre-formatted text blocks (the 10M follows: write_row would be too slow)."""
    from django.db import connection
    from tqdm import tqdm

    with connection.cursor() as cursor, tqdm(total=total, desc=label, unit="row") as bar:
        cursor.execute("SET session_replication_role = replica")
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for text, count in blocks:
                copy.write(text)
                bar.update(count)
        cursor.execute("SET session_replication_role = DEFAULT")


def reset_identity(table: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )


def build_dataset(sizes: dict, rng: random.Random) -> None:
    from django.db import connection

    from feed import services
    from feed.models import VipAuthor
    from posts.models import Post
    from users.models import Follow, User

    n_users, n_posts, n_follows = sizes["users"], sizes["posts"], sizes["follows"]
    now = datetime.now(UTC)
    print(f"building: {n_users:,} users, {n_posts:,} posts, {n_follows:,} follows")

    copy_model_rows(
        User,
        ["id", "username", "email", "password", "display_name", "last_active_at"],
        ((i, f"u{i}", f"u{i}@bench.invalid", "!", f"U{i}", now) for i in range(1, n_users + 1)),
        n_users,
        "users",
    )
    reset_identity(User._meta.db_table)

    # Power-law follows: followee rank r (= user id) drawn with weight 1 / r^a; each user
    # follows 10..2x-average accounts, without duplicates or self-follows.
    cum = list(accumulate(1 / r**FOLLOWEE_EXPONENT for r in range(1, n_users + 1)))
    top = cum[-1]
    mean = n_follows / n_users

    def follow_blocks():
        stamp = now.isoformat()
        lines, count, made = [], 0, 0
        for follower in range(1, n_users + 1):
            want = min(int(rng.uniform(10, 2 * mean - 10)), n_users - 1)
            want = min(want, n_follows - made - (n_users - follower) * 10)
            followees: set[int] = set()
            while len(followees) < want:
                for _ in range(want - len(followees)):
                    followee = bisect_left(cum, rng.random() * top) + 1
                    if followee != follower:
                        followees.add(followee)
            lines.extend(f"{follower}\t{followee}\t{stamp}\n" for followee in followees)
            count += len(followees)
            made += len(followees)
            if count >= 50_000:
                yield "".join(lines), count
                lines, count = [], 0
        if lines:
            yield "".join(lines), count

    copy_text(
        Follow._meta.db_table,
        "follower_id, followee_id, created_at",
        follow_blocks(),
        n_follows,
        "follows",
    )

    # Posts: uniform authors, uniform over the last year.
    copy_model_rows(
        Post,
        ["id", "author_id", "content", "created_at", "updated_at"],
        posts_rows(1, n_posts, n_users, now, rng),
        n_posts,
        "posts",
    )
    reset_identity(Post._meta.db_table)

    with step("counting followers, promoting VIPs"), connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {User._meta.db_table} u SET follower_count = c.n
                FROM (SELECT followee_id, count(*) n FROM {Follow._meta.db_table}
                      GROUP BY followee_id) c WHERE u.id = c.followee_id"""
        )
        cursor.execute(
            f"""UPDATE {User._meta.db_table} u SET following_count = c.n
                FROM (SELECT follower_id, count(*) n FROM {Follow._meta.db_table}
                      GROUP BY follower_id) c WHERE u.id = c.follower_id"""
        )
        cursor.execute(
            f"""UPDATE {User._meta.db_table} u SET post_count = c.n
                FROM (SELECT author_id, count(*) n FROM {Post._meta.db_table}
                      GROUP BY author_id) c WHERE u.id = c.author_id"""
        )
        services.refresh_vips()
    print(f"  {VipAuthor.objects.count()} VIP authors")
    with step("analyze"), connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    fill_recent_feeds(now)
    with step("readers: following 200 accounts each, feeds built"):
        make_readers(n_users, rng)
    with step("vacuum analyze"), connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    meta_set("sizes", sizes)


def posts_rows(first_id: int, count: int, n_users: int, now: datetime, rng: random.Random):
    """Posts spread over the last year; a tenth of them by the most followed 1% of users
    (popular accounts post more), the rest by anyone."""
    span = HISTORY_DAYS * 86400
    top = max(1, n_users // 100)
    for post_id in range(first_id, first_id + count):
        created = now - timedelta(seconds=rng.random() * span)
        author = rng.randint(1, top) if rng.random() < 0.1 else rng.randint(1, n_users)
        yield post_id, author, f"bench post {post_id} #puppies", created, created


def fill_recent_feeds(now: datetime) -> None:
    """The last week's fan-out, in one set-based statement, so feeds have history."""
    from django.db import connection

    from feed import sql

    print(f"pre-filling feeds with the last {FILL_DAYS} days of fan-out ...")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {sql.ENTRY} (owner_id, post_id, author_id, created_at)
                SELECT f.follower_id, p.id, p.author_id, p.created_at
                FROM {sql.POST} p JOIN {sql.FOLLOW} f ON f.followee_id = p.author_id
                WHERE p.created_at > %s
                  AND NOT EXISTS (SELECT 1 FROM {sql.VIP} v WHERE v.user_id = p.author_id)
                ON CONFLICT DO NOTHING""",
            [now - timedelta(days=FILL_DAYS)],
        )
        rows = cursor.rowcount
    seconds = time.perf_counter() - started
    print(f"  {rows:,} feed rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")


def make_readers(n_users: int, rng: random.Random) -> None:
    """Per VIP group, READERS_PER_GROUP new users following 200 accounts (v of them VIPs),
    with their feeds built as a first read would build them."""
    from django.db.models import F
    from django.utils import timezone

    from feed import services
    from feed.models import VipAuthor
    from users.models import Follow, User

    vips = list(VipAuthor.objects.values_list("user_id", flat=True))
    ordinary = list(
        User.objects.filter(post_count__gt=0, pk__lte=n_users)
        .exclude(pk__in=vips)
        .values_list("pk", flat=True)
    )
    readers = {}
    for group in VIP_GROUPS:
        if group > len(vips):
            print(f"  only {len(vips)} VIPs: group {group} uses all of them")
        ids = []
        for n in range(READERS_PER_GROUP):
            reader = User.objects.create(
                username=f"reader{group}_{n}",
                email=f"reader{group}_{n}@bench.invalid",
                password="!",  # noqa: S106  unusable password: readers never log in
                last_active_at=timezone.now(),
            )
            followees = rng.sample(vips, min(group, len(vips)))
            followees += rng.sample(ordinary, READER_FOLLOWS - len(followees))
            Follow.objects.bulk_create(Follow(follower=reader, followee_id=f) for f in followees)
            User.objects.filter(pk__in=followees).update(follower_count=F("follower_count") + 1)
            services.rebuild_feed(reader.pk)
            ids.append(reader.pk)
        readers[str(group)] = ids
    meta_set("readers", readers)


def grow_posts(target: int, n_users: int, rng: random.Random) -> None:
    from django.db import connection

    from posts.models import Post

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {Post._meta.db_table}")
        last = cursor.fetchone()[0]
    count = target - last
    if count <= 0:
        return
    copy_model_rows(
        Post,
        ["id", "author_id", "content", "created_at", "updated_at"],
        posts_rows(last + 1, count, n_users, datetime.now(UTC), rng),
        count,
        f"posts to {target:,}",
    )
    reset_identity(Post._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Post._meta.db_table}")
    # The readers' feeds get the new posts as fan-out would have given them.
    from feed import services

    with step("readers' feeds rebuilt"):
        for ids in meta_get("readers").values():
            for owner in ids:
                services.rebuild_feed(owner)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE feed_feedentry")


# --- measurements --------------------------------------------------------------------


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def fanout_authors(n_users: int, rng: random.Random) -> dict[int, int]:
    """target -> an author followed by exactly `target` users: graph users, plus new
    (active, empty-feed) users when the graph has fewer. Made once, then reused."""
    from django.db.models import F
    from django.utils import timezone

    from users.models import Follow, User

    made = meta_get("fanout_authors")
    if made:
        return {int(target): author for target, author in made.items()}
    now = timezone.now()
    extra = max(0, max(FANOUT_TARGETS) - n_users)
    fans = User.objects.bulk_create(
        User(
            username=f"fanout_fan{n}",
            email=f"fanout_fan{n}@bench.invalid",
            password="!",  # noqa: S106  never logs in
            last_active_at=now,
        )
        for n in range(extra)
    )
    made = {}
    for target in FANOUT_TARGETS:
        author = User.objects.create(
            username=f"fanout{target}",
            email=f"fanout{target}@bench.invalid",
            password="!",  # noqa: S106  never logs in
            last_active_at=now,
            follower_count=target,
        )
        graph = rng.sample(range(1, n_users + 1), min(target, n_users))
        followers = graph + [fan.pk for fan in fans[: target - len(graph)]]
        Follow.objects.bulk_create(
            (Follow(follower_id=f, followee=author) for f in followers), batch_size=5_000
        )
        User.objects.filter(pk__in=followers).update(following_count=F("following_count") + 1)
        made[target] = author.pk
    meta_set("fanout_authors", made)
    return made


def ceiling_push(author_id: int) -> tuple[int, float]:
    """A new post into every follower's feed with one bare INSERT ... SELECT committed
    on its own: what the database does at best for those rows."""
    from django.db import connection

    from feed import sql
    from posts.models import Post

    post = Post.objects.create(author_id=author_id, content="bench ceiling")
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            f"INSERT INTO {sql.ENTRY} (owner_id, post_id, author_id, created_at) "
            f"SELECT follower_id, %s, %s, %s FROM {sql.FOLLOW} WHERE followee_id = %s",
            [post.pk, author_id, post.created_at, author_id],
        )
        return cursor.rowcount, time.perf_counter() - started


def measure_fanout(authors: dict[int, int], vip_thresholds: tuple[int, int]) -> dict:
    from django.conf import settings

    from feed import services
    from posts.services import create_post
    from users.models import User

    # Time the push itself (rows/s) apart from the whole post-to-visible path.
    push_post, pushes = services.push_post, []

    def timed_push(post):
        started = time.perf_counter()
        rows = push_post(post)
        pushes.append((rows, time.perf_counter() - started))
        return rows

    services.push_post = timed_push
    scaled = settings.VIP_FOLLOWER_THRESHOLD, settings.VIP_EXIT_FOLLOWER_THRESHOLD
    settings.VIP_FOLLOWER_THRESHOLD, settings.VIP_EXIT_FOLLOWER_THRESHOLD = vip_thresholds
    results = {}
    print(
        "\nfan-out (create_post -> commit -> outbox -> fan_out_post; all followers active), "
        f"chunks of <= {settings.FEED_FANOUT_CHUNK:,}, {settings.FEED_FANOUT_THREADS} at once; "
        "ceiling: one bare INSERT ... SELECT"
    )
    for target in FANOUT_TARGETS:
        author = User.objects.get(pk=authors[target])
        latencies, ceiling = [], []
        pushes.clear()
        for n in range(FANOUT_POSTS):
            # Alternate which goes first: the second finds the followers' pages warmer.
            if n % 2:
                ceiling.append(ceiling_push(author.pk))
            started = time.perf_counter()
            create_post(author=author, content=f"bench fan-out {n}")
            latencies.append(time.perf_counter() - started)
            if not n % 2:
                ceiling.append(ceiling_push(author.pk))
        rows, seconds = sum(r for r, _ in pushes), sum(s for _, s in pushes)
        ceiling_rows, ceiling_seconds = sum(r for r, _ in ceiling), sum(s for _, s in ceiling)
        results[target] = r = {
            "followers": author.follower_count,
            "rows_per_s": rows / seconds,
            "ceiling_rows_per_s": ceiling_rows / ceiling_seconds,
            "p50": pct(latencies, 0.5),
            "p99": pct(latencies, 0.99),
        }
        print(
            f"  {target:>5,} followers: {r['rows_per_s']:>9,.0f} rows/s  "
            f"ceiling {r['ceiling_rows_per_s']:>9,.0f} rows/s "
            f"(x{r['rows_per_s'] / r['ceiling_rows_per_s']:.2f})   "
            f"post-to-visible p50 {ms(r['p50'])}  p99 {ms(r['p99'])}"
        )
    services.push_post = push_post
    settings.VIP_FOLLOWER_THRESHOLD, settings.VIP_EXIT_FOLLOWER_THRESHOLD = scaled
    return results


def time_query(sql_text: str, params: dict) -> tuple[float, list]:
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql_text, params)
        rows = cursor.fetchall()
        return time.perf_counter() - started, rows


def measure_reads(label: str, rounds: int = 5) -> dict:
    """Feed reads from PostgreSQL (the one query behind GET /v1/feed when its first page
    is not cached in Redis) against the naive pull, per group.
    One untimed round first, for both alike: hot feeds are in cache in production."""
    from feed import selectors, sql

    readers = meta_get("readers")
    results = {}

    def feed_read(owner: int) -> list[float]:
        started = time.perf_counter()
        cursor = selectors.stored_page(owner, after=None, limit=20).next_key
        first = time.perf_counter() - started
        started = time.perf_counter()
        selectors.stored_page(owner, after=cursor, limit=20)
        return [first, time.perf_counter() - started]

    def naive_read(owner: int) -> list[float]:
        took, rows = time_query(sql.naive_page(after=False), {"owner": owner, "n": 20})
        at, post_id = rows[-1][1], rows[-1][0]
        more, _ = time_query(
            sql.naive_page(after=True), {"owner": owner, "n": 20, "at": at, "id": post_id}
        )
        return [took, more]

    print(f"\nfeed read at the database layer, {label} (first page + next page, 20 posts)")

    def timed(read, owners: list[int]) -> list[float]:
        # Each query in its own steady state: interleaving them would let the naive
        # query's thousands of pages evict the feed's few from shared buffers.
        times = []
        for n in range(rounds + 1):
            for owner in owners:
                took = read(owner)
                if n:
                    times += took
        return times

    for group in VIP_GROUPS:
        feed_times = timed(feed_read, readers[str(group)])
        naive_times = timed(naive_read, readers[str(group)])
        r = {
            "p50": pct(feed_times, 0.5),
            "p99": pct(feed_times, 0.99),
            "naive_p50": pct(naive_times, 0.5),
            "naive_p99": pct(naive_times, 0.99),
        }
        results[group] = r
        print(
            f"  {group:>2} VIPs of 200: feed p50 {ms(r['p50'])}  p99 {ms(r['p99'])}   "
            f"naive p50 {ms(r['naive_p50'])}  p99 {ms(r['naive_p99'])}   "
            f"naive/feed p99 x{r['naive_p99'] / r['p99']:.1f}"
        )
    return results


def check_same_pages() -> None:
    """The merged feed page must be exactly the naive page (same posts, same order) for
    readers whose feeds hold every followee's recent posts."""
    from feed import selectors, sql

    readers = meta_get("readers")
    for group in VIP_GROUPS:
        owner = readers[str(group)][0]
        feed_ids = selectors.stored_page(owner, after=None, limit=20).post_ids
        _, naive_rows = time_query(sql.naive_page(after=False), {"owner": owner, "n": 20})
        same = feed_ids == [r[0] for r in naive_rows]
        print(f"  {group:>2} VIPs: feed page == naive page: {same}")


def main() -> None:
    args = parse_args()
    rng = random.Random(args.seed)
    sizes = {k: max(1_000, int(v * args.scale)) for k, v in FULL.items()}
    posts_max = sizes["posts"] * 10 if args.posts_max is None else args.posts_max
    url = bench_database_url()
    setup_django(url, args.rebuild)

    from django.conf import settings

    vip_thresholds = settings.VIP_FOLLOWER_THRESHOLD, settings.VIP_EXIT_FOLLOWER_THRESHOLD
    # Scaled-down runs keep the same shape: VIPs are the same share of users.
    settings.VIP_FOLLOWER_THRESHOLD = max(50, int(settings.VIP_FOLLOWER_THRESHOLD * args.scale))
    settings.VIP_EXIT_FOLLOWER_THRESHOLD = settings.VIP_FOLLOWER_THRESHOLD * 9 // 10
    print(
        f"database {urlsplit(url).path.lstrip('/')}; "
        f"VIP threshold {settings.VIP_FOLLOWER_THRESHOLD:,}"
    )

    built = meta_get("sizes")
    if built != sizes:
        if built is not None:
            sys.exit(f"the database holds a dataset of {built}; rerun with --rebuild")
        started = time.perf_counter()
        build_dataset(sizes, rng)
        print(f"built in {time.perf_counter() - started:.0f} s")
    else:
        print(f"reusing the dataset: {sizes}")
    if args.build_only:
        return

    from posts.models import Post

    n_posts = Post.objects.count()
    fanout = measure_fanout(fanout_authors(sizes["users"], rng), vip_thresholds)
    print("\nsame page check (merged feed vs naive pull):")
    check_same_pages()
    reads = measure_reads(f"{n_posts:,} posts")
    stored = meta_get("reads_small")
    if n_posts < posts_max * 0.9:
        meta_set("reads_small", {"posts": n_posts, "reads": reads})
        stored = {"posts": n_posts, "reads": reads}
    grown = None
    if posts_max and n_posts < posts_max * 0.9:
        grow_posts(posts_max, sizes["users"], rng)
        print("\nsame page check (merged feed vs naive pull):")
        check_same_pages()
        grown = measure_reads(f"{Post.objects.count():,} posts")
    elif posts_max and stored:
        grown = reads
        reads = {int(k): v for k, v in stored["reads"].items()}
        print(f"  (figures at {stored['posts']:,} posts are from the run that grew the table)")

    print("\n=== summary ===")
    for target, r in fanout.items():
        print(
            f"fan-out {target:,} followers: {r['rows_per_s']:,.0f} rows/s "
            f"(ceiling {r['ceiling_rows_per_s']:,.0f}, "
            f"x{r['rows_per_s'] / r['ceiling_rows_per_s']:.2f}), "
            f"post-to-visible p50 {r['p50'] * 1000:.1f} ms p99 {r['p99'] * 1000:.1f} ms"
        )
    for group in VIP_GROUPS:
        r = reads[group]
        line = (
            f"read {group:>2} VIPs: p50 {r['p50'] * 1000:.2f} ms p99 {r['p99'] * 1000:.2f} ms; "
            f"naive p99 {r['naive_p99'] * 1000:.2f} ms (x{r['naive_p99'] / r['p99']:.1f})"
        )
        if grown:
            g = grown[group]
            line += (
                f"; at {posts_max:,} posts p50 {g['p50'] * 1000:.2f} ms "
                f"({(g['p50'] / r['p50'] - 1) * 100:+.0f}%) p99 {g['p99'] * 1000:.2f} ms "
                f"({(g['p99'] / r['p99'] - 1) * 100:+.0f}%), "
                f"naive p99 {g['naive_p99'] * 1000:.2f} ms (x{g['naive_p99'] / g['p99']:.1f})"
            )
        print(line)


if __name__ == "__main__":
    main()
