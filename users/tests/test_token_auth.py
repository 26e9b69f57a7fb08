"""Access tokens are checked without reading PostgreSQL, yet every revocation takes effect
on the very next request: suspension, logout, password change, a deleted account; and
while Redis is down (or after it lost its data) PostgreSQL decides instead."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_redis import get_redis_connection
from rest_framework.test import APIClient

from users import moderation, revocations
from users.auth import AccessToken
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def member(db):
    user = UserFactory()
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(username: str, password: str = PASSWORD) -> dict:
    response = APIClient().post(
        "/v1/auth/token", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def client_with(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_an_authenticated_read_does_not_query_the_user(member):
    client = client_with(log_in(member.username)["access"])
    client.get("/v1/feed")  # first request: the revocation mirror is loaded once

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/v1/feed").status_code == 200

    assert not [q for q in queries.captured_queries if "users_user" in q["sql"]]


def test_logout_kills_the_access_token_at_once_and_a_new_login_works(member):
    tokens = log_in(member.username)
    client = client_with(tokens["access"])
    assert client.get("/v1/users/me").status_code == 200

    assert (
        client.post("/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code
        == 204
    )

    assert client.get("/v1/users/me").status_code == 401
    assert client.get("/v1/feed").status_code == 401
    fresh = client_with(log_in(member.username)["access"])  # within the same second
    assert fresh.get("/v1/users/me").status_code == 200


def test_password_change_kills_older_access_tokens(member):
    old = client_with(log_in(member.username)["access"])
    other_device = client_with(log_in(member.username)["access"])

    response = old.post(
        "/v1/auth/password",
        {"old_password": PASSWORD, "new_password": "an entirely new passphrase"},
        format="json",
    )

    assert response.status_code == 204
    assert other_device.get("/v1/feed").status_code == 401
    assert old.get("/v1/users/me").status_code == 401
    fresh = client_with(log_in(member.username, "an entirely new passphrase")["access"])
    assert fresh.get("/v1/feed").status_code == 200


def test_suspension_and_unsuspension_take_effect_on_the_next_request(member):
    moderator = UserFactory(role=User.Role.MODERATOR)
    client = client_with(log_in(member.username)["access"])
    assert client.get("/v1/feed").status_code == 200

    moderation.suspend_user(member, actor=moderator, reason="spam wave")
    assert client.get("/v1/feed").status_code == 401

    moderation.unsuspend_user(member, actor=moderator, reason="appeal")
    assert client.get("/v1/feed").status_code == 200


def test_a_deleted_account_token_stops_working(member):
    client = client_with(log_in(member.username)["access"])
    member.delete()

    assert client.get("/v1/feed").status_code == 401


def test_redis_losing_the_mirror_does_not_unsuspend_anyone(member):
    moderator = UserFactory(role=User.Role.MODERATOR)
    client = client_with(log_in(member.username)["access"])
    moderation.suspend_user(member, actor=moderator, reason="spam wave")

    get_redis_connection("default").flushdb()  # a Redis restart without persistence

    assert client.get("/v1/feed").status_code == 401


def test_with_redis_down_postgresql_decides(member, settings):
    moderator = UserFactory(role=User.Role.MODERATOR)
    tokens = log_in(member.username)
    client = client_with(tokens["access"])
    settings.REDIS_URL = DEAD_REDIS

    assert client.get("/v1/feed").status_code == 200
    moderation.suspend_user(member, actor=moderator, reason="spam wave")
    assert client.get("/v1/feed").status_code == 401

    moderation.unsuspend_user(member, actor=moderator, reason="appeal")
    assert client.get("/v1/feed").status_code == 200
    User.objects.filter(pk=member.pk).update(tokens_valid_after=timezone.now())
    assert client.get("/v1/feed").status_code == 401


def test_a_change_whose_mirroring_failed_is_enforced_by_the_reload(member, settings):
    client = client_with(log_in(member.username)["access"])
    client.get("/v1/feed")
    User.objects.filter(pk=member.pk).update(is_active=False)  # as if Redis missed it
    assert client.get("/v1/feed").status_code == 200

    revocations.reload()  # the beat job

    assert client.get("/v1/feed").status_code == 401


def test_activity_is_stamped_in_redis_and_written_in_batches(member):
    User.objects.filter(pk=member.pk).update(last_active_at=None)
    client = client_with(log_in(member.username)["access"])

    with CaptureQueriesContext(connection) as queries:
        client.get("/v1/feed")
    member.refresh_from_db()

    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert member.last_active_at is None
    assert revocations.flush_activity() == 1
    member.refresh_from_db()
    assert member.last_active_at is not None
    assert abs((timezone.now() - member.last_active_at).total_seconds()) < 60


@pytest.mark.parametrize("flush_mirror", [False, True])
def test_the_check_riding_on_a_view_script_refuses_a_suspended_token_and_records_nothing(
    member, flush_mirror
):
    from interactions import like_buffer
    from posts.tests.factories import PostFactory

    moderator = UserFactory(role=User.Role.MODERATOR)
    post = PostFactory()
    client = client_with(log_in(member.username)["access"])
    for _ in range(2):  # the post and its author's summary are cached: the fast paths
        assert client.get(f"/v1/posts/{post.id}").status_code == 200
        assert client.get("/v1/feed").status_code == 200
    moderation.suspend_user(member, actor=moderator, reason="spam wave")
    if flush_mirror:
        get_redis_connection("default").flushdb()

    assert client.get(f"/v1/posts/{post.id}").status_code == 401
    assert client.get("/v1/feed").status_code == 401
    assert client.post(f"/v1/posts/{post.id}/likes").status_code == 401
    assert like_buffer.client().hlen(like_buffer.keys(post.id)[0]) == 0


def test_a_token_verified_before_still_expires_on_time(member):
    """Verified tokens are remembered per process, but never past their `exp`."""
    token = AccessToken.for_user(member)
    token.set_exp(lifetime=timedelta(minutes=1))
    client = client_with(str(token))
    assert client.get("/v1/users/me").status_code == 200  # verified, and remembered

    with time_machine.travel(token["exp"] + 1):  # a clock the test moves, not a wait
        response = client.get("/v1/users/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_a_tampered_copy_of_a_remembered_token_is_refused(member):
    access = log_in(member.username)["access"]
    assert client_with(access).get("/v1/users/me").status_code == 200
    header, payload, signature = access.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    assert client_with(forged).get("/v1/users/me").status_code == 401


@pytest.mark.parametrize("revoke", ["suspend", "logout", "row_only"])
def test_post_creation_carrying_the_check_refuses_a_revoked_token_and_writes_nothing(
    member, revoke
):
    """POST /v1/posts leaves the check to its one statement (posts.sql.PUBLISH_NEW), which
    asks the user's row itself: even a revocation Redis never heard of refuses it."""
    from feed.models import OutboxEvent
    from posts.models import Post

    client = client_with(log_in(member.username)["access"])
    assert client.post("/v1/posts", {"content": "first"}, format="json").status_code == 201
    if revoke == "suspend":
        moderator = UserFactory(role=User.Role.MODERATOR)
        moderation.suspend_user(member, actor=moderator, reason="spam wave")
    elif revoke == "logout":
        revocations.revoke_tokens(member)
    else:  # as if mirroring it to Redis failed: only PostgreSQL knows
        User.objects.filter(pk=member.pk).update(tokens_valid_after=timezone.now())
    posts, events = Post.objects.count(), OutboxEvent.objects.count()

    response = client.post("/v1/posts", {"content": "second #tag"}, format="json")

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "token_not_valid"
    assert (Post.objects.count(), OutboxEvent.objects.count()) == (posts, events)
    member.refresh_from_db()
    assert member.post_count == 1


def test_a_revoked_token_hears_401_before_its_post_is_validated(member):
    client = client_with(log_in(member.username)["access"])
    assert client.post("/v1/posts", {"content": "first"}, format="json").status_code == 201
    revocations.revoke_tokens(member)

    response = client.post("/v1/posts", {"content": ""}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
