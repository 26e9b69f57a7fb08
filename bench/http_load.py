"""Hot endpoints over HTTP under wrk, next to the ceiling of a bare DRF view, in one run.

    .venv/bin/python bench/http_load.py [--duration 15] [--connections 32] [--threads 2]
        [--workers 4] [--beside 5] [--only feed,like] [--json figures.json]
        [--viewer-blocks N]
    make bench-http BENCH_ARGS="--duration 5"

Starts two gunicorns on free loopback ports, with the same number of sync workers
(--workers, default 4): the project (`gunicorn puppies.wsgi`) and the ceiling app
(`bench/ceiling.py`: one DRF APIView answering a fixed 20-post page with our field names,
no database, no middleware, no auth), then loads each endpoint in turn with wrk (default
`-t2 -c32 -d15s --latency`) and prints req/s, the share of the ceiling's req/s, p50, p99
and the errors (responses >= 400, plus connect/read/write/timeout errors) per endpoint
(the gunicorns' output goes to .local/bench-http/app.log and ceiling.log):

    ceiling      GET  (the ceiling app)
    feed         GET  /v1/feed                   first page, the reader's token
    feed-next    GET  /v1/feed?cursor=...        the next page (cursor of the first)
    post         GET  /v1/posts/{id}             1000 posts, 200 other users' tokens in turn
    user-posts   GET  /v1/users/{id}/posts       100 authors, 200 tokens in turn
    like         POST /v1/posts/{id}/likes       4000 (user, post) pairs already liked:
                                                 repeat likes, 200 (201 if a pair was unliked)
    unlike       DELETE /v1/posts/{id}/likes     the same pairs: 204
    create-post  POST /v1/posts                  {"content"}: 201, the 200 other users
    comment      POST /v1/posts/{id}/comments    {"content"}: 201

Each endpoint's share is of the ceiling measured just before it (`--beside` seconds,
default 5; 0 compares every endpoint with the ceiling's own row instead): on a shared
machine whose speed drifts within a run, a ceiling measured minutes apart is not the same
machine (shares of one run once ranged 56-92% for one endpoint). The table shows that
ceiling's req/s beside each share.

then `GET /v1/feed` from one client with no other load (wrk -t1 -c1 -d5s), p50 and p99
(name `feed-1client` for --only). Each endpoint is checked first with one real request
(http.client), and the run stops with the response body (and the server log's tail) if
it does not answer the expected 2xx (so a redirect cannot pass unnoticed either). wrk's
Lua script (in a temp dir) sets the bearer token, method and JSON body and rotates
through the users and posts per request; its `done()` prints the figures as one JSON
line. wrk is installed with apt-get when missing and this runs as root.

Before the loads, every user reads once and a Celery worker with beat (as `make run`
runs it) drains the like buffer, which builds each reader's set of liked posts: the
steady state of a running site. The worker is then stopped: in production workers run
in their own processes or pods, and here they would take the web's two cores (fan-out
is measured by bench/feed.py). Created posts leave their fan-out events in the outbox:
its relay runs in the workers.

Dataset, rebuilt on each run in its own database (BENCH_DATABASE_URL, default database
`puppies_bench_http` on the DATABASE_URL server: created if missing, migrated, emptied)
and its own Redis database (BENCH_REDIS_URL, default redis://127.0.0.1:6379/13, flushed):
one reader following 100 authors with 10 posts each, pushed into the reader's feed with
`feed.services.push_post`; 200 other users who liked 20 of those posts (4000 likes),
commented twice on each post and create posts and comments during the run. Every user is
active now (`last_active_at`); rate limits are off (RATELIMIT_ENABLE=false), DEBUG=false,
LOG_LEVEL=WARNING. With --viewer-blocks N the reader also blocks N users it does not
follow and mutes N others, up to MUTED_FOLLOWEES_MAX of them its followees (whose posts
the feed then filters at read time): the cost of blocks and mutes on the hot reads.
Bounded: the default run takes about 3 minutes, and the gunicorns this starts are killed
(process groups) on exit, on error and on Ctrl-C.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402 - needs ROOT on the path
    BenchError,
    Process,
    Server,
    Worker,
    bench_urls,
    call,
    ensure_database,
    git_commit,
    run_main,
    server_env,
    use_bench_keys,
)

DATABASE_URL, REDIS_URL = bench_urls("puppies_bench_http", 13)

# The settings of this process and of the project's gunicorn alike.
BENCH_ENV = {
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": REDIS_URL,
    "LIKE_BUFFER_REDIS_URL": REDIS_URL,
    "CELERY_TASK_ALWAYS_EAGER": "false",  # fan-out stays out of the request
    "RATELIMIT_ENABLE": "false",  # a load test from one IP; limits are not measured
    "LOG_LEVEL": "WARNING",
    "DEBUG": "false",
}
os.environ.update(BENCH_ENV)
use_bench_keys()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")

AUTHORS, POSTS_PER_AUTHOR, OTHERS = 100, 10, 200
LIKED_POSTS = 20  # every other user has liked the 20 newest posts: 4000 (user, post) pairs
COMMENTS_PER_POST = 2
CONTENT = (
    "Biscuit met a new friend at the park today and would not stop wagging. "
    "Best walk of the week, again!"
)  # 100 characters, as in bench/ceiling.py
RESULT_MARK = "BENCH-RESULT "
LOG_DIR = ROOT / ".local" / "bench-http"  # the gunicorns' output (a 4xx logs a line each)
QUIET_S = 1.0
LIKE_FLUSH_INTERVAL_S = 2  # the project's default
ONE_CLIENT_S = 5
WRK_TIMEOUT = "10s"  # a slow answer is a slow answer, not a wrk timeout error
NAMES = [
    "ceiling",
    "feed",
    "feed-next",
    "post",
    "user-posts",
    "like",
    "unlike",
    "create-post",
    "comment",
    "feed-1client",
]


def seconds(text: str) -> int:
    value = int(text.removesuffix("s"))
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1 second")
    return value


def names(text: str) -> list[str]:
    chosen = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in NAMES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(NAMES)}")
    return chosen


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=seconds, default=15, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, each app")
    parser.add_argument(
        "--beside", type=int, default=5, help="seconds of ceiling before each endpoint (0: off)"
    )
    parser.add_argument("--only", type=names, default=NAMES, help=f"a subset of: {','.join(NAMES)}")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--viewer-blocks",
        type=int,
        default=0,
        metavar="N",
        help="the reader blocks N users it does not follow and mutes N others, "
        f"{MUTED_FOLLOWEES_MAX} of them (at most) among its followees",
    )
    args = parser.parse_args()
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


# --- wrk --------------------------------------------------------------------------


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or not apt:
        raise BenchError(
            "wrk is not installed: install it (Debian/Ubuntu: `sudo apt-get install wrk`, "
            "macOS: `brew install wrk`) and run again"
        )
    print("wrk is missing: apt-get install wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, timeout=300, check=False).returncode != 0:  # noqa: S603 - fixed argv
        # stale package lists: update them once, then try again
        subprocess.run([apt, "update", "-q"], env=env, timeout=300, check=False)  # noqa: S603 - fixed argv
        subprocess.run(install, env=env, timeout=300, check=False)  # noqa: S603 - fixed argv
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("apt-get could not install wrk; install it and run again")
    return wrk


def lua_str(text: str) -> str:
    """A Lua string literal (decimal escapes for anything unusual)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if (char.isascii() and char.isalnum()) or char in " -_.:/?=&%{}()[],;+*~!@#$^|<>'":
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


