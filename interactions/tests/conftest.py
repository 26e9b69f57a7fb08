"""Likes test fixtures: the buffer's Redis, a drain, and a real Celery worker with beat."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from interactions import like_buffer, services

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


@pytest.fixture
def buffer_redis():
    return like_buffer.client()


@pytest.fixture
def drain(db):
    """drain() writes the like buffer to PostgreSQL here, as the beat task does."""
    return services.drain_like_buffer


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@pytest.fixture
def likes_worker(transactional_db, tmp_path):
    """`celery -A puppies worker -B -Q likes` on the pytest database: beat schedules the
    drain every 0.3 s and the worker runs it. Yields the log path."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        DJANGO_SETTINGS_MODULE="puppies.settings",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        LIKE_BUFFER_REDIS_URL=settings.LIKE_BUFFER_REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        LIKE_FLUSH_INTERVAL_S="0.3",
        DB_CONN_MAX_AGE="0",
    )
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(  # noqa: S603
        [str(CELERY), "-A", "puppies", "worker", "-B", "-Q", "likes", "-c", "1",
         "-n", "likestest@%h", "--schedule", str(tmp_path / "beat-schedule"),
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: " ready." in log.read_text() or proc.poll() is not None)
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
        yield log
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
