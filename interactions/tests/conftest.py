"""Likes test fixtures: the buffer's Redis, a drain, and a real Celery worker with beat."""

import pytest
from django.conf import settings

from interactions import like_buffer
from interactions.services import likes
from puppies.tests.support import WorkerProcess, worker_env


@pytest.fixture
def buffer_redis():
    return like_buffer.client()


@pytest.fixture
def drain(db):
    """drain() writes the like buffer to PostgreSQL here, as the beat task does."""
    return likes.drain_like_buffer


@pytest.fixture
def likes_worker(transactional_db, tmp_path):
    """`celery -A puppies worker -B -Q likes` on the pytest database: beat schedules the
    drain every 0.3 s and the worker runs it. Yields the log path."""
    env = worker_env(
        LIKE_BUFFER_REDIS_URL=settings.LIKE_BUFFER_REDIS_URL, LIKE_FLUSH_INTERVAL_S="0.3"
    )
    worker = WorkerProcess(tmp_path, env, queues="likes", beat=True)
    worker.start()
    yield worker.log
    worker.stop()
