"""Ingestion fixtures: a real local upstream over HTTP (no mocks of our client)."""

import pytest

from ingestion import services
from ingestion.testing.upstream import Dataset, Faults, Upstream
from users.tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_ingestion(settings):
    """Loopback upstreams allowed; retries and timeouts short enough for tests."""
    settings.INGEST_ALLOW_PRIVATE = True
    settings.INGEST_BACKOFF_S = 0.01
    settings.INGEST_BACKOFF_MAX_S = 0.05
    settings.INGEST_HTTP_TIMEOUT_S = 1.0
    settings.INGEST_HTTP_RETRIES = 2
    settings.INGEST_RETRY_AFTER_MAX_S = 2.0
    settings.INGEST_CONCURRENCY = 2


@pytest.fixture
def upstream():
    """A started local upstream (20 posts, 3 comments each); `.url`, `.faults`, `.dataset`."""
    server = Upstream(Dataset(posts=20, comments_per_post=3, berries=6, pokemon=12), Faults())
    server.url = server.serve()
    yield server
    server.stop()


@pytest.fixture
def make_source(db, upstream):
    """make_source(kind="jsonplaceholder", **fields) -> a Source on the local upstream."""
    made = []

    def make(kind: str = "jsonplaceholder", **fields):
        base = upstream.url if kind == "jsonplaceholder" else f"{upstream.url}/api/v2"
        fields.setdefault("page_size", 10)
        source, _ = services.save_source(
            name=fields.pop("name", f"src{len(made)}"), kind=kind, base_url=base, **fields
        )
        made.append(source)
        return source

    return make


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def as_staff(staff, client_for):
    return client_for(staff)
