"""Import 1M records from the local upstream through the real code path, vs a bare INSERT.

    .venv/bin/python bench/ingest.py [--records 1000000] [--page-size 1000] [--rerun]
    make bench-ingest BENCH_ARGS="--records 100000"

Starts the local upstream (ingestion/testing/upstream.py) as a process of its own on a
loopback port, serving JSONPlaceholder-shaped data: records/5 posts with 4 comments each.
Then one run of a `jsonplaceholder` source, exactly as `manage.py ingest` does it (HTTP
fetching with retries, validation, the (source, external_id) mapping, set-based writes of
posts, hashtags and comments with their counters, one transaction and checkpoint per
page), with a progress bar; it prints records/s and the run's counts, and checks the
stored rows and counters against the dataset. The baseline, in the same run: the same
posts and comments written by bare `INSERT ... SELECT FROM unnest` statements, in
transactions of --page-size rows, into the same tables (so the same indexes), with no
HTTP and no bookkeeping; the ratio says what the import costs on top of the writes alone.
--rerun adds a second run (nothing changed upstream: every record is looked up, none
written).

Runs against its own database (BENCH_DATABASE_URL, default puppies_ingest_bench: created,
migrated and emptied here).
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import ensure_database, free_port  # noqa: E402 - needs ROOT on the path

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/puppies_ingest_bench"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["INGEST_ALLOW_PRIVATE"] = "true"  # the upstream is on the loopback

ensure_database(DATABASE_URL)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ingestion import services  # noqa: E402
from ingestion.models import DeadLetter, ImportedItem, Source  # noqa: E402
from ingestion.testing.upstream import Dataset, Upstream  # noqa: E402
from interactions.models import Comment  # noqa: E402
from posts.models import Post, PostHashtag  # noqa: E402
from users.models import User  # noqa: E402

COMMENTS_PER_POST = 4


def reset() -> None:
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE ingestion_importeditem, ingestion_deadletter, ingestion_ingestionrun,"
            " ingestion_source, interactions_comment, posts_posthashtag, posts_post,"
            " feed_vipauthor, feed_outboxevent, users_user RESTART IDENTITY CASCADE"
        )
        cursor.execute("VACUUM ANALYZE")


def start_upstream(posts: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "ingestion.testing.upstream", "--port", str(port),
         "--posts", str(posts), "--comments-per-post", str(COMMENTS_PER_POST)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        sys.exit("the local upstream did not start")
    return process, url


def import_run(source: Source, records: int) -> tuple[float, object]:
    run, _ = services.start_run(source, trigger="command", dispatch=False)
    with tqdm(total=records, desc="import", unit=" records", unit_scale=True) as bar:
        started = time.perf_counter()
        run = services.execute_run(run.pk, on_progress=bar.update)
        seconds = time.perf_counter() - started
    return seconds, run


def baseline(posts: int, page_size: int) -> float:
    """The same rows by bare set-based INSERTs: the writes' own cost, nothing else."""
    data = Upstream(Dataset(posts=posts, comments_per_post=COMMENTS_PER_POST))
    author = User.objects.create(username="baseline", email="baseline@bench.invalid")
    post_texts = [f"{p['title']}\n\n{p['body']}" for p in map(data.post, range(1, posts + 1))]
    comment_rows = [data.comment(n) for n in range(1, posts * COMMENTS_PER_POST + 1)]
    now = timezone.now()
    ids: list[int] = []
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        tqdm(
            total=len(post_texts) + len(comment_rows),
            desc="baseline",
            unit=" rows",
            unit_scale=True,
        ) as bar,
    ):
        for lo in range(0, len(post_texts), page_size):
            chunk = post_texts[lo : lo + page_size]
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO posts_post (author_id, content, status, like_count,"
                    " comment_count, created_at, updated_at)"
                    " SELECT %s, c, 'published', 0, 0, %s, %s FROM unnest(%s::text[]) AS c"
                    " RETURNING id",
                    [author.pk, now, now, chunk],
                )
                ids.extend(row[0] for row in cursor.fetchall())
            bar.update(len(chunk))
        for lo in range(0, len(comment_rows), page_size):
            chunk = comment_rows[lo : lo + page_size]
            with transaction.atomic():
                cursor.execute(
                    "INSERT INTO interactions_comment (post_id, author_id, content, created_at)"
                    " SELECT p, %s, c, %s FROM unnest(%s::bigint[], %s::text[]) AS t(p, c)",
                    [
                        author.pk,
                        now,
                        [ids[c["postId"] - 1] for c in chunk],
                        [c["body"] for c in chunk],
                    ],
                )
            bar.update(len(chunk))
    return time.perf_counter() - started


def check(source: Source, posts: int) -> list[str]:
    """What must hold after the import; the mismatches."""
    comments = posts * COMMENTS_PER_POST
    bot = User.objects.get(pk=source.bot_id)
    found = {
        "posts": Post.objects.filter(author=bot).count(),
        "comments": Comment.objects.filter(author=bot).count(),
        "bot post_count": bot.post_count,
        "sum of comment_count": sum(
            Post.objects.filter(author=bot).values_list("comment_count", flat=True)
        ),
        "mapped items": ImportedItem.objects.filter(source=source).count(),
        "#zoomies posts": PostHashtag.objects.filter(tag="zoomies", post__author=bot).count(),
        "dead letters": DeadLetter.objects.filter(source=source).count(),
    }
    expected = {
        "posts": posts,
        "comments": comments,
        "bot post_count": posts,
        "sum of comment_count": comments,
        "mapped items": posts + comments,
        "#zoomies posts": posts // 10,
        "dead letters": 0,
    }
    for name, value in found.items():
        print(
            f"  {name}: {value:,}" + ("" if value == expected[name] else f" != {expected[name]:,}")
        )
    return [name for name in found if found[name] != expected[name]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--rerun", action="store_true", help="a second run: nothing changed")
    args = parser.parse_args()
    posts = args.records // (1 + COMMENTS_PER_POST)
    records = posts * (1 + COMMENTS_PER_POST)

    reset()
    process, url = start_upstream(posts)
    try:
        source, _ = services.save_source(
            name="bench", kind="jsonplaceholder", base_url=url, page_size=args.page_size
        )
        print(f"importing {records:,} records ({posts:,} posts, {records - posts:,} comments)"
              f" from {url} in pages of {args.page_size}")  # fmt: skip
        seconds, run = import_run(source, records)
        rerun = import_run(source, records) if args.rerun else None
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"run {run.pk} {run.status}: fetched {run.fetched:,}, created {run.created:,},"
          f" updated {run.updated:,}, failed {run.failed:,}")  # fmt: skip
    mismatches = check(source, posts)
    base_seconds = baseline(posts, args.page_size)

    rate, base_rate = records / seconds, records / base_seconds
    print("\n=== summary ===")
    print(f"import:   {records:,} records in {seconds:.1f} s = {rate:,.0f} records/s")
    print(
        f"baseline: bare INSERTs of the same rows in {base_seconds:.1f} s = {base_rate:,.0f} rows/s"
    )
    print(f"import / baseline: x{rate / base_rate:.2f}")
    if rerun is not None:
        rerun_seconds, rerun_run = rerun
        print(f"rerun (nothing changed): {records / rerun_seconds:,.0f} records/s, created"
              f" {rerun_run.created}, updated {rerun_run.updated}")  # fmt: skip
    print("all counts match" if not mismatches else f"MISMATCH: {', '.join(mismatches)}")
    sys.exit(1 if mismatches or run.status != "succeeded" else 0)


if __name__ == "__main__":
    main()
