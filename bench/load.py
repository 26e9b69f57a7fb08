"""Mixed load against the whole stack (gunicorn, Celery workers and beat) with locust.

    .venv/bin/python bench/load.py [--duration 60] [--users 16] [--soak 600]
    make bench-load BENCH_ARGS="--duration 30"

Starts, on the loopback, the project's gunicorn (`--web-workers` sync workers), its two
Celery workers (maintenance: `--worker-concurrency` processes; fan-out:
`--fanout-concurrency`; each runs the outbox relay) and beat, with the Procfile's
commands, as `make run` does; then runs locust headless (bench/load_locust.py, `--users`
users with no think time: the mix's full rate) for `--duration` seconds. The mix, per 100 requests:
35 feed first pages and 35 next pages, 5 post reads and 5 profile reads, 5 likes and 5
unlikes, 5 post creates, 2.5 follows and 2.5 comments. Members are the dataset's feed
readers and random users of its graph; every request carries the member's bearer token.

Meanwhile it measures post-to-visible latency as a follower sees it: `--watchers`
authors (each followed by 300 users of the graph and one watcher) post in turn, and the
watcher polls its feed (every 50 ms) from the 201 until the post is on its first page.
Target: p99 under 2 s. And the resident memory of every process (gunicorn master and
workers, the Celery workers and their pools, beat) every 2 s: with `--soak SECONDS` (e.g.
600) the run lasts that long and each process's RSS after the warm-up (the first
`--warmup`, default a fifth of the run, at most 120 s) must stay within 10% of its value
when the warm-up ended.

Prints req/s, p50, p99 and errors per endpoint, the visibility figures and the RSS table;
draws throughput, latency and RSS over time to .local/bench-load/load-<time>.png (path
printed; locust's CSVs and the servers' logs beside it). Exit status 1 if a target is
missed or a request failed.

Dataset (built once, reused; `--rebuild` starts over): bench/feed.py's builder at
`--scale` (default 0.1: 10k users, 1M follows on a power-law graph, 100k posts, the last
week pushed into feeds, 120 readers following 200 accounts each), with the VIP
threshold scaled the same way (1,000 followers), in its own database
(BENCH_DATABASE_URL, default `puppies_bench_load` on the DATABASE_URL server) and Redis
database (BENCH_REDIS_URL, default redis://127.0.0.1:6379/12, flushed). Rate limits off.
"""

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import (  # noqa: E402 - needs ROOT on the path
    BenchError,
    Process,
    Procfile,
    Server,
    bench_urls,
    call,
    children,
    ensure_database,
    git_commit,
    rss_mb,
    run_main,
    server_env,
    use_bench_keys,
)

DATABASE_URL, REDIS_URL = bench_urls("puppies_bench_load", 12)
LOG_DIR = ROOT / ".local" / "bench-load"
VISIBLE_TARGET_S = 2.0
RSS_TOLERANCE = 0.10
WATCH_FOLLOWERS = 300
POLL_S = 0.05
VISIBLE_TIMEOUT_S = 30.0


def settings_env(scale: float) -> dict:
    """The settings of this process and of every server it starts."""
    return {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "LIKE_BUFFER_REDIS_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "RATELIMIT_ENABLE": "false",  # one client address; limits are not measured
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
        "JWT_ACCESS_MINUTES": "600",  # tokens minted before a soak outlive it
        # bench/feed.py's shape at this scale: VIPs are the same share of users
        "VIP_FOLLOWER_THRESHOLD": str(max(50, int(10_000 * scale))),
        "DJANGO_SETTINGS_MODULE": "puppies.settings",
    }


