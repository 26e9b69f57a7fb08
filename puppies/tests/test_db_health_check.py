"""The per-request database health check (CONN_HEALTH_CHECKS) runs at most once per
DB_HEALTH_CHECK_INTERVAL_S on a kept connection (puppies/postgresql/base.py), and a
connection that went bad is still replaced."""

import pytest
from django.db import connections

connection = connections["default"]  # the wrapper itself, not the proxy of `django.db`

pytestmark = pytest.mark.django_db(transaction=True)


def serve_requests(n: int) -> None:
    for _ in range(n):
        connection.close_if_unusable_or_obsolete()  # what Django does as a request starts
        with connection.cursor() as cursor:  # the request's first query
            cursor.execute("SELECT 1")


@pytest.fixture
def health_checks(monkeypatch):
    """The checks Django runs (each is a `SELECT 1` round trip), counted."""
    made = []
    is_usable = type(connection).is_usable

    def counted(self):
        made.append(1)
        return is_usable(self)

    monkeypatch.setattr(type(connection), "is_usable", counted)
    serve_requests(1)  # a kept connection, as after a first request
    connection._checked_at = float("-inf")
    made.clear()
    return made


def test_a_kept_connection_is_checked_once_per_interval(health_checks, settings):
    settings.DB_HEALTH_CHECK_INTERVAL_S = 60

    serve_requests(5)

    assert len(health_checks) == 1


def test_with_no_interval_every_request_checks_as_django_does(health_checks, settings):
    settings.DB_HEALTH_CHECK_INTERVAL_S = 0

    serve_requests(5)

    assert len(health_checks) == 5


def test_a_connection_the_server_dropped_is_replaced_once_checked(health_checks, settings):
    settings.DB_HEALTH_CHECK_INTERVAL_S = 0
    serve_requests(1)
    before = connection.connection.info.backend_pid
    killer = connections.create_connection("default")  # the server ends our session
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [before])
    killer.close()

    serve_requests(1)  # no error: the check found the connection dead and reconnected

    assert connection.connection.info.backend_pid != before
