"""Idempotency-Key on post and comment creation: a retry answers the first response."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from conftest import bearer
from interactions.models import Comment
from posts.models import Post
from posts.tests.factories import PostFactory
from puppies import idempotency
from puppies import redis as puppies_redis
from users.tests.factories import UserFactory


def _post(client, content="Good dog!", key="key-1", url="/v1/posts"):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(url, {"content": content}, format="json", **headers)


@pytest.mark.django_db
def test_a_retried_post_creates_nothing_and_answers_the_first_response(as_user, user):
    first = _post(as_user)
    again = _post(as_user)

    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert first.get("Idempotent-Replayed") is None
    assert Post.objects.filter(author=user).count() == 1
    user.refresh_from_db()
    assert user.post_count == 1


@pytest.mark.django_db
def test_a_retried_comment_creates_nothing_and_answers_the_first_response(as_user):
    post = PostFactory()
    url = f"/v1/posts/{post.id}/comments"

    first = _post(as_user, "Cute!", url=url)
    again = _post(as_user, "Cute!", url=url)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Comment.objects.filter(post=post).count() == 1
    post.refresh_from_db()
    assert post.comment_count == 1


@pytest.mark.django_db
def test_the_same_key_with_another_request_is_a_422(as_user):
    post = PostFactory()
    assert _post(as_user, "one").status_code == 201

    other_body = _post(as_user, "two")
    other_endpoint = _post(as_user, "one", url=f"/v1/posts/{post.id}/comments")

    for response in (other_body, other_endpoint):
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Post.objects.count() == 2  # the factory's and the first
    assert Comment.objects.count() == 0


@pytest.mark.django_db
def test_any_json_body_fingerprints(as_user):
    """What the JSON parser takes is fingerprinted (not a 500), extra fields included."""
    body = '{"content": "big", "n": %d, "s": "\\ud800", "nested": {"b": 1, "a": [null]}}'

    def send(n: int):
        return as_user.post(
            "/v1/posts", body % n, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
        )

    first, again, other = send(2**70), send(2**70), send(2**70 + 1)

    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
    assert again.content == first.content


@pytest.mark.django_db
def test_keys_are_per_user_and_different_keys_create_again(as_user, client_for):
    assert _post(as_user, key="a").status_code == 201
    assert _post(as_user, key="b").status_code == 201
    assert _post(client_for(UserFactory()), key="a").status_code == 201

    assert Post.objects.count() == 3


@pytest.mark.django_db
def test_a_refused_request_frees_the_key_for_the_corrected_retry(as_user):
    refused = _post(as_user, "")
    corrected = _post(as_user, "now with content")

    assert refused.status_code == 400
    assert corrected.status_code == 201
    assert _post(as_user, "now with content").content == corrected.content


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " padded", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_400(as_user, key):
    response = _post(as_user, key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert Post.objects.count() == 0


@pytest.mark.django_db
def test_a_key_is_kept_for_24_hours(as_user, user):
    _post(as_user, key="ttl")

    [key] = puppies_redis.client().keys(f"idem:{user.pk}:*")
    assert 86_000 < puppies_redis.client().ttl(key) <= 86_400


@pytest.mark.django_db
def test_with_redis_down_a_keyed_request_is_refused_not_run_blind(as_user, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    assert _post(as_user).status_code == 503
    assert _post(as_user, key=None).status_code == 201  # without a key: as ever
    assert Post.objects.count() == 1


@pytest.mark.django_db
def test_without_the_header_creation_costs_nothing_extra(as_user, monkeypatch):
    """Post and comment creation are benchmarked: no Redis command, no query for keys."""
    post = PostFactory()
    _post(as_user, key=None)  # warm
    commands = []
    execute = puppies_redis.execute

    def spy(cmds, *args, **kwargs):
        commands.extend(cmds)
        return execute(cmds, *args, **kwargs)

    monkeypatch.setattr(puppies_redis, "execute", spy)
    with CaptureQueriesContext(connection) as queries:
        assert _post(as_user, key=None).status_code == 201
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["WITH"]
    with CaptureQueriesContext(connection) as comment_queries:
        _post(as_user, "nice", key=None, url=f"/v1/posts/{post.id}/comments")

    scripts = {idempotency._CLAIM.sha, idempotency._SETTLE.sha}
    assert not [c for c in commands if set(map(str, c)) & scripts]
    assert not puppies_redis.client().keys("idem:*")
    assert not [q for q in comment_queries.captured_queries if "idem" in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_key_create_one_post():
    user = UserFactory()
    token = bearer(user)
    barrier = threading.Barrier(6)
    answers = []

    def send():
        client = APIClient()
        client.credentials(**token)
        barrier.wait()
        try:
            answers.append(_post(client, "only once", key="race"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Post.objects.filter(author=user).count() == 1
    created = [a for a in answers if a.status_code == 201]
    waiting = [a for a in answers if a.status_code == 409]
    assert len(created) + len(waiting) == 6
    assert sum(a.get("Idempotent-Replayed") is None for a in created) == 1
    assert created, [a.status_code for a in answers]
    assert len({a.content for a in created}) == 1
    for answer in waiting:
        assert answer.json()["error"]["code"] == "in_progress"
        assert answer["Retry-After"] == "1"
