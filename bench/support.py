"""What the benchmarks share: their own database, free loopback ports, and the project's
processes (gunicorn, Celery worker and beat) started on the loopback in process groups
of their own, their output in log files."""

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    pass


def ensure_database(url: str) -> None:
    """Create the database of `url` on its server if it is missing."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_bench_keys() -> None:
    """Random signing keys for this run (and the servers it starts, which inherit them):
    settings.py refuses to start without DEBUG unless SECRET_KEY and JWT_SIGNING_KEY are set."""
    for name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
        os.environ.setdefault(name, secrets.token_urlsafe(50))


def server_env(settings: dict) -> dict:
    """The environment of the processes a benchmark starts: this one's, with `settings`."""
    env = {**os.environ, **settings}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONWARNINGS"] = "ignore:No directory at:UserWarning"  # no collectstatic here
    return env


def call(port: int, method: str, path: str, token: str | None, body: bytes | None = None):
    """One request on a connection of its own -> (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - git on PATH
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607 - git on PATH
            cwd=ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (+ uncommitted changes)" if dirty else head


class Process:
    """A command in its own process group, its output to `log_dir / log_name`."""

    def __init__(self, argv: list[str], log_dir: Path, log_name: str, env: dict):
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / log_name
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
                argv, cwd=ROOT, env=env, start_new_session=True, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group (master and workers), SIGKILL what is left after 10 s."""
        if self.proc is None:
            return
        # A master that already died may have left workers in its group: kill those.
        signals = [signal.SIGTERM, signal.SIGKILL] if self.proc.poll() is None else [signal.SIGKILL]
        for sig in signals:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return  # the whole group is gone
            try:
                self.proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


class Worker(Process):
    """The project's Celery worker on every queue, as `make run` runs it (`beat`: with
    beat in the same process, as `celery worker -B`)."""

    QUEUES = "default,fanout,likes,media,ingestion"

    def __init__(
        self, log_dir: Path, env: dict, *, concurrency: int = 1, beat: bool = True,
        name: str = "worker",
    ):  # fmt: skip
        argv = [_tool("celery"), "-A", "puppies", "worker", "--concurrency", str(concurrency),
                "--loglevel", "WARNING", "--queues", self.QUEUES,
                "--hostname", f"{name}@%h"]  # fmt: skip
        if beat:
            argv += ["-B", "--schedule", str(log_dir / f"{name}-celerybeat-schedule")]
        super().__init__(argv, log_dir, f"{name}.log", env)


class Procfile(Process):
    """Process `name` of the Procfile, as `make run` starts it (this virtualenv's tools,
    `extra` arguments appended)."""

    def __init__(self, name: str, log_dir: Path, env: dict, extra: tuple[str, ...] = ()):
        from scripts import procfile

        argv = procfile.command(name, env)
        self.name = name
        super().__init__([_tool(argv[0]), *argv[1:], *extra], log_dir, f"{name}.log", env)


class Server(Process):
    """A gunicorn (sync workers, no access log) on a free port, answering `ready_path`."""

    def __init__(
        self, app: str, workers: int, ready_path: str, log_dir: Path, env: dict,
        log_name: str = "app.log",
    ):  # fmt: skip
        self.app, self.port = app, free_port()
        argv = [_tool("gunicorn"), app, "--bind", f"127.0.0.1:{self.port}", "--workers",
                str(workers), "--worker-class", "sync", "--log-level", "warning",
                "--graceful-timeout", "5"]  # fmt: skip
        super().__init__(argv, log_dir, log_name, env)
        try:
            self._wait_ready(ready_path)
        except BaseException:  # not started, or Ctrl-C while starting: stop it here
            self.stop()
            raise

    def _wait_ready(self, ready_path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"gunicorn {self.app} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                if call(self.port, "GET", ready_path, None)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(
            f"gunicorn {self.app} did not answer {ready_path} within 60 s:\n{self.tail()}"
        )


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (gunicorn's workers, Celery's pool)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` in MB, None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_main(name: str, main, args) -> None:
    """Run a benchmark's `main(args)` as a command: its status, SIGTERM and Ctrl-C unwinding
    through its `finally` (so the servers it started stop), BenchError as a message."""

    def terminate(signum, frame):
        print(f"{name}: terminated", file=sys.stderr)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        sys.exit(main(args))
    except BenchError as exc:
        sys.exit(f"{name}: {exc}")
    except KeyboardInterrupt:
        sys.exit(f"{name}: interrupted")


def bench_urls(database: str, redis_db: int) -> tuple[str, str]:
    """A benchmark's own database and Redis database: BENCH_DATABASE_URL (default
    `database` on the DATABASE_URL server) and BENCH_REDIS_URL (default db `redis_db`
    of the machine's Redis)."""
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/puppies")
    return (
        os.environ.get(
            "BENCH_DATABASE_URL", urlparse(server)._replace(path=f"/{database}").geturl()
        ),
        os.environ.get("BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"),
    )