LUA = """
-- written by bench/http_load.py: rotate through the variants, one per request
local method = {method}
local body_fmt = {body_fmt}
local tokens = {{ {tokens} }}
local paths = {{ {paths} }}
local who = {{ {who} }}
local nthreads = {threads}
local counter = 0

local started = 0
function setup(thread)
  thread:set("tid", started)
  started = started + 1
end

function request()
  local k = (tid or 0) + counter * nthreads
  counter = counter + 1
  local v = k % #paths + 1
  local headers = {{ ["Authorization"] = "Bearer " .. tokens[who[v]] }}
  local body = nil
  if body_fmt then
    headers["Content-Type"] = "application/json"
    body = string.format(body_fmt, k)
  end
  return wrk.format(method, paths[v], headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, '
    .. '"status": %.0f, "connect": %.0f, "read": %.0f, "write": %.0f, "timeout": %.0f}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Endpoint:
    name: str
    label: str
    port: int
    method: str
    variants: list[tuple[str, int]]  # (path, index in tokens), one per request in turn
    expect: tuple[int, ...]
    body_fmt: str | None = None  # %d: the request's number
    result: dict = field(default_factory=dict)
    ceiling_beside: float | None = None  # req/s of the ceiling measured just before

    def share(self, ceiling: float | None) -> float | None:
        ceiling = self.ceiling_beside or ceiling
        return self.result["req_s"] / ceiling if ceiling else None

    def body(self, k: int) -> bytes | None:
        return (self.body_fmt % k).encode() if self.body_fmt else None


def write_lua(endpoint: Endpoint, tokens: list[str], threads: int, tmp: Path) -> Path:
    script = LUA.format(
        method=lua_str(endpoint.method),
        body_fmt=lua_str(endpoint.body_fmt) if endpoint.body_fmt else "nil",
        tokens=", ".join(lua_str(t) for t in tokens),
        paths=", ".join(lua_str(p) for p, _ in endpoint.variants),
        who=", ".join(str(w + 1) for _, w in endpoint.variants),
        threads=threads,
        mark=RESULT_MARK,
    )
    path = tmp / f"{endpoint.name}.lua"
    path.write_text(script)
    return path


def run_wrk(
    wrk: str,
    endpoint: Endpoint,
    tokens,
    tmp: Path,
    *,
    threads: int,
    connections: int,
    duration: int,
) -> dict:
    script = write_lua(endpoint, tokens, threads, tmp)
    command = [
        wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
        "--timeout", WRK_TIMEOUT, "-s", str(script), f"http://127.0.0.1:{endpoint.port}",
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - fixed argv
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise BenchError(
            f"wrk failed on {endpoint.label} (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )
    raw = json.loads(lines[-1].removeprefix(RESULT_MARK))
    errors = {k: int(raw[k]) for k in ("status", "connect", "read", "write", "timeout")}
    return {
        "requests": int(raw["requests"]),
        "req_s": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": sum(errors.values()),
        "error_kinds": {k: n for k, n in errors.items() if n},
    }


# --- one real request --------------------------------------------------------------


def check(endpoint: Endpoint, tokens: list[str]) -> bytes:
    """One real request of the endpoint's first variant; BenchError unless expected."""
    path, who = endpoint.variants[0]
    status, body = call(endpoint.port, endpoint.method, path, tokens[who], endpoint.body(0))
    if status not in endpoint.expect:
        text = body.decode(errors="replace")[:4000]
        raise BenchError(
            f"{endpoint.label}: {endpoint.method} {path} answered {status}, expected "
            f"{' or '.join(map(str, endpoint.expect))}:\n{text}"
        )
    return body


