"""Fault drills, each under a light load mix, with invariants checked after each.

    .venv/bin/python bench/faults.py [--only worker,redis,postgres,broker,gunicorn]
    make bench-faults

Everything runs on servers of its own, on free loopback ports (scripts/local_servers.py): a
PostgreSQL (initdb + pg_ctl in a temp directory), the Redis of caches and the like buffer
and the broker's Redis (two `redis-server`s with AOF `always`, as `make run` starts its
own), and the stack as the Procfile runs it (bench/load.py's Stack: gunicorn, the
maintenance and fan-out Celery workers, beat). The dataset is bench/feed.py's at
`--scale` (default 0.02: 2k users, 200k follows, 20k posts). Background load: locust with
bench/load.py's mix, `--users` users (default 4) with 0.3 s of think time. On top, each
drill's own clients write and record every answer: an author with 170 followers (pushed)
and a VIP author (pulled at read time) with 20 posting, their followers commenting and
following, a reader reading its feed, and a like storm by 150 users on a post of its
own. The drills:

    worker    the fan-out worker SIGKILLed right after a post is accepted (mid-fan-out),
              started again 3 s later
    redis     the cache/like-buffer Redis SIGKILLed during the like storm (after 30 likes
              were answered), started again 3 s later on its AOF
    postgres  PostgreSQL stopped (pg_ctl -m fast) for 20 s, then started: cached reads
              answer 200, writes 503 (never 500), and writes succeed again without any
              process of the stack restarted
    broker    the broker's Redis SIGKILLed for 30 s while the authors post: posts are
              still accepted, and delivered once it is back
    gunicorn  a gunicorn worker SIGKILLed under load; the master replaces it

After each drill, once the load stops and the like buffer is drained: every accepted post
is in every follower's feed (FeedEntry rows for the pushed author; the feed selector's
merged page for the VIP), Like rows of the storm equal its 2xx answers, `repair_counters`
finds nothing to repair, and every accepted post, comment and follow exists; no answer
was a 500. Prints a pass/fail table; exit status 1 if any drill failed. The outbox's
re-dispatch interval is shortened (OUTBOX_REDISPATCH_AFTER_S=15, relay beat every 5 s) so
that a fan-out lost with a killed worker is redone within the drill's wait (90 s).
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import run_main  # noqa: E402
from scripts.local_servers import PostgresServer, RedisServer, find_binary  # noqa: E402

DRILLS = ["worker", "redis", "postgres", "broker", "gunicorn"]
LOG_DIR = ROOT / ".local" / "bench-faults"
SETTLE_S = 90
FOLLOWERS, GRAPH_FOLLOWERS, LIKERS = 20, 150, 150


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(DRILLS), help=f"of {','.join(DRILLS)}")
    parser.add_argument("--users", type=int, default=4, help="locust users (light load)")
    parser.add_argument("--scale", type=float, default=0.02, help="of bench/feed.py's dataset")
    parser.add_argument("--outage", type=int, default=20, help="PostgreSQL down, seconds")
    parser.add_argument("--broker-outage", type=int, default=30, help="broker down, seconds")
    args = parser.parse_args()
    args.only = [d.strip() for d in args.only.split(",") if d.strip()]
    unknown = set(args.only) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drills {sorted(unknown)}")
    return args


# --- what the drill's own clients did ---------------------------------------------------


class Ledger:
    """Every answer the drill's clients got, and the writes the API accepted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()  # (kind, status)
        self.posts: dict[int, int] = {}  # post id -> author id
        self.comments: set[int] = set()
        self.follows: set[tuple[int, int]] = set()
        self.likes: set[int] = set()  # likers answered 2xx on the storm's post

    def record(self, kind: str, status: int) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1

    def count(self, kind: str | None = None, status: int | None = None) -> int:
        with self.lock:
            return sum(
                n
                for (k, s), n in self.statuses.items()
                if (kind is None or k == kind) and (status is None or s == status)
            )


