"""Reposts: the writes and their counts (the feed's side: feed/tests/test_reposts.py)."""

import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conftest import bearer
from interactions.tests.support import marks
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_repost_is_201_then_200_and_counts_once(as_user, client_for):
    post = PostFactory()
    reader = client_for(UserFactory())
    assert marks(reader, post.id) == (False, False, 0)  # cached before the repost

    first = as_user.post(f"/v1/posts/{post.id}/reposts")
    again = as_user.post(f"/v1/posts/{post.id}/reposts")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {"post_id": post.id, "reposted_by_me": True, "repost_count": 1}
    assert again.json()["repost_count"] == 1
    assert marks(as_user, post.id) == (False, True, 1)
    assert marks(reader, post.id) == (False, False, 1)  # the count is fresh for everyone

    assert as_user.delete(f"/v1/posts/{post.id}/reposts").status_code == 204
    assert as_user.delete(f"/v1/posts/{post.id}/reposts").status_code == 204
    assert marks(as_user, post.id) == (False, False, 0)
    assert marks(reader, post.id) == (False, False, 0)


def test_own_and_invisible_posts_cannot_be_reposted(as_user, user):
    own = PostFactory(author=user)
    hidden = PostFactory(hidden_at=timezone.now())
    pending = PostFactory(status=Post.Status.PENDING_MEDIA)

    own_response = as_user.post(f"/v1/posts/{own.id}/reposts")
    assert own_response.status_code == 403
    assert own_response.json()["error"]["code"] == "permission_denied"
    assert as_user.post(f"/v1/posts/{hidden.id}/reposts").status_code == 404
    assert as_user.post(f"/v1/posts/{pending.id}/reposts").status_code == 404
    assert as_user.post("/v1/posts/999999/reposts").status_code == 404
    assert Post.objects.get(pk=own.id).repost_count == 0


def _at_once(users, request) -> list[int]:
    barrier = threading.Barrier(len(users))
    statuses = []

    def run(someone):
        client = APIClient()
        client.credentials(**bearer(someone))
        barrier.wait()
        statuses.append(request(client).status_code)
        connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


@pytest.mark.django_db(transaction=True)
def test_concurrent_reposts_count_exactly():
    post = PostFactory()
    fans = UserFactory.create_batch(8)
    url = f"/v1/posts/{post.id}/reposts"

    assert _at_once(fans, lambda c: c.post(url)) == [201] * 8
    assert Post.objects.get(pk=post.id).repost_count == 8

    twice = fans[0]
    assert _at_once([twice, twice], lambda c: c.delete(url)) == [204, 204]
    assert Post.objects.get(pk=post.id).repost_count == 7
    assert _at_once([twice, twice], lambda c: c.post(url)) == [200, 201]
    assert Post.objects.get(pk=post.id).repost_count == 8
    client = APIClient()
    client.credentials(**bearer(twice))
    assert marks(client, post.id) == (False, True, 8)


def test_reposts_are_rate_limited_per_user(as_user, settings):
    settings.RATELIMIT_REPOST = "2/m"
    post = PostFactory()
    assert as_user.post(f"/v1/posts/{post.id}/reposts").status_code == 201
    assert as_user.delete(f"/v1/posts/{post.id}/reposts").status_code == 204

    response = as_user.post(f"/v1/posts/{post.id}/reposts")

    assert response.status_code == 429
    assert "Retry-After" in response
    assert Post.objects.get(pk=post.id).repost_count == 0
