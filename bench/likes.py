"""Likes on one hot post: buffered in Redis vs written straight to PostgreSQL, in one run.

    .venv/bin/python bench/likes.py [--clients 32] [--client-processes 4] [--users 2000]
    make bench-likes BENCH_ARGS="--clients 64"

N concurrent clients (threads spread over a few forked processes, so that the client side is
not one GIL) like one hot post, each as a different user; a fifth of them tap twice and must
get 200 the second time. Four rounds: at the service layer (interactions.likes.like_post)
and over HTTP (keep-alive http.client connections to a real gunicorn, gthread workers, that
this script starts on a loopback port), each direct-to-PostgreSQL (LIKE_BUFFER_ENABLED=false)
and buffered. During a buffered round a drainer thread flushes the buffer every
LIKE_FLUSH_INTERVAL_S, as the beat job does, and flushes the rest after it. Each round then
checks that the Like rows, Post.like_count and like notifications all equal the 201s the
clients got: nothing lost, nothing counted twice.

Runs against its own database (BENCH_DATABASE_URL, default puppies_bench_likes: created,
migrated and emptied here) and the Redis of REDIS_URL (only like-buffer keys are touched).
Bounded: each round stops after --max-seconds (default 25 s); the whole run takes ~30 s.
"""

import argparse
import http.client
import multiprocessing
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import ensure_database, free_port, use_bench_keys  # noqa: E402 - needs ROOT on the path

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/puppies_bench_likes"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
os.environ["DATABASE_URL"] = DATABASE_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["RATELIMIT_ENABLE"] = "false"  # a load test from one IP; limits are not measured
use_bench_keys()


ensure_database(DATABASE_URL)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from interactions import like_buffer  # noqa: E402
from interactions.models import Like, Notification  # noqa: E402
from interactions.services import likes  # noqa: E402
from posts.models import Post  # noqa: E402
from users.models import User  # noqa: E402

UNUSABLE = make_password(None)


def reset() -> tuple[User, list[User]]:
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE interactions_like, interactions_notification, posts_post, users_user "
            "RESTART IDENTITY CASCADE"
        )
    redis = like_buffer.client()
    for pattern in ("likes:*", "{likes}:*"):
        keys = list(redis.scan_iter(match=pattern, count=1000))
        if keys:
            redis.delete(*keys)
    now = timezone.now()
    users = User.objects.bulk_create(
        User(
            username=f"bench{i}",
            email=f"bench{i}@example.com",
            password=UNUSABLE,  # these accounts never log in
            last_active_at=now,  # no heartbeat UPDATE during the run
        )
        for i in range(ARGS.users + 1)
    )
    return users[0], users[1:]


def workload(fans: list[User]) -> list[User]:
    """Each fan likes once; every fifth taps twice (the second must be 200)."""
    taps = list(fans) + fans[::5]
    random.Random(7).shuffle(taps)
    return taps


class Round:
    def __init__(self, layer: str, mode: str):
        self.layer, self.mode = layer, mode
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.lock = threading.Lock()

    def record(self, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] = self.statuses.get(status, 0) + 1


def run_clients(rnd: Round, taps: list, make_send, before_go=None) -> float:
    """`make_send() -> send(tap, state) -> status` from ARGS.clients threads spread over
    ARGS.client_processes forked processes (one Python process alone would be the
    bottleneck); `before_go()` runs once they are all waiting. -> wall seconds."""
    ctx = multiprocessing.get_context("fork")
    go, results = ctx.Event(), ctx.Queue()
    procs = ARGS.client_processes
    connection.close()  # children open their own PostgreSQL connections
    children = [
        ctx.Process(target=_client_process, args=(taps[i::procs], make_send, go, results))
        for i in range(procs)
    ]
    for child in children:
        child.start()
    if before_go:
        before_go()
    started = time.perf_counter()
    go.set()
    for _ in children:
        latencies, statuses, errors = results.get()
        rnd.latencies += latencies
        rnd.errors += errors
        for status, n in statuses.items():
            rnd.statuses[status] = rnd.statuses.get(status, 0) + n
    seconds = time.perf_counter() - started
    for child in children:
        child.join()
    return seconds


def _client_process(taps: list, make_send, go, results) -> None:
    rnd = Round("", "")
    work: queue.SimpleQueue = queue.SimpleQueue()
    for tap in taps:
        work.put(tap)
    send = make_send()

    def client(state: dict):
        while time.monotonic() < deadline:
            try:
                tap = work.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            try:
                status = send(tap, state)
            except Exception as exc:
                with rnd.lock:
                    rnd.errors += 1
                if rnd.errors < 5:
                    print(f"  error: {exc!r}", file=sys.stderr)
                state.pop("conn", None)
                continue
            rnd.record(status, time.perf_counter() - started)

    threads = ARGS.clients // ARGS.client_processes
    threads = [threading.Thread(target=client, args=({},)) for _ in range(threads)]
    go.wait()
    deadline = time.monotonic() + ARGS.max_seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((rnd.latencies, rnd.statuses, rnd.errors))
    results.close()
    results.join_thread()
    os._exit(0)  # no cleanup: the parent's inherited sockets must stay untouched