# --- servers -----------------------------------------------------------------------


def settle(app_port: int, data: "Dataset", tokens: list[str]) -> None:
    """Bring the project to the steady state of a running site, then stop the worker.

    Every user reads once (which renders and caches posts and asks for their liked set);
    a Celery worker with beat, as `make run` runs it, then drains the like buffer, which
    builds those sets. It is stopped before the loads: in production workers run in their
    own processes or pods, and on these two cores it would take the web's CPU (fan-out is
    measured by bench/feed.py)."""
    worker = Worker(LOG_DIR, server_env(BENCH_ENV))
    try:
        for token in tokens:
            for path in ("/v1/feed", f"/v1/posts/{data.posts[0].pk}"):
                call(app_port, "GET", path, token)
        time.sleep(2 * LIKE_FLUSH_INTERVAL_S + 1)
    finally:
        worker.stop()


# --- dataset -----------------------------------------------------------------------


@dataclass
class Dataset:
    reader: object
    authors: list
    others: list
    posts: list
    liked_pairs: list[tuple[int, int]]  # (index in others, post id)
    reader_token: str
    other_tokens: list[str]


# With --viewer-blocks: this many of the reader's mutes are followees (their posts stay in
# its feed table and are filtered at read time); the rest are users it does not follow.
MUTED_FOLLOWEES_MAX = 5