def parse_args(argv=None, description: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=description or __doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--soak", type=int, help="a soak of this many seconds, RSS checked")
    parser.add_argument("--warmup", type=int, help="seconds before RSS is held flat")
    parser.add_argument("--users", type=int, default=16, help="locust users (no think time)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument(
        "--worker-concurrency", type=int, default=2, help="the maintenance worker's processes"
    )
    parser.add_argument(
        "--fanout-concurrency", type=int, default=1, help="the fan-out worker's processes"
    )
    parser.add_argument("--watchers", type=int, default=4, help="post-to-visible pairs")
    parser.add_argument("--scale", type=float, default=0.1, help="of bench/feed.py's dataset")
    parser.add_argument("--rebuild", action="store_true", help="drop and rebuild the dataset")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.soak:
        args.duration = args.soak
    if args.warmup is None:
        args.warmup = min(120, args.duration // 5)
    return args


# --- dataset and plan ------------------------------------------------------------------


def setup(args: argparse.Namespace) -> None:
    """Settings, database and dataset (bench/feed.py's builder, once), Redis flushed."""
    os.environ.update(settings_env(args.scale))
    use_bench_keys()
    import psycopg

    if args.rebuild:
        admin = urlparse(DATABASE_URL)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                f'DROP DATABASE IF EXISTS "{urlparse(DATABASE_URL).path[1:]}" WITH (FORCE)'
            )
    ensure_database(DATABASE_URL)
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from bench import feed as feed_bench

    call_command("migrate", verbosity=0)
    redis.Redis.from_url(REDIS_URL).flushdb()
    sizes = {k: max(1_000, int(v * args.scale)) for k, v in feed_bench.FULL.items()}
    built = feed_bench.meta_get("sizes")
    if built != sizes:
        if built is not None:
            raise BenchError(f"the database holds a dataset of {built}; rerun with --rebuild")
        started = time.perf_counter()
        feed_bench.build_dataset(sizes, random.Random(args.seed))
        print(f"dataset built in {time.perf_counter() - started:.0f} s", flush=True)
    else:
        print(f"reusing the dataset in {urlparse(DATABASE_URL).path[1:]}: {sizes}", flush=True)


@dataclass
class Pair:
    author_id: int
    watcher_id: int
    author_token: str = ""
    watcher_token: str = ""


@dataclass
class Plan:
    members: list[dict]  # {"id", "token"}
    posts: list[int]
    users: list[int]
    follow_targets: list[int]
    pairs: list[Pair]
    n_users: int = 0
    n_posts: int = 0

    def write(self, path: Path) -> Path:
        keep = ("members", "posts", "users", "follow_targets")
        path.write_text(json.dumps({k: getattr(self, k) for k in keep}))
        return path


def watch_pairs(count: int, rng: random.Random) -> list[Pair]:
    """`count` authors, each followed by WATCH_FOLLOWERS users of the graph and one
    watcher of their own (made once, then reused)."""
    from django.db.models import F
    from django.utils import timezone

    from bench import feed as feed_bench
    from feed.models import VipAuthor
    from users.models import Follow, User

    made = feed_bench.meta_get("load_pairs") or []
    if len(made) < count:
        now = timezone.now()
        vips = set(VipAuthor.objects.values_list("user_id", flat=True))
        graph = [
            pk
            for pk in User.objects.filter(username__regex=r"^u[0-9]+$").values_list("pk", flat=True)
            if pk not in vips
        ]
        for n in range(len(made), count):
            author, watcher = User.objects.bulk_create(
                User(
                    username=f"load_{role}{n}",
                    email=f"load_{role}{n}@bench.invalid",
                    password="!",  # noqa: S106 - unusable: they act with minted tokens
                    last_active_at=now,
                )
                for role in ("author", "watcher")
            )
            followers = [*rng.sample(graph, WATCH_FOLLOWERS), watcher.pk]
            Follow.objects.bulk_create(Follow(follower_id=f, followee=author) for f in followers)
            User.objects.filter(pk__in=followers).update(following_count=F("following_count") + 1)
            User.objects.filter(pk=author.pk).update(follower_count=len(followers))
            made.append([author.pk, watcher.pk])
        feed_bench.meta_set("load_pairs", made)
    return [Pair(a, w) for a, w in made[:count]]


def make_plan(args: argparse.Namespace, members: int = 1000) -> Plan:
    """Who acts in the run (the readers and random users of the graph), on what, with
    access tokens minted here."""
    from django.db.models import Max
    from django.utils import timezone

    from bench import feed as feed_bench
    from feed.models import VipAuthor
    from posts.models import Post
    from users.auth import AccessToken
    from users.models import User

    rng = random.Random(args.seed)
    pairs = watch_pairs(args.watchers, rng)
    readers = [pk for ids in (feed_bench.meta_get("readers") or {}).values() for pk in ids]
    graph_max = User.objects.filter(username__regex=r"^u[0-9]+$").aggregate(m=Max("pk"))["m"]
    chosen = readers + rng.sample(range(1, graph_max + 1), max(0, members - len(readers)))
    acting = chosen + [p.author_id for p in pairs] + [p.watcher_id for p in pairs]
    # Everyone acting is active (the graph's stamps date from the build).
    User.objects.filter(pk__in=acting).update(last_active_at=timezone.now())
    users = User.objects.in_bulk(acting)

    def token(pk: int) -> str:
        return str(AccessToken.for_user(users[pk]))

    for pair in pairs:
        pair.author_token, pair.watcher_token = token(pair.author_id), token(pair.watcher_id)
    last_post = Post.objects.aggregate(m=Max("pk"))["m"]
    vips = set(VipAuthor.objects.values_list("user_id", flat=True))
    return Plan(
        members=[{"id": pk, "token": token(pk)} for pk in chosen],
        posts=rng.sample(range(1, last_post + 1), 5000),
        users=rng.sample(range(1, graph_max + 1), 2000),
        follow_targets=[pk for pk in rng.sample(range(1, graph_max + 1), 2000) if pk not in vips],
        pairs=pairs,
        n_users=User.objects.count(),
        n_posts=last_post,
    )


# --- the stack ---------------------------------------------------------------------------


class Stack:
    """gunicorn, the Celery workers and beat, as `make run` runs them (the Procfile's
    commands; gunicorn on a free port)."""

    def __init__(self, args: argparse.Namespace, log_dir: Path = LOG_DIR, extra_env=None):
        self.log_dir = log_dir
        self.env = server_env({
            **settings_env(args.scale),
            **(extra_env or {}),
            "WORKER_CONCURRENCY": str(args.worker_concurrency),
            "FANOUT_CONCURRENCY": str(args.fanout_concurrency),
        })  # fmt: skip
        self.web = Server("puppies.wsgi", args.web_workers, "/healthz", log_dir, self.env)
        self.workers = {name: self.start(name) for name in ("worker", "fanout")}
        schedule = str(log_dir / "celerybeat-schedule")
        self.beat = Procfile("beat", log_dir, self.env, ("--schedule", schedule))

    def start(self, name: str) -> Procfile:
        """(Re)start Celery worker `name` of the Procfile."""
        return Procfile(name, self.log_dir, self.env, ("--loglevel", "WARNING"))

    @property
    def port(self) -> int:
        return self.web.port

    def processes(self) -> dict[str, int]:
        """name -> pid of every process of the stack now."""
        found = {"gunicorn master": self.web.pid}
        for n, pid in enumerate(children(self.web.pid)):
            found[f"gunicorn worker {n + 1}"] = pid
        for name, worker in self.workers.items():
            found[f"celery {name}"] = worker.pid
            for n, pid in enumerate(children(worker.pid)):
                found[f"celery {name} pool {n + 1}"] = pid
        found["celery beat"] = self.beat.pid
        return found

    def all(self) -> list[Process]:
        return [self.web, *self.workers.values(), self.beat]

    def stop(self) -> None:
        for process in self.all():
            process.stop()

    def tails(self, lines: int = 15) -> str:
        return "".join(
            f"\n--- {p.log.relative_to(ROOT)} ---\n{p.tail(lines)}"
            for p in self.all()
            if p.tail(lines).strip()
        )


# --- measurements during the run -----------------------------------------------------------


class Visibility(threading.Thread):
    """Post-to-visible latency: the pairs' authors post in turn; each watcher polls its
    feed from the 201 until the post is on its first page."""

    def __init__(self, port: int, pairs: list[Pair], interval_s: float = 1.0):
        super().__init__(name="visibility", daemon=True)
        self.port, self.pairs, self.interval_s = port, pairs, interval_s
        self.stop_event = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (seconds since start, latency)
        self.missed: list[float] = []  # started at, never visible within the timeout
        self.refused = 0  # the post itself was not accepted
        self.started_at = time.monotonic()
        self.n = 0

    def measure_one(self, pair: Pair) -> float | None:
        self.n += 1
        body = json.dumps({"content": f"visibility probe {self.n}"}).encode()
        try:
            status, answer = call(self.port, "POST", "/v1/posts", pair.author_token, body)
        except OSError:
            status, answer = 0, b""
        if status != 201:
            self.refused += 1
            return None
        accepted = time.monotonic()
        post_id = json.loads(answer)["id"]
        while time.monotonic() - accepted < VISIBLE_TIMEOUT_S:
            try:
                status, page = call(self.port, "GET", "/v1/feed", pair.watcher_token)
            except OSError:
                status = 0
            if status == 200 and any(p["id"] == post_id for p in json.loads(page)["results"]):
                return time.monotonic() - accepted
            time.sleep(POLL_S)
        return math.inf

    def run(self) -> None:
        k = 0
        while not self.stop_event.is_set():
            at = time.monotonic() - self.started_at
            latency = self.measure_one(self.pairs[k % len(self.pairs)])
            k += 1
            if latency == math.inf:
                self.missed.append(at)
            elif latency is not None:
                self.samples.append((at, latency))
            self.stop_event.wait(self.interval_s)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(VISIBLE_TIMEOUT_S + 5)


class RssSampler(threading.Thread):
    def __init__(self, stack: Stack, every_s: float = 2.0):
        super().__init__(name="rss", daemon=True)
        self.stack, self.every_s = stack, every_s
        self.stop_event = threading.Event()
        self.started_at = time.monotonic()
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.pids: dict[str, set[int]] = {}

    def run(self) -> None:
        while not self.stop_event.is_set():
            at = time.monotonic() - self.started_at
            for name, pid in self.stack.processes().items():
                mb = rss_mb(pid)
                if mb is not None:
                    self.series.setdefault(name, []).append((at, mb))
                    self.pids.setdefault(name, set()).add(pid)
            self.stop_event.wait(self.every_s)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)

    def check(self, warmup_s: float) -> list[dict]:
        """Per process: RSS when the warm-up ended, at the end, the highest after, and
        whether it stayed within RSS_TOLERANCE of the first."""
        rows = []
        for name, series in self.series.items():
            after = [mb for at, mb in series if at >= warmup_s]
            if not after:
                continue
            base, top = after[0], max(after)
            rows.append({
                "process": name,
                "restarted": len(self.pids[name]) > 1,
                "start_mb": series[0][1],
                "warm_mb": base,
                "end_mb": after[-1],
                "max_mb": top,
                "growth": top / base - 1,
                "flat": top <= base * (1 + RSS_TOLERANCE) and len(self.pids[name]) == 1,
            })  # fmt: skip
        return rows