class Drill:
    """The users a drill acts as, with their tokens, and its clients."""

    def __init__(self, stack, ids: dict, tokens: dict[int, str]):
        self.stack, self.ids, self.tokens = stack, ids, tokens
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.rng = random.Random(7)
        # Each drill's like storm has a post of its own, created as the API would.
        from posts.services import create_post
        from users.models import User

        author = User.objects.get(pk=ids["author"])
        self.storm_post = create_post(author=author, content="like me").pk

    def request(self, kind: str, method: str, path: str, user: int, body: dict | None = None):
        from bench.support import call

        data = json.dumps(body).encode() if body is not None else None
        try:
            status, answer = call(self.stack.port, method, path, self.tokens[user], data)
        except OSError:
            status, answer = 0, b""  # connection refused or cut: not an answer
        self.ledger.record(kind, status)
        return status, answer

    def post(self, author: int) -> None:
        status, body = self.request(
            "post", "POST", "/v1/posts", author, {"content": "drill post, good dog"}
        )
        if status == 201:
            with self.ledger.lock:
                self.ledger.posts[json.loads(body)["id"]] = author

    def writer(self) -> None:
        """The authors post, followers comment on an accepted post and follow someone;
        the reader reads its feed (a cached first page while PostgreSQL is down)."""
        a, v, followers = self.ids["author"], self.ids["vip"], self.ids["followers"]
        graph = self.ids["graph"]
        n = 0
        while not self.stop.is_set():
            n += 1
            self.post(a if n % 2 else v)
            fan = followers[n % len(followers)]
            with self.ledger.lock:
                target = next(reversed(self.ledger.posts), None)
            if target is not None and n % 3 == 0:
                status, body = self.request(
                    "comment", "POST", f"/v1/posts/{target}/comments", fan, {"content": "woof"}
                )
                if status == 201:
                    with self.ledger.lock:
                        self.ledger.comments.add(json.loads(body)["id"])
            if n % 5 == 0:
                followee = self.rng.choice(graph)
                status, _ = self.request("follow", "POST", f"/v1/users/{followee}/follow", fan)
                if status in (200, 201):
                    with self.ledger.lock:
                        self.ledger.follows.add((fan, followee))
            self.request("read", "GET", "/v1/feed", self.ids["reader"])
            self.stop.wait(0.1)

    def like_storm(self, threads: int = 4) -> None:
        likers = iter(self.ids["likers"])
        lock = threading.Lock()
        post_id = self.storm_post

        def storm() -> None:
            while not self.stop.is_set():
                with lock:
                    liker = next(likers, None)
                if liker is None:
                    return
                status, _ = self.request("like", "POST", f"/v1/posts/{post_id}/likes", liker)
                if 200 <= status < 300:
                    with self.ledger.lock:
                        self.ledger.likes.add(liker)
                time.sleep(0.02)

        for _ in range(threads):
            self.spawn(storm)

    def spawn(self, target) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


# --- the dataset's drill users ------------------------------------------------------------


def drill_users(scale: float) -> tuple[dict, dict[int, str]]:
    """An author (220 followers), a pinned VIP author (20), 20 followers, 150 likers and
    the storm's post; access tokens for all (made once per run: the database is new)."""
    from django.conf import settings
    from django.utils import timezone

    from feed import services as feed
    from users.auth import AccessToken
    from users.models import Follow, User

    now = timezone.now()

    def users(prefix: str, count: int) -> list:
        made = (
            User(
                username=f"{prefix}{n}",
                email=f"{prefix}{n}@bench.invalid",
                password="!",  # noqa: S106 - unusable: they act with minted tokens
                last_active_at=now,
            )
            for n in range(count)
        )
        return User.objects.bulk_create(made)

    author, vip, reader = users("drill_author", 3)
    followers, likers = users("drill_fan", FOLLOWERS), users("drill_liker", LIKERS)
    graph = list(
        User.objects.filter(username__regex=r"^u[0-9]+$").values_list("pk", flat=True)[:2000]
    )
    rng = random.Random(3)
    pushed = [*rng.sample(graph, GRAPH_FOLLOWERS), *(f.pk for f in followers)]
    Follow.objects.bulk_create(Follow(follower_id=f, followee=author) for f in pushed)
    Follow.objects.bulk_create(Follow(follower=f, followee=vip) for f in followers)
    # The reader follows a few quiet users: its cached first page is not dropped by
    # fan-out right before an outage, so reads while PostgreSQL is down find it.
    Follow.objects.bulk_create(Follow(follower=reader, followee_id=f) for f in graph[-5:])
    feed.pull_always(vip)
    if len(pushed) >= settings.VIP_EXIT_FOLLOWER_THRESHOLD:
        raise RuntimeError(f"the pushed author's {len(pushed)} followers would make it a VIP")
    everyone = [author, vip, reader, *followers, *likers]
    tokens = {u.pk: str(AccessToken.for_user(u)) for u in everyone}
    ids = {
        "author": author.pk,
        "vip": vip.pk,
        "reader": reader.pk,
        "followers": [f.pk for f in followers],
        "pushed": pushed,
        "likers": [u.pk for u in likers],
        "graph": graph,
    }
    return ids, tokens