def build_dataset(viewer_blocks: int = 0) -> Dataset:
    import redis
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from feed.models import FeedEntry
    from feed.services import push_post
    from interactions.models import Comment, Like
    from posts.models import Post
    from users.models import Block, Follow, Mute, User

    redis.Redis.from_url(REDIS_URL).flushdb()
    call_command("migrate", verbosity=0)
    keep = {"django_migrations", "django_content_type", "auth_permission", "auth_group"}
    tables = [
        t
        for t in connection.introspection.django_table_names(only_existing=True)
        if t not in keep and not t.startswith("auth_group")
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"TRUNCATE {', '.join(connection.ops.quote_name(t) for t in tables)} "
            "RESTART IDENTITY CASCADE"
        )

    now = timezone.now()
    unusable = make_password(None)  # these accounts never log in

    def user(username: str, **fields) -> User:
        return User(
            username=username,
            email=f"{username}@example.com",
            display_name=username.capitalize(),
            avatar_url=f"https://cdn.example.com/avatars/{username}.jpg",
            password=unusable,
            last_active_at=now,
            **fields,
        )

    reader = user("reader", following_count=AUTHORS)
    authors = [
        user(f"author{i:03d}", follower_count=1, post_count=POSTS_PER_AUTHOR)
        for i in range(AUTHORS)
    ]
    others = [user(f"fan{i:03d}") for i in range(OTHERS)]
    User.objects.bulk_create([reader, *authors, *others])
    Follow.objects.bulk_create(Follow(follower=reader, followee=a, created_at=now) for a in authors)

    total = AUTHORS * POSTS_PER_AUTHOR
    posts = Post.objects.bulk_create(
        Post(
            author=authors[j % AUTHORS],
            content=CONTENT,
            like_count=0,
            comment_count=COMMENTS_PER_POST,
            created_at=now - timedelta(minutes=total - j),
        )
        for j in range(total)
    )  # posts[-1] is the newest
    liked = [p.pk for p in posts[-LIKED_POSTS:]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Like._meta.db_table} (user_id, post_id, created_at) "
            "SELECT u, p, now() FROM unnest(%s::bigint[]) u CROSS JOIN unnest(%s::bigint[]) p",
            [[o.pk for o in others], liked],
        )
        cursor.execute(
            f"UPDATE {Post._meta.db_table} SET like_count = %s WHERE id = ANY(%s)",
            [OTHERS, liked],
        )
    Comment.objects.bulk_create(
        Comment(
            post=post,
            author=others[(j * COMMENTS_PER_POST + c) % OTHERS],
            content="What a good dog!",
            created_at=post.created_at + timedelta(seconds=10 + c),
        )
        for j, post in enumerate(posts)
        for c in range(COMMENTS_PER_POST)
    )
    pushed = sum(push_post(post) for post in posts)
    in_feed = FeedEntry.objects.filter(owner_id=reader.pk).count()
    if pushed != total or in_feed != total:
        raise BenchError(f"push_post put {in_feed} posts in the reader's feed, not {total}")

    if viewer_blocks:
        strangers = [user(f"stranger{i:04d}") for i in range(2 * viewer_blocks)]
        User.objects.bulk_create(strangers)
        muted_followees = authors[: min(MUTED_FOLLOWEES_MAX, viewer_blocks)]
        Block.objects.bulk_create(
            Block(blocker=reader, blocked=s, created_at=now) for s in strangers[:viewer_blocks]
        )
        muted = [*muted_followees, *strangers[viewer_blocks:]][:viewer_blocks]
        Mute.objects.bulk_create(Mute(muter=reader, muted=m, created_at=now) for m in muted)

    pairs = [(i, post_id) for i in range(OTHERS) for post_id in liked]
    return Dataset(
        reader=reader,
        authors=authors,
        others=others,
        posts=posts,
        liked_pairs=pairs,
        reader_token=str(RefreshToken.for_user(reader).access_token),
        other_tokens=[str(RefreshToken.for_user(o).access_token) for o in others],
    )


