"""Make sure PostgreSQL and Redis answer at DATABASE_URL and REDIS_URL.

If a local URL does not answer, start a project-local server under .local/
when its binaries are installed; otherwise say exactly what to install.
Then create the database if it is missing. Idempotent: run it before anything.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/puppies")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, what: str) -> None:
    for _ in range(50):
        if answers(host, port):
            return
        time.sleep(0.2)
    sys.exit(f"{what} did not start on {host}:{port}; see {LOCAL}/*.log")


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def postgres_settings() -> dict[str, str]:
    """Server settings for the feed's write-heavy fan-out, sized from this machine's RAM.

    Fan-out is one INSERT ... SELECT per chunk of followers: per row a heap tuple, two
    index entries and ~275 bytes of WAL, into pages spread over every follower's feed
    (README, "Fan-out", has the measurements).
    """
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return {
        # The feed's indexes lead with the owner, so a fan-out touches about one leaf
        # page per follower: they must stay in shared buffers, or backends evict and
        # write dirty pages themselves mid-INSERT (the default 128MB holds less than the
        # --scale 0.05 benchmark's feed). A quarter of RAM, the usual share; the OS cache
        # holds the rest, and past 8GB checkpoints only get heavier.
        "shared_buffers": f"{min(ram_mb // 4, 8192)}MB",
        # Planner only: what the OS cache adds, so that it keeps choosing index scans.
        "effective_cache_size": f"{ram_mb // 2}MB",
        # Per sort or hash node: the feed rebuild's sort, and a hash of the dormant marks
        # when many owners are dormant (4MB holds ~80k), stay in memory.
        "work_mem": "32MB",
        # A 9k-follower fan-out writes ~2.5MB of WAL in ~40 ms from two backends: with
        # the default (shared_buffers / 32, 4MB at 128MB) they wait for WAL buffers to be
        # written out (pg_stat_wal.wal_buffers_full: 600-3000 per benchmark run; 0 here).
        "wal_buffers": "64MB",
        # Fewer checkpoints: after one, the first change to each page logs all 8kB of it
        # (full-page image), which multiplies fan-out's WAL (6k images in a benchmark run
        # that crossed a checkpoint, none here). Sustained fan-out writes ~55MB/s of WAL:
        # a checkpoint every ~40 s at the most (the default 1GB: every ~10 s).
        "max_wal_size": "4GB",
        "min_wal_size": "1GB",  # WAL segments recycled, not created, mid-fan-out
        "checkpoint_timeout": "15min",  # crash recovery replays at most ~15 min of WAL
        # On, the default, said explicitly: an acknowledged post (and the outbox event
        # that guarantees its fan-out) must survive a crash. Fan-out chunks turn it off
        # for their own transactions only (feed/services.py, _commit_one, says why that
        # is safe).
        "synchronous_commit": "on",
    }


def start_postgres(port: int) -> None:
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        sys.exit(
            f"No PostgreSQL answers at {DATABASE_URL} and none is installed.\n"
            "Install it (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL."
        )
    data = LOCAL / "pg"
    LOCAL.mkdir(exist_ok=True)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres")
        subprocess.run(
            as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    # The feed's settings, rewritten at each start into a file postgresql.conf includes
    # last: it wins over initdb's defaults, and ALTER SYSTEM still wins over it.
    conf = data / "puppies.conf"
    conf.write_text("".join(f"{name} = '{value}'\n" for name, value in postgres_settings().items()))
    if os.geteuid() == 0:
        shutil.chown(conf, "postgres")
    include = "include_if_exists = 'puppies.conf'\n"
    if include not in (data / "postgresql.conf").read_text():
        with (data / "postgresql.conf").open("a") as main_conf:
            main_conf.write(include)
    print(f"Starting a project-local PostgreSQL on 127.0.0.1:{port} ({data})")
    subprocess.run(
        as_postgres(
            [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(data / "server.log"),
                "-o",
                f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                "start",
            ]
        ),
        check=True,
    )
    wait_for("127.0.0.1", port, "PostgreSQL")


# The like buffer lives in this Redis, and a like is answered once its intent is written
# here (ARCHITECTURE.md, "Likes buffered in Redis"): every write is appended to the AOF and
# fsynced before Redis replies, so a SIGKILL or power cut loses no acknowledged like. RDB
# snapshots add nothing then (the AOF is the copy that counts), so they stay off.
# docker-compose.yml says the same; interactions/tests/test_like_durability.py checks it.
REDIS_DURABILITY_ARGS = ("--appendonly", "yes", "--appendfsync", "always", "--save", "")


def start_redis(port: int) -> None:
    server = shutil.which("redis-server")
    if not server:
        sys.exit(
            f"No Redis answers at {REDIS_URL} and none is installed.\n"
            "Install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL."
        )
    data = LOCAL / "redis"
    data.mkdir(parents=True, exist_ok=True)
    print(f"Starting a project-local Redis on 127.0.0.1:{port}")
    subprocess.run(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(data),
            *REDIS_DURABILITY_ARGS,
            "--logfile",
            str(LOCAL / "redis.log"),
        ],
        check=True,
    )
    wait_for("127.0.0.1", port, "Redis")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s")


class RedisServer:
    """A throwaway `redis-server` in the foreground (tests and drills), on a free port and
    `directory`, so that SIGKILL hits it and nothing else; `start` again restarts it on the
    same port and directory (it reloads its AOF)."""

    def __init__(self, directory: Path, args: tuple[str, ...] = REDIS_DURABILITY_ARGS):
        self.dir, self.args, self.port = directory, args, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        import redis

        self.starts += 1
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), *self.args],
            stdout=(self.dir / f"redis-{self.starts}.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=1)

        def pings() -> bool:
            try:
                return client.ping()
            except (redis.ConnectionError, redis.BusyLoadingError):
                return False

        _until(pings, 20, f"redis-server on :{self.port}")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


class PostgresServer:
    """A throwaway PostgreSQL (tests and drills): initdb into a new temp directory (the
    server's user must reach it: not under a private pytest dir), served by pg_ctl on a
    free loopback port; `stop` and `start` it like an outage (the data stays); `remove`
    stops it and deletes the directory."""

    def __init__(self):
        self.initdb, self.pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise RuntimeError("initdb and pg_ctl are not installed")
        self.dir, self.port = Path(tempfile.mkdtemp(prefix="puppies-pg-")), free_port()
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            as_postgres([self.initdb, "-D", str(self.dir), "-U", "postgres", "--auth=trust"]),
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            as_postgres([self.pg_ctl, "-D", str(self.dir), "-l", str(self.dir / "server.log"),
                         "-o", options, "-w", "start"]),
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        _until(lambda: answers("127.0.0.1", self.port), 30, f"PostgreSQL on :{self.port}")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: open sessions are ended (a stopped server, as the app sees it)."""
        subprocess.run(
            as_postgres([self.pg_ctl, "-D", str(self.dir), "-m", mode, "-w", "stop"]),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def ensure(url: str, default_port: int, start) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if answers(host, port):
        return
    if host not in LOCAL_HOSTS:
        sys.exit(f"Nothing answers at {host}:{port} ({url}); start it or fix the URL.")
    start(port)


def ensure_database() -> None:
    import psycopg

    parsed = urlparse(DATABASE_URL)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"Created database {name}")


if __name__ == "__main__":
    ensure(DATABASE_URL, 5432, start_postgres)
    ensure(REDIS_URL, 6379, start_redis)
    ensure_database()