class Drainer(threading.Thread):
    """The beat job, in a thread: drain every LIKE_FLUSH_INTERVAL_S."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.batches = 0

    def run(self):
        try:
            while not self.stop.wait(settings.LIKE_FLUSH_INTERVAL_S):
                likes.drain_like_buffer()
                self.batches += 1
        finally:
            connection.close()

    def finish(self):
        self.stop.set()
        self.join()
        likes.drain_like_buffer()


def service_send(post: Post):
    def send(fan: User, state: dict) -> int:
        return 201 if likes.like_post(fan, post_id=post.pk).created else 200

    return send


def http_send(port: int, post: Post, tokens: dict[int, str]):
    path = f"/v1/posts/{post.pk}/likes"

    def send(fan: User, state: dict) -> int:
        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, headers={"Authorization": f"Bearer {tokens[fan.pk]}"})
        response = conn.getresponse()
        response.read()
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            state.pop("conn")
        return response.status

    return send


class Server:
    """gunicorn on a loopback port with the bench database; LIKE_BUFFER_ENABLED per mode."""

    def __init__(self, buffered: bool):
        self.port = free_port()
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(LIKE_BUFFER_ENABLED=str(buffered).lower(), LOG_LEVEL="WARNING")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen(  # noqa: S603
            [str(gunicorn), "puppies.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(ARGS.web_workers), "--worker-class", "gthread",
             "--threads", str(ARGS.web_threads), "--keep-alive", "30", "--log-level", "warning"],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def bench_round(layer: str, mode: str, author: User, fans: list[User], tokens) -> dict:
    post = Post.objects.create(author=author, content=f"hot post: {layer} {mode}")
    taps = workload(fans)
    rnd = Round(layer, mode)
    buffered = mode == "buffered"
    settings.LIKE_BUFFER_ENABLED = buffered  # the service layer reads it per call
    drainer = Drainer() if buffered else None
    server = Server(buffered) if layer == "http" else None
    try:
        if server:  # warm the server's connections up (not counted, on another post)
            warm = Post.objects.create(author=author, content="warm-up")
            warm_taps = fans[: ARGS.clients * 4]
            run_clients(Round(layer, mode), warm_taps, lambda: http_send(server.port, warm, tokens))
        if server:
            make_send = lambda: http_send(server.port, post, tokens)  # noqa: E731
        else:
            make_send = lambda: service_send(post)  # noqa: E731
        seconds = run_clients(rnd, taps, make_send, before_go=drainer.start if drainer else None)
        flush_started = time.perf_counter()
        if drainer:
            drainer.finish()
        flush_tail = time.perf_counter() - flush_started
    finally:
        if server:
            server.stop()
    settings.LIKE_BUFFER_ENABLED = True
    accepted = rnd.statuses.get(201, 0)
    rows = Like.objects.filter(post=post).count()
    like_count = Post.objects.get(pk=post.pk).like_count
    notified = Notification.objects.filter(post=post, type="like").count()
    done = len(rnd.latencies)
    return {
        "layer": layer,
        "mode": mode,
        "requests": done,
        "likes_s": done / seconds,
        "p50_ms": statistics.median(rnd.latencies) * 1000,
        "p99_ms": statistics.quantiles(rnd.latencies, n=100)[98] * 1000,
        "s201": accepted,
        "s200": rnd.statuses.get(200, 0),
        "other": sum(n for s, n in rnd.statuses.items() if s not in (200, 201)) + rnd.errors,
        "rows": rows,
        "like_count": like_count,
        "notified": notified,
        "exact": rows == accepted == like_count == notified,
        "flush_tail_s": flush_tail,
    }


def main() -> int:
    author, fans = reset()
    http_fans = fans[: ARGS.http_users]
    tokens = {fan.pk: str(AccessToken.for_user(fan)) for fan in http_fans}
    print(
        f"likes on one hot post: {ARGS.clients} concurrent clients, {len(fans)} users "
        f"(service layer), {len(http_fans)} (HTTP: gunicorn gthread, {ARGS.web_workers} "
        f"workers x {ARGS.web_threads} threads, keep-alive); flush every "
        f"{settings.LIKE_FLUSH_INTERVAL_S}s; synchronous_commit="
        f"{connection.cursor().execute('SHOW synchronous_commit').fetchone()[0]}"
    )
    results = []
    for layer, users in (("service", fans), ("http", http_fans)):
        for mode in ("direct", "buffered"):
            results.append(bench_round(layer, mode, author, users, tokens))
            connection.close()
    header = (
        f"{'layer':8} {'mode':9} {'requests':>8} {'likes/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'201':>5} {'200':>5} {'other':>5} {'rows':>5} {'count':>5} {'notif':>5}  exact"
    )
    print(header)
    for r in results:
        print(
            f"{r['layer']:8} {r['mode']:9} {r['requests']:8d} {r['likes_s']:8.0f} "
            f"{r['p50_ms']:7.1f} {r['p99_ms']:7.1f} {r['s201']:5d} {r['s200']:5d} "
            f"{r['other']:5d} {r['rows']:5d} {r['like_count']:5d} {r['notified']:5d}  "
            f"{'yes' if r['exact'] else 'NO'}"
        )
    ok = True
    for layer in ("service", "http"):
        direct, buffered = (r for r in results if r["layer"] == layer)
        ratio = buffered["likes_s"] / direct["likes_s"]
        print(
            f"{layer}: buffered/direct throughput = {ratio:.1f}x, p99 "
            f"{direct['p99_ms']:.1f} -> {buffered['p99_ms']:.1f} ms "
            f"(final flush after the run: {buffered['flush_tail_s'] * 1000:.0f} ms)"
        )
    for r in results:
        ok = ok and r["exact"] and r["other"] == 0
    print("zero lost or double-counted likes" if ok else "MISMATCH: see the table")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--http-users", type=int, default=1500)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=25.0)
    ARGS = parser.parse_args()
    sys.exit(main())