def wait_for_delivery(probe: Visibility, timeout_s: float = 120) -> float:
    """Block until the worker delivers a first post (it is up and relaying); its latency."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latency = probe.measure_one(probe.pairs[0])
        if latency is not None and latency != math.inf:
            return latency
    raise BenchError(f"no post reached a follower's feed within {timeout_s:.0f} s of start-up")


def start_locust(port: int, plan_path: Path, *, users: int, duration: int, prefix: Path,
                 wait_s: float = 0.0) -> subprocess.Popen:  # fmt: skip
    """locust headless with bench/load_locust.py, in the background; CSVs at `prefix`_*."""
    locust = str(Path(sys.executable).with_name("locust"))
    argv = [locust, "-f", str(ROOT / "bench" / "load_locust.py"), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{duration}s",
            "-H", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--csv-full-history",
            "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"]  # fmt: skip
    env = {**os.environ, "LOAD_PLAN": str(plan_path), "LOAD_WAIT_S": str(wait_s)}
    with (prefix.parent / f"{prefix.name}.log").open("w") as log:
        return subprocess.Popen(  # noqa: S603 - fixed argv
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def run_locust(port: int, plan_path: Path, *, users: int, duration: int, prefix: Path) -> None:
    """locust for `duration` seconds, waited for."""
    locust = start_locust(port, plan_path, users=users, duration=duration, prefix=prefix)
    try:
        locust.wait(timeout=duration + 120)
    finally:
        if locust.poll() is None:
            locust.kill()
    if not (prefix.parent / f"{prefix.name}_stats.csv").exists():
        raise BenchError(f"locust failed (exit {locust.returncode}); see {prefix}.log")


def read_stats(prefix: Path) -> list[dict]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as f:
        return [
            {
                "name": row["Name"],
                "requests": int(row["Request Count"]),
                "errors": int(row["Failure Count"]),
                "req_s": float(row["Requests/s"]),
                "p50_ms": float(row["50%"] or 0),
                "p99_ms": float(row["99%"] or 0),
            }
            for row in csv.DictReader(f)
        ]


def read_history(prefix: Path) -> list[dict]:
    """The Aggregated rows of locust's per-second history: time, req/s, p50, p99."""
    rows = []
    with (prefix.parent / f"{prefix.name}_stats_history.csv").open() as f:
        for row in csv.DictReader(f):
            if row["Name"] != "Aggregated" or row["50%"] in ("N/A", ""):
                continue
            rows.append({
                "t": int(row["Timestamp"]),
                "req_s": float(row["Requests/s"]),
                "fail_s": float(row["Failures/s"]),
                "p50_ms": float(row["50%"]),
                "p99_ms": float(row["99%"]),
            })  # fmt: skip
    return rows


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else math.nan