def endpoints(data: Dataset, ceiling_port: int, app_port: int) -> list[Endpoint]:
    """Token index 0 is the reader's, 1.. the other users' in order."""
    rng = random.Random(7)
    post_ids = [p.pk for p in data.posts]
    rng.shuffle(post_ids)
    author_ids = [a.pk for a in data.authors]
    like_pairs = list(data.liked_pairs)
    rng.shuffle(like_pairs)
    unlike_pairs = list(data.liked_pairs)
    rng.shuffle(unlike_pairs)
    words = "Walked the new puppy along the river, request %d; she found a stick twice her size."
    return [
        Endpoint("ceiling", "ceiling (bare DRF)", ceiling_port, "GET", [("/v1/feed", 0)], (200,)),
        Endpoint("feed", "GET /v1/feed", app_port, "GET", [("/v1/feed", 0)], (200,)),
        Endpoint(
            "feed-next", "GET /v1/feed?cursor= (page 2)", app_port, "GET", [("", 0)], (200,)
        ),  # path set once the first page is known
        Endpoint(
            "post",
            "GET /v1/posts/{id}",
            app_port,
            "GET",
            [(f"/v1/posts/{p}", 1 + k % OTHERS) for k, p in enumerate(post_ids)],
            (200,),
        ),
        Endpoint(
            "user-posts",
            "GET /v1/users/{id}/posts",
            app_port,
            "GET",
            [(f"/v1/users/{author_ids[k % AUTHORS]}/posts", 1 + k) for k in range(OTHERS)],
            (200,),
        ),
        Endpoint(
            "like",
            "POST /v1/posts/{id}/likes",
            app_port,
            "POST",
            [(f"/v1/posts/{p}/likes", 1 + i) for i, p in like_pairs],
            (200, 201),
        ),
        Endpoint(
            "unlike",
            "DELETE /v1/posts/{id}/likes",
            app_port,
            "DELETE",
            [(f"/v1/posts/{p}/likes", 1 + i) for i, p in unlike_pairs],
            (204,),
        ),
        Endpoint(
            "create-post",
            "POST /v1/posts",
            app_port,
            "POST",
            [("/v1/posts", 1 + k) for k in range(OTHERS)],
            (201,),
            body_fmt=json.dumps({"content": words}),
        ),
        Endpoint(
            "comment",
            "POST /v1/posts/{id}/comments",
            app_port,
            "POST",
            [(f"/v1/posts/{p}/comments", 1 + k % OTHERS) for k, p in enumerate(post_ids)],
            (201,),
            body_fmt=json.dumps({"content": "Good dog! Comment %d, with a treat for the pup."}),
        ),
    ]


# --- the run -----------------------------------------------------------------------


def first_page(app_port: int, token: str) -> dict:
    status, body = call(app_port, "GET", "/v1/feed", token)
    page = json.loads(body) if status == 200 else None
    if not page or len(page.get("results", [])) != 20 or not page.get("next_cursor"):
        raise BenchError(
            f"GET /v1/feed answered {status}, not a full first page with a next_cursor:\n"
            f"{body.decode(errors='replace')[:4000]}"
        )
    return page


