"""Test support shared by every app: a real Celery worker process, and polling.

Imported by the tests of every app.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def worker_env(**overrides: str) -> dict:
    """The environment of a worker that shares this test's database, Redis and broker."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        DJANGO_SETTINGS_MODULE="puppies.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        DB_CONN_MAX_AGE="0",
    )
    env.update(overrides)
    return env


class WorkerProcess:
    """`celery -A puppies worker` on the given queues (with beat inside if asked)."""

    def __init__(self, log_dir: Path, env: dict, *, queues: str, beat: bool = False):
        self.log_dir, self.env, self.queues, self.beat = log_dir, env, queues, beat
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 20.0) -> None:
        self.starts += 1
        self.log = self.log_dir / f"worker-{self.starts}.log"
        args = [str(CELERY), "-A", "puppies", "worker", "-Q", self.queues, "-c", "1",
                "-n", f"test{self.starts}-{os.getpid()}@%h", "--without-gossip",
                "--without-mingle", "--without-heartbeat", "-l", "INFO"]  # fmt: skip
        if self.beat:
            args += ["-B", "--schedule", str(self.log_dir / "beat-schedule")]
        self.proc = subprocess.Popen(  # noqa: S603 - our own celery, fixed arguments
            args, cwd=ROOT, env=self.env, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started = wait_for(
            lambda: " ready." in self.log.read_text() or self.proc.poll() is not None, timeout
        )
        if not started or self.proc.poll() is not None:
            raise RuntimeError(f"celery worker did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: a crashed machine, no cleanup."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