def print_endpoints(stats: list[dict]) -> None:
    header = (
        f"{'endpoint':34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in stats:
        print(
            f"{row['name']:34} {row['requests']:9d} {row['req_s']:8.1f} {row['p50_ms']:8.0f} "
            f"{row['p99_ms']:8.0f} {row['errors']:7d}"
        )


def draw(path: Path, history: list[dict], probe: Visibility, rss: RssSampler | None,
         title: str) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 3 if rss else 2
    fig, axes = plt.subplots(panels, 1, figsize=(11, 3.2 * panels), sharex=True)
    t0 = history[0]["t"] if history else 0
    # locust's clock is wall time, the probes' is monotonic from their start: align on the
    # history's first second (locust starts right after the probes).
    xs = [r["t"] - t0 for r in history]
    axes[0].plot(xs, [r["req_s"] for r in history], label="req/s (all endpoints)")
    axes[0].plot(xs, [r["fail_s"] for r in history], label="errors/s", color="red")
    axes[0].set_ylabel("throughput")
    axes[0].legend(loc="lower right")
    axes[1].plot(xs, [r["p50_ms"] for r in history], label="p50 ms (10 s window)")
    axes[1].plot(xs, [r["p99_ms"] for r in history], label="p99 ms (10 s window)")
    if probe.samples:  # seconds since the probes started, just before locust
        axes[1].scatter(
            [at for at, _ in probe.samples],
            [lat * 1000 for _, lat in probe.samples],
            s=8, color="black", label="post-to-visible ms",
        )  # fmt: skip
    axes[1].set_yscale("log")
    axes[1].set_ylabel("latency (ms)")
    axes[1].legend(loc="upper right", fontsize=8)
    if rss:
        for name, series in sorted(rss.series.items()):
            axes[2].plot([at for at, _ in series], [mb for _, mb in series], label=name)
        axes[2].set_ylabel("RSS (MB)")
        axes[2].legend(loc="upper left", fontsize=7, ncol=3)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    setup(args)
    plan = make_plan(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    plan_path = plan.write(LOG_DIR / "plan.json")
    prefix = LOG_DIR / f"locust-{stamp}"
    print(
        f"{plan.n_users:,} users, {plan.n_posts:,} posts; {len(plan.members)} members acting; "
        f"VIP threshold {os.environ['VIP_FOLLOWER_THRESHOLD']}",
        flush=True,
    )
    stack = Stack(args)
    probe = rss = None
    try:
        probe = Visibility(stack.port, plan.pairs)
        first = wait_for_delivery(probe)
        print(
            f"stack up: gunicorn :{stack.port} ({args.web_workers} workers), Celery workers "
            f"(maintenance: {args.worker_concurrency} processes, fan-out: "
            f"{args.fanout_concurrency}) and beat; first post delivered in "
            f"{first:.2f} s",
            flush=True,
        )
        probe.started_at = time.monotonic()
        rss = RssSampler(stack)
        rss.started_at = probe.started_at
        rss.start()
        probe.start()
        print(f"locust: {args.users} users for {args.duration} s ...", flush=True)
        run_locust(stack.port, plan_path, users=args.users, duration=args.duration, prefix=prefix)
        probe.stop()
        rss.stop()
    except BenchError as exc:
        raise BenchError(f"{exc}{stack.tails()}") from None
    finally:
        if probe:
            probe.stop_event.set()
        if rss:
            rss.stop_event.set()
        stack.stop()

    stats = read_stats(prefix)
    history = read_history(prefix)
    print()
    print_endpoints(stats)
    total = next((r for r in stats if r["name"] == "Aggregated"), None)
    failed = []
    latencies = [lat for _, lat in probe.samples]
    p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    ok_visible = bool(latencies) and p99 < VISIBLE_TARGET_S and not probe.missed
    print(
        f"\npost-to-visible (follower's first page), {len(latencies)} posts: p50 {p50:.2f} s, "
        f"p99 {p99:.2f} s, max {max(latencies, default=math.nan):.2f} s; not visible within "
        f"{VISIBLE_TIMEOUT_S:.0f} s: {len(probe.missed)}; refused: {probe.refused} -> "
        f"{'PASS' if ok_visible else 'FAIL'} (target p99 < {VISIBLE_TARGET_S:.0f} s)"
    )
    if not ok_visible:
        failed.append("post-to-visible")
    rows = rss.check(args.warmup)
    print(
        f"\nRSS per process (MB): at start, after the {args.warmup} s warm-up, at the end, "
        f"highest after the warm-up (growth vs the warm-up's end; flat = within "
        f"{RSS_TOLERANCE:.0%}{', checked: a soak' if args.soak else ', informative: not a soak'})"
    )
    for row in rows:
        flag = "flat" if row["flat"] else ("RESTARTED" if row["restarted"] else "GREW")
        print(
            f"  {row['process']:22} {row['start_mb']:7.1f} {row['warm_mb']:7.1f} "
            f"{row['end_mb']:7.1f} {row['max_mb']:7.1f}  {row['growth']:+6.1%}  {flag}"
        )
    if args.soak and not all(row["flat"] for row in rows):
        failed.append("memory")
    if total and total["errors"]:
        failed.append(f"{total['errors']} request errors (see {prefix.name}_failures.csv)")
    png = LOG_DIR / f"load-{stamp}.png"
    draw(
        png,
        history,
        probe,
        rss,
        f"bench/load.py: {args.users} users, {args.duration} s, {plan.n_users:,} users / "
        f"{plan.n_posts:,} posts, commit {git_commit()}",
    )
    print(
        f"\nchart: {png.relative_to(ROOT)}; locust CSVs {prefix.relative_to(ROOT)}_*.csv; "
        f"server logs in {LOG_DIR.relative_to(ROOT)}/; commit {git_commit()}; "
        f"{os.cpu_count()} CPUs; run took {time.monotonic() - started:.0f} s"
    )
    if failed:
        print("FAILED: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    run_main("bench-load", main, parse_args())