def compare_shape(ceiling_port: int, app_port: int, token: str) -> None:
    """Warn if the ceiling's posts no longer have the project's fields: the share is off."""
    pages = [
        json.loads(call(port, "GET", "/v1/feed", token)[1]) for port in (ceiling_port, app_port)
    ]
    ceiling, ours = (page["results"][0] for page in pages)
    if ceiling.keys() != ours.keys() or ceiling["author"].keys() != ours["author"].keys():
        print(
            f"WARNING: the ceiling's post fields {sorted(ceiling)} differ from the project's "
            f"{sorted(ours)}: update bench/ceiling.py"
        )


def log_tails(servers: list, lines: int = 30) -> str:
    """The last lines the gunicorns logged (tracebacks of 500s land there)."""
    out = ""
    for server in servers:
        tail = server.tail(lines)
        if tail.strip():
            out += f"\n--- the last lines of {server.log.relative_to(ROOT)} ---\n{tail}"
    return out


def print_table(rows: list[Endpoint], ceiling: float | None) -> None:
    header = (
        f"{'endpoint':30} {'req/s':>8} {'share of ceiling':>17} {'ceiling beside':>15}"
        f" {'p50 ms':>8} {'p99 ms':>8}  errors"
    )
    print(header)
    print("-" * len(header))
    for e in rows:
        r = e.result
        share = e.share(ceiling)
        share_text = f"{share:.0%}" if share is not None else "-"
        beside = f"{e.ceiling_beside:.0f}" if e.ceiling_beside else "-"
        errors = str(r["errors"])
        if r["errors"]:
            kinds = ", ".join(f"{k} {n}" for k, n in r["error_kinds"].items())
            errors += f" of {r['requests']} ({kinds})"
        print(
            f"{e.label:30} {r['req_s']:8.0f} {share_text:>17} {beside:>15}"
            f" {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}  {errors}"
        )


