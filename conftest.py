"""Fixtures shared by every app's tests: real PostgreSQL, real Redis."""

import pytest
from django.core.cache import cache
from django_redis import get_redis_connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken


def pytest_configure(config):
    from django.conf import settings

    # Argon2 is deliberately slow; tests that check hashing itself restore it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database of its own (REDIS_URL, db 15)."""
    get_redis_connection("default").flushdb()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {RefreshToken.for_user(user).access_token}"}


@pytest.fixture
def user(db):
    from users.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def as_user(user):
    """An API client logged in as `user`."""
    client = APIClient()
    client.credentials(**bearer(user))
    return client


@pytest.fixture
def client_for():
    """client_for(some_user) -> an API client logged in as that user."""

    def make(some_user):
        client = APIClient()
        client.credentials(**bearer(some_user))
        return client

    return make


@pytest.fixture
def count_queries(db):
    """count_queries(fn) -> (number of SQL queries fn ran, fn's result)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run(fn):
        with CaptureQueriesContext(connection) as ctx:
            result = fn()
        return len(ctx), result

    return run


@pytest.fixture
def page_queries(count_queries):
    """page_queries(client, url, grow) -> (queries for a small page, for a big one, big response).

    Both are measured after a warm-up request and a like drain, which builds the
    caller's set of liked posts as the beat job does within LIKE_FLUSH_INTERVAL_S, and
    with no post rendering cached (the worst case: every post of the page is loaded);
    `grow()` adds rows between the two measurements.
    """
    from interactions.services.likes import drain_like_buffer

    def forget_renderings():
        redis = get_redis_connection("default")
        for pattern in ("post:{*}", "card:{*}"):
            for key in redis.scan_iter(match=pattern, count=1000):
                redis.delete(key)

    def run(client, url: str, grow):
        client.get(url)
        drain_like_buffer()
        forget_renderings()
        small, _ = count_queries(lambda: client.get(url))
        grow()
        forget_renderings()
        large, response = count_queries(lambda: client.get(url))
        return small, large, response

    return run


@pytest.fixture
def drain_outbox(db):
    """drain_outbox() processes every pending feed outbox event here, as a worker would."""
    from feed import services
    from feed.models import OutboxEvent

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


@pytest.fixture(autouse=True)
def _close_feed_breaker():
    """The feed's circuit breaker is per process: a test that opens it must not leak."""
    from feed import views

    views._breaker_open_until = 0.0
    yield
    views._breaker_open_until = 0.0


@pytest.fixture(autouse=True)
def _commit_hooks_run_as_in_production(monkeypatch):
    """Run `on_commit` hooks when a service's transaction would have committed (or at once,
    for a statement outside the code's own transactions, which committed on its own).

    A test wrapped in a transaction never commits, so hooks (cache invalidation, outbox
    dispatch, revocations) would never run and the very next read would look stale. Here
    they run when the outermost atomic block below the test's own exits cleanly: where
    production commits. A block that fails discards its hooks, as in production.
    """
    from django.db import transaction

    original = transaction.Atomic.__exit__

    def exit_and_commit(self, exc_type, exc_value, traceback):
        result = original(self, exc_type, exc_value, traceback)
        connection = transaction.get_connection(self.using)
        if (
            exc_type is None
            and connection.atomic_blocks
            and all(block._from_testcase for block in connection.atomic_blocks)
        ):
            hooks, connection.run_on_commit = connection.run_on_commit, []
            for _, hook, _ in hooks:
                hook()
        return result

    monkeypatch.setattr(transaction.Atomic, "__exit__", exit_and_commit)

    # A hook registered outside any atomic block of the code's own (a single statement in
    # autocommit, which committed already) runs at once, as Django runs it in production.
    from django.db.backends.base.base import BaseDatabaseWrapper

    original_on_commit = BaseDatabaseWrapper.on_commit

    def on_commit_now_if_committed(self, func, robust=False):
        if self.atomic_blocks and all(block._from_testcase for block in self.atomic_blocks):
            func()
        else:
            original_on_commit(self, func, robust=robust)

    monkeypatch.setattr(BaseDatabaseWrapper, "on_commit", on_commit_now_if_committed)


@pytest.fixture
def monitor(settings):
    """An API client for the monitoring system: it may read /metrics and /readyz's details."""
    settings.METRICS_TOKEN = "test-metrics-token-" + "m" * 20
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    return client
