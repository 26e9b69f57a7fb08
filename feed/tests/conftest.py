"""Feed test fixtures: a real Celery worker on the pytest database."""

import pytest
from django.conf import settings

from puppies.tests.support import WorkerProcess, worker_env


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """A started real worker; `.kill()` / `.start()` restart it. Env overrides via
    `celery_worker.env` before a restart."""
    env = worker_env(
        FEED_FANOUT_CHUNK="100",
        VIP_FOLLOWER_THRESHOLD=str(settings.VIP_FOLLOWER_THRESHOLD),
        VIP_EXIT_FOLLOWER_THRESHOLD=str(settings.VIP_EXIT_FOLLOWER_THRESHOLD),
    )
    worker = WorkerProcess(tmp_path, env, queues="fanout,default")
    worker.start()
    yield worker
    worker.stop()
