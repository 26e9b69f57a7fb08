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

    Both are measured after a warm-up request (which may do the once-per-window
    last_active_at write); `grow()` adds rows between the two measurements.
    """

    def run(client, url: str, grow):
        client.get(url)
        small, _ = count_queries(lambda: client.get(url))
        grow()
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