# --- invariants ----------------------------------------------------------------------------


def repair_counters() -> int:
    """Rows `repair_counters` found wrong (and fixed)."""
    from django.core.management import call_command

    out = StringIO()
    call_command("repair_counters", "--no-progress", stdout=out)
    return sum(int(line.split(", ")[1].split()[0]) for line in out.getvalue().splitlines())


def drain() -> None:
    """Until the like buffer is empty (beat's drain may hold the lock meanwhile)."""
    from interactions import like_buffer
    from interactions.services import likes

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        likes.drain_like_buffer()
        if not like_buffer.depth():
            return
        time.sleep(1)


def delivered(drill: Drill) -> tuple[bool, str]:
    """Every accepted post in every follower's feed: FeedEntry rows for the pushed author,
    the merged page of the feed selector for the VIP."""
    from feed import selectors
    from feed.models import FeedEntry
    from users.models import User

    with drill.ledger.lock:
        pushed = [p for p, a in drill.ledger.posts.items() if a == drill.ids["author"]]
        pulled = [p for p, a in drill.ledger.posts.items() if a == drill.ids["vip"]]
    want = len(pushed) * len(drill.ids["pushed"])
    have = FeedEntry.objects.filter(post_id__in=pushed, owner_id__in=drill.ids["pushed"]).count()
    missing_vip = 0
    for fan in User.objects.filter(pk__in=drill.ids["followers"]):
        page = selectors.feed_page(fan, after=None, limit=100 + len(pushed) + len(pulled))
        missing_vip += len(set(pulled) - set(page.post_ids))
    ok = have == want and not missing_vip
    return ok, (
        f"{len(pushed)} pushed posts: {have}/{want} feed rows; {len(pulled)} VIP posts: "
        f"{missing_vip} missing from 20 merged feeds"
    )


def check(drill: Drill) -> list[tuple[str, bool, str]]:
    from django.db import connections

    from interactions.models import Comment, Like
    from posts.models import Post
    from users.models import Follow

    connections.close_all()  # a connection from before a PostgreSQL restart is dead
    ledger = drill.ledger
    deadline = time.monotonic() + SETTLE_S
    while True:
        ok, detail = delivered(drill)
        if ok or time.monotonic() > deadline:
            break
        time.sleep(2)
    results = [("posts in followers' feeds", ok, detail)]
    drain()
    rows = set(
        Like.objects.filter(post_id=drill.storm_post, user_id__in=drill.ids["likers"]).values_list(
            "user_id", flat=True
        )
    )
    results.append((
        "Like rows = accepted likes",
        rows == ledger.likes,
        f"{len(rows)} rows, {len(ledger.likes)} accepted, "
        f"{len(ledger.likes - rows)} lost, {len(rows - ledger.likes)} unanswered",
    ))  # fmt: skip
    fixed = repair_counters()
    results.append(("counters = repair_counters", fixed == 0, f"{fixed} rows repaired"))
    posts = Post.objects.filter(pk__in=list(ledger.posts), deleted_at__isnull=True).count()
    comments = Comment.objects.filter(pk__in=ledger.comments).count()
    follows = sum(
        Follow.objects.filter(follower_id=a, followee_id=b).exists() for a, b in ledger.follows
    )
    kept = (posts, comments, follows) == (
        len(ledger.posts),
        len(ledger.comments),
        len(ledger.follows),
    )
    results.append((
        "no accepted write lost",
        kept,
        f"posts {posts}/{len(ledger.posts)}, comments {comments}/{len(ledger.comments)}, "
        f"follows {follows}/{len(ledger.follows)}",
    ))  # fmt: skip
    errors = ledger.count(status=500)
    results.append(("no 500 answer", errors == 0, f"{errors} of {ledger.count()} answers"))
    return results


