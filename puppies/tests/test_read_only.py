"""Read-only mode while PostgreSQL is unreachable (ARCHITECTURE.md, degraded modes).

PostgreSQL "down" is, in most tests, the test database's connection pointed at a loopback
port where nothing listens: every connect is refused, as with a stopped server, while the
test's own database stays up for its setup and teardown. The last test stops a real
server: a PostgreSQL of its own (initdb + pg_ctl on a free port, the test database's
schema), stopped with `pg_ctl stop -m fast` and started again.
"""

import socket
import subprocess
from contextlib import contextmanager

import pytest
from django.db import connections
from prometheus_client import REGISTRY

from interactions.services.likes import drain_like_buffer
from posts.tests.factories import PostFactory
from scripts.local_servers import PostgresServer, find_binary
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def postgres_unreachable():
    conn = connections["default"]
    port = conn.settings_dict["PORT"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # closed again: connections to it are refused
    conn.close()
    conn.settings_dict["PORT"] = dead
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict["PORT"] = port


def degraded() -> float:
    return REGISTRY.get_sample_value("puppies_degraded_responses_total", {"mode": "read_only"}) or 0


def test_with_postgresql_down_cached_reads_answer_and_writes_get_503_with_retry_after(
    client_for, monitor, settings
):
    settings.DB_DOWN_RETRY_AFTER_S = 7
    reader, bella = UserFactory(), UserFactory()
    posts = [PostFactory(author=bella), PostFactory(author=bella)]
    me = client_for(reader)
    assert me.post(f"/v1/users/{bella.id}/follow").status_code == 201
    me.get("/v1/feed")
    me.get(f"/v1/posts/{posts[0].id}")
    # The beat job's like drain builds the reader's liked set (what lets a render skip
    # PostgreSQL); then the feed's first page and the post are cached.
    drain_like_buffer()
    feed = me.get("/v1/feed").json()
    post = me.get(f"/v1/posts/{posts[0].id}").json()
    assert [p["id"] for p in feed["results"]] == [p.id for p in reversed(posts)]
    before = degraded()

    with postgres_unreachable():
        feed_now = me.get("/v1/feed")
        post_now = me.get(f"/v1/posts/{posts[0].id}")
        write = me.post("/v1/posts", {"content": "while down"}, format="json")
        ready = monitor.get("/readyz")

    assert feed_now.status_code == 200
    assert feed_now.json()["results"] == feed["results"]
    assert (post_now.status_code, post_now.json()) == (200, post)
    assert write.status_code == 503
    assert write["Retry-After"] == "7"
    assert write.json()["error"]["code"] == "service_unavailable"
    assert "read-only" in write.json()["error"]["message"]
    assert ready.status_code == 200  # stays in rotation: it still serves cached reads
    assert ready.json()["status"] == "read_only"
    assert ready.json()["checks"]["database"].startswith("down")
    assert degraded() == before + 1
    # Back without a restart.
    assert me.post("/v1/posts", {"content": "back"}, format="json").status_code == 201
    assert monitor.get("/readyz").json()["status"] == "ok"


def test_with_postgresql_down_profiles_read_before_are_served_from_their_copy(client_for):
    reader, bella, never_read = UserFactory(), UserFactory(display_name="Bella"), UserFactory()
    me, other = client_for(reader), client_for(never_read)
    assert me.post(f"/v1/users/{bella.id}/follow").status_code == 201
    profile = me.get(f"/v1/users/{bella.id}").json()
    own = me.get("/v1/users/me").json()
    assert (profile["is_following"], profile["follower_count"]) == (True, 1)
    assert own["email"] == reader.email
    before = degraded()

    with postgres_unreachable():
        profile_now = me.get(f"/v1/users/{bella.id}")
        own_now = me.get("/v1/users/me")
        unknown = me.get(f"/v1/users/{never_read.id}")
        seen_by_other = other.get(f"/v1/users/{bella.id}")

    assert (profile_now.status_code, profile_now.json()) == (200, profile)
    assert (own_now.status_code, own_now.json()) == (200, own)
    # Never read (by this viewer): nothing to serve; a clean 503, counted.
    assert unknown.status_code == seen_by_other.status_code == 503
    assert unknown["Retry-After"]
    assert degraded() == before + 2


def test_a_changed_profile_is_never_served_from_an_older_copy(client_for):
    reader, bella = UserFactory(), UserFactory(display_name="Bella")
    me, her = client_for(reader), client_for(bella)
    assert me.get(f"/v1/users/{bella.id}").json()["display_name"] == "Bella"
    assert her.get("/v1/users/me").json()["display_name"] == "Bella"
    assert her.patch("/v1/users/me", {"display_name": "Bella II"}, format="json").status_code == 200
    assert me.post(f"/v1/users/{bella.id}/follow").status_code == 201

    with postgres_unreachable():
        # Both copies predate the edit and the follow: refused, not served stale.
        stale = me.get(f"/v1/users/{bella.id}")
        stale_own = her.get("/v1/users/me")
    assert stale.status_code == stale_own.status_code == 503

    fresh = me.get(f"/v1/users/{bella.id}").json()  # read again: the copy is the new one
    assert (fresh["display_name"], fresh["is_following"]) == ("Bella II", True)
    with postgres_unreachable():
        again = me.get(f"/v1/users/{bella.id}")
    assert (again.status_code, again.json()) == (200, fresh)


@pytest.fixture
def own_postgres(transactional_db):
    """This test's connection on a PostgreSQL of its own (initdb + pg_ctl on a free port)
    holding the test database's schema, so that the test can stop a real server."""
    server = PostgresServer()
    server.start()
    conn = connections["default"]
    db = conn.settings_dict
    schema = subprocess.run(  # noqa: S603 - the installed pg_dump, fixed arguments
        [find_binary("pg_dump"), "--schema-only", "--no-owner", "-h", db["HOST"], "-p",
         str(db["PORT"]), "-U", db["USER"], db["NAME"]],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(  # noqa: S603 - the installed psql, fixed arguments
        [find_binary("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
         str(server.port), "-U", "postgres", "-d", "postgres"],
        input=schema, capture_output=True, check=True,
    )  # fmt: skip
    saved = {k: db[k] for k in ("HOST", "PORT", "NAME")}
    conn.close()
    db.update(HOST="127.0.0.1", PORT=str(server.port), NAME="postgres")
    try:
        yield server
    finally:
        conn.close()
        db.update(saved)
        server.remove()


@pytest.mark.skipif(not find_binary("pg_ctl"), reason="needs PostgreSQL's pg_ctl and initdb")
def test_a_real_postgresql_stopped_then_started_serves_read_only_and_recovers(
    own_postgres, client_for, monitor
):
    reader, bella = UserFactory(), UserFactory()
    posts = [PostFactory(author=bella), PostFactory(author=bella)]
    me = client_for(reader)
    assert me.post(f"/v1/users/{bella.id}/follow").status_code == 201
    me.get("/v1/feed")
    drain_like_buffer()  # builds the reader's liked set: renders then skip PostgreSQL
    feed = me.get("/v1/feed").json()
    post = me.get(f"/v1/posts/{posts[0].id}").json()
    profile = me.get(f"/v1/users/{bella.id}").json()

    own_postgres.stop()  # a real server, stopped: its sessions end, connects are refused
    feed_now = me.get("/v1/feed")
    post_now = me.get(f"/v1/posts/{posts[0].id}")
    profile_now = me.get(f"/v1/users/{bella.id}")
    write = me.post("/v1/posts", {"content": "while down"}, format="json")
    ready = monitor.get("/readyz")
    own_postgres.start()

    assert (feed_now.status_code, feed_now.json()) == (200, feed)
    assert (post_now.status_code, post_now.json()) == (200, post)
    assert (profile_now.status_code, profile_now.json()) == (200, profile)
    assert write.status_code == 503
    assert write["Retry-After"]
    assert (ready.status_code, ready.json()["status"]) == (200, "read_only")
    # Back without a restart: Django drops the broken connection between requests
    # (close_old_connections; the test client leaves that signal out, so do it here).
    connections["default"].close_if_unusable_or_obsolete()
    assert me.post("/v1/posts", {"content": "back"}, format="json").status_code == 201
    assert [p["id"] for p in me.get("/v1/feed").json()["results"]][:2] == [
        p.id for p in reversed(posts)
    ]