def main(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    ensure_database(DATABASE_URL)
    import django

    django.setup()

    started = time.monotonic()
    print(f"building the dataset in {urlparse(DATABASE_URL).path.lstrip('/')} ...", flush=True)
    data = build_dataset(args.viewer_blocks)
    print(
        f"  reader following {AUTHORS} authors x {POSTS_PER_AUTHOR} posts (feed: "
        f"{len(data.posts)} entries), {OTHERS} other users, {len(data.liked_pairs)} likes "
        f"({time.monotonic() - started:.1f} s)"
        + (
            f"; the reader blocks {args.viewer_blocks} users and mutes {args.viewer_blocks}"
            if args.viewer_blocks
            else ""
        ),
        flush=True,
    )
    tokens = [data.reader_token, *data.other_tokens]
    wanted = set(args.only)
    load = {"threads": args.threads, "connections": args.connections, "duration": args.duration}
    servers: list[Process] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp_dir:
            tmp = Path(tmp_dir)
            ceiling_port = app_port = 0
            if "ceiling" in wanted:
                ceiling_env = server_env(BENCH_ENV)
                ceiling_env.pop("DJANGO_SETTINGS_MODULE", None)  # the ceiling configures itself
                servers.append(
                    Server("bench.ceiling:application", args.workers, "/", LOG_DIR, ceiling_env,
                           log_name="ceiling.log")
                )  # fmt: skip
                ceiling_port = servers[-1].port
            if wanted - {"ceiling"}:
                servers.append(
                    Server("puppies.wsgi", args.workers, "/healthz", LOG_DIR, server_env(BENCH_ENV))
                )
                app_port = servers[-1].port
                settle(app_port, data, tokens)
            print(
                f"gunicorn: {args.workers} sync workers each "
                + ", ".join(f"{s.app} on :{s.port}" for s in servers if isinstance(s, Server))
                + " (after the steady state was reached with a Celery worker and beat)",
                flush=True,
            )
            todo = [e for e in endpoints(data, ceiling_port, app_port) if e.name in wanted]
            for e in todo:
                if e.name == "feed-next":
                    cursor = first_page(app_port, data.reader_token)["next_cursor"]
                    e.variants = [(f"/v1/feed?cursor={quote(cursor, safe='')}", 0)]

            # Warm-up, not counted: every worker imports and connects on first use.
            warm = endpoints(data, ceiling_port, app_port)[:2]  # the ceiling, the feed
            for e in (w for w in warm if w.port):
                check(e, tokens)
                run_wrk(wrk, e, tokens, tmp, **{**load, "duration": 2})
            if ceiling_port and app_port:
                compare_shape(ceiling_port, app_port, data.reader_token)

            ceiling_row = next((e for e in todo if e.name == "ceiling"), None)
            for e in todo:
                if ceiling_row and e is not ceiling_row and args.beside:
                    time.sleep(QUIET_S)
                    beside = {**load, "duration": args.beside}
                    e.ceiling_beside = run_wrk(wrk, ceiling_row, tokens, tmp, **beside)["req_s"]
                time.sleep(QUIET_S)
                check(e, tokens)
                print(f"  {e.label} ...", end=" ", flush=True)
                e.result = run_wrk(wrk, e, tokens, tmp, **load)
                print(f"{e.result['req_s']:.0f} req/s, errors {e.result['errors']}", flush=True)

            one_client = None
            if "feed-1client" in wanted:
                time.sleep(QUIET_S)
                feed = Endpoint("feed-1client", "GET /v1/feed", app_port, "GET",
                                [("/v1/feed", 0)], (200,))  # fmt: skip
                check(feed, tokens)
                one_client = run_wrk(
                    wrk, feed, tokens, tmp, threads=1, connections=1, duration=ONE_CLIENT_S
                )
    except BenchError as exc:
        raise BenchError(f"{exc}{log_tails(servers)}") from None
    finally:
        for server in servers:
            server.stop()

    ceiling = next((e.result["req_s"] for e in todo if e.name == "ceiling"), None)
    commit = git_commit()
    print()
    print_table(todo, ceiling)
    if one_client:
        print(
            f"\none client, no load (wrk -t1 -c1 -d{ONE_CLIENT_S}s): GET /v1/feed p50 "
            f"{one_client['p50_ms']:.1f} ms, p99 {one_client['p99_ms']:.1f} ms "
            f"({one_client['req_s']:.0f} req/s, errors {one_client['errors']})"
        )
    print(
        f"\nsettings: gunicorn --workers {args.workers} (sync) for both apps; wrk "
        f"-t{args.threads} -c{args.connections} -d{args.duration}s --latency (ceiling beside "
        f"each: {args.beside}s); commit {commit}; "
        f"{os.cpu_count()} CPUs; run took {time.monotonic() - started:.0f} s; server logs in "
        f"{LOG_DIR.relative_to(ROOT)}/"
    )
    if args.json:
        figures = {
            "settings": {
                "workers": args.workers,
                "threads": args.threads,
                "connections": args.connections,
                "duration_s": args.duration,
                "ceiling_beside_s": args.beside,
                "commit": commit,
                "cpus": os.cpu_count(),
            },
            "endpoints": [
                {
                    "name": e.name,
                    "endpoint": e.label,
                    **e.result,
                    "share_of_ceiling": e.share(ceiling),
                    "ceiling_beside_req_s": e.ceiling_beside,
                }
                for e in todo
            ],
            "one_client_feed": one_client,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    errors = sum(e.result["errors"] for e in todo) + (one_client or {}).get("errors", 0)
    if errors:
        print(f"ERRORS: {errors} responses were not 2xx or failed (see the errors column)")
        print(log_tails(servers, lines=10))
    return 1 if errors else 0


if __name__ == "__main__":
    run_main("bench-http", main, parse_args())