# --- the drills ------------------------------------------------------------------------------


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def drill_worker(drill: Drill, servers: dict, args) -> list[tuple[str, bool, str]]:
    drill.spawn(drill.writer)
    drill.like_storm()
    before = drill.ledger.count("post", 201)
    wait_until(lambda: drill.ledger.count("post", 201) > before + 3, 30, 0.001)
    os.killpg(drill.stack.workers["fanout"].pid, signal.SIGKILL)  # the post just accepted
    from feed.models import OutboxEvent

    unprocessed = OutboxEvent.objects.filter(processed_at__isnull=True).count()
    time.sleep(3)
    drill.stack.workers["fanout"] = drill.stack.start("fanout")
    time.sleep(10)
    return [(
        "fan-out worker SIGKILLed and started again",
        True,
        f"{unprocessed} feed events unprocessed right after the kill",
    )]  # fmt: skip


def drill_redis(drill: Drill, servers: dict, args) -> list[tuple[str, bool, str]]:
    drill.spawn(drill.writer)
    drill.like_storm()
    wait_until(lambda: len(drill.ledger.likes) >= 30, 60, 0.001)
    servers["redis"].kill()
    time.sleep(3)
    servers["redis"].start()  # same port and directory: it loads its AOF
    done = wait_until(lambda: drill.ledger.count("like") >= LIKERS, 120, 0.2)
    return [("like storm finished", done, f"{drill.ledger.count('like')} of {LIKERS} answered")]


def drill_postgres(drill: Drill, servers: dict, args) -> list[tuple[str, bool, str]]:
    pids = drill.stack.processes()
    drill.spawn(drill.writer)
    drill.like_storm()
    time.sleep(3)  # the follower's first page is cached
    before = Counter(drill.ledger.statuses)
    servers["postgres"].stop("fast")
    time.sleep(args.outage)
    during = Counter(drill.ledger.statuses)
    during.subtract(before)
    servers["postgres"].start()
    up = time.monotonic()
    back = wait_until(lambda: drill.ledger.count("post", 201) > before[("post", 201)]
                      + during[("post", 201)], 60, 0.1)  # fmt: skip
    recovery = time.monotonic() - up
    reads = during[("read", 200)]
    writes = {s: n for (k, s), n in during.items() if k in ("post", "comment", "follow") and n}
    restarted = [name for name, pid in pids.items() if drill.stack.processes().get(name) != pid]
    return [
        ("cached reads answered 200 while down", reads > 0, f"{reads} feed reads 200"),
        ("writes got 503 while down", set(writes) <= {503} and bool(writes), f"{writes}"),
        (
            "writes succeed again, no restart",
            back and not restarted,
            f"first write {recovery:.1f} s after the start; restarted: {restarted or 'none'}",
        ),
    ]


def drill_broker(drill: Drill, servers: dict, args) -> list[tuple[str, bool, str]]:
    drill.spawn(drill.writer)
    drill.like_storm()
    time.sleep(2)
    before = drill.ledger.count("post")
    accepted = drill.ledger.count("post", 201)
    servers["broker"].kill()
    time.sleep(args.broker_outage)
    posted = drill.ledger.count("post") - before
    ok_posts = drill.ledger.count("post", 201) - accepted
    servers["broker"].start()
    time.sleep(5)
    return [(
        "posts accepted while the broker was down",
        posted > 0 and ok_posts == posted,
        f"{ok_posts} of {posted} answered 201",
    )]  # fmt: skip


