"""Feed test fixtures: a real Celery worker on the pytest database, and an inline drain."""

import pytest
from django.conf import settings

from feed import services
from feed.models import OutboxEvent
from puppies.tests.support import WorkerProcess, worker_env


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
