"""Feed test fixtures: a real Celery worker on the pytest database, and an inline drain."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from feed import services
from feed.models import OutboxEvent

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


@pytest.fixture
def drain_outbox(db):
    """drain_outbox() processes every pending outbox event here, as a worker would."""

    def drain() -> int:
        ids = list(
            OutboxEvent.objects.filter(processed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for event_id in ids:
            services.process_event(event_id)
        return len(ids)

    return drain


class WorkerProcess:
    """`celery -A puppies worker -Q fanout,default` against the pytest database."""

    def __init__(self, log_dir: Path, env: dict):
        self.log_dir, self.env, self.proc, self.starts = log_dir, env, None, 0

    def start(self, timeout: float = 20.0) -> None:
        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        self.log = log
        self.proc = subprocess.Popen(  # noqa: S603
            [str(CELERY), "-A", "puppies", "worker", "-Q", "fanout,default", "-c", "1",
             "-n", f"feedtest{self.starts}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in log.read_text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")

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


def worker_env(**overrides: str) -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="puppies.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        DB_CONN_MAX_AGE="0",
        VIP_FOLLOWER_THRESHOLD=str(settings.VIP_FOLLOWER_THRESHOLD),
        VIP_EXIT_FOLLOWER_THRESHOLD=str(settings.VIP_EXIT_FOLLOWER_THRESHOLD),
        PROMETHEUS_MULTIPROC_DIR="",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    env.update(overrides)
    return env


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A started real worker; `.kill()` / `.start()` restart it. Env overrides via
    `celery_worker.env` before a restart."""
    worker = WorkerProcess(tmp_path, worker_env(FEED_FANOUT_CHUNK="100"))
    worker.start()
    yield worker
    worker.stop()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met in time")