def drill_gunicorn(drill: Drill, servers: dict, args) -> list[tuple[str, bool, str]]:
    from bench.support import children

    drill.spawn(drill.writer)
    drill.like_storm()
    time.sleep(3)
    workers = children(drill.stack.web.pid)
    os.kill(workers[0], signal.SIGKILL)
    replaced = wait_until(
        lambda: (
            len(children(drill.stack.web.pid)) == len(workers)
            and workers[0] not in children(drill.stack.web.pid)
        ),
        30,
        0.2,
    )
    time.sleep(5)
    return [("the master replaced the killed worker", replaced, f"{len(workers)} workers")]


RUN = {
    "worker": drill_worker,
    "redis": drill_redis,
    "postgres": drill_postgres,
    "broker": drill_broker,
    "gunicorn": drill_gunicorn,
}


@contextmanager
def background_load(stack, plan_path: Path, users: int, name: str):
    from bench.load import start_locust

    locust = start_locust(
        stack.port, plan_path, users=users, duration=3600, prefix=LOG_DIR / f"locust-{name}",
        wait_s=0.3,
    )  # fmt: skip
    try:
        yield
    finally:
        locust.send_signal(signal.SIGINT)  # stops and writes its CSVs
        try:
            locust.wait(timeout=30)
        except Exception:
            locust.kill()


def main(args: argparse.Namespace) -> int:
    import shutil

    if not (find_binary("initdb") and find_binary("pg_ctl") and shutil.which("redis-server")):
        sys.exit("bench-faults: needs initdb, pg_ctl and redis-server installed")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for sub in ("redis", "broker"):
        shutil.rmtree(LOG_DIR / sub, ignore_errors=True)
        (LOG_DIR / sub).mkdir()
    servers = {"postgres": PostgresServer(), "redis": RedisServer(LOG_DIR / "redis"),
               "broker": RedisServer(LOG_DIR / "broker")}  # fmt: skip
    stack = None
    table: list[tuple[str, str, bool, str]] = []
    started = time.monotonic()
    try:
        servers["postgres"].start()
        servers["redis"].start()
        servers["broker"].start()
        os.environ["BENCH_DATABASE_URL"] = servers["postgres"].url("puppies_faults")
        os.environ["BENCH_REDIS_URL"] = servers["redis"].url
        from bench import load  # reads the BENCH_ URLs

        load_args = load.parse_args(["--scale", str(args.scale), "--watchers", "1"])
        load.setup(load_args)
        extra = {
            "CELERY_BROKER_URL": servers["broker"].url,
            "OUTBOX_REDISPATCH_AFTER_S": "15",
            "OUTBOX_RELAY_INTERVAL_S": "5",
        }
        os.environ.update(extra)
        ids, tokens = drill_users(args.scale)
        plan = load.make_plan(load_args, members=300)
        plan_path = plan.write(LOG_DIR / "plan.json")
        baseline = repair_counters()
        print(f"dataset ready; repair_counters fixed {baseline} rows of the builder's", flush=True)
        stack = load.Stack(load_args, LOG_DIR, extra)
        load.wait_for_delivery(load.Visibility(stack.port, plan.pairs))
        print(f"stack up on :{stack.port}; drills: {', '.join(args.only)}", flush=True)
        for name in args.only:
            print(f"drill {name} ...", flush=True)
            drill = Drill(stack, ids, tokens)
            with background_load(stack, plan_path, args.users, name):
                try:
                    outcome = RUN[name](drill, servers, args)
                finally:
                    drill.finish()
            outcome += check(drill)
            for what, ok, detail in outcome:
                table.append((name, what, ok, detail))
                print(f"  {'PASS' if ok else 'FAIL'}  {what}: {detail}", flush=True)
    finally:
        if stack:
            stack.stop()
        for server in servers.values():
            if isinstance(server, PostgresServer):
                server.remove()
            else:
                server.kill()

    print(f"\n{'drill':9} {'check':44} result  detail")
    for name, what, ok, detail in table:
        print(f"{name:9} {what:44} {'PASS' if ok else 'FAIL':6}  {detail}")
    failed = {name for name, _, ok, _ in table if not ok}
    print(
        f"\n{len(set(args.only)) - len(failed)} of {len(args.only)} drills passed "
        f"in {time.monotonic() - started:.0f} s; logs in {LOG_DIR.relative_to(ROOT)}/"
        + (f"; FAILED: {', '.join(sorted(failed))}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    run_main("bench-faults", main, parse_args())
