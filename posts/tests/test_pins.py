"""Pins: an author pins up to 5 of their posts, listed on their profile."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from conftest import bearer
from posts import services
from posts.models import Pin, Post
from posts.tests.factories import PostFactory
from users import moderation
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def pinned(client, user_id: int) -> list[int]:
    response = client.get(f"/v1/users/{user_id}/pinned")
    assert response.status_code == 200, response.content
    return [post["id"] for post in response.json()["results"]]


def test_pin_is_listed_most_recent_first_and_idempotent(as_user, user, api):
    first, second = PostFactory(author=user), PostFactory(author=user)

    created = as_user.post(f"/v1/posts/{first.id}/pin")
    again = as_user.post(f"/v1/posts/{first.id}/pin")
    as_user.post(f"/v1/posts/{second.id}/pin")

    assert created.status_code == 201
    assert created.json()["post_id"] == first.id
    assert again.status_code == 200
    assert again.json() == created.json()
    assert pinned(api, user.id) == [second.id, first.id]
    body = api.get(f"/v1/users/{user.id}/pinned").json()["results"][0]
    assert body["content"] == second.content and body["author"]["id"] == user.id


def test_at_most_five_pins(as_user, user, api):
    posts = [PostFactory(author=user) for _ in range(6)]
    for post in posts[:5]:
        assert as_user.post(f"/v1/posts/{post.id}/pin").status_code == 201

    sixth = as_user.post(f"/v1/posts/{posts[5].id}/pin")

    assert sixth.status_code == 409
    assert sixth.json()["error"]["code"] == "pin_limit_reached"
    assert len(pinned(api, user.id)) == 5
    # unpinning one makes room
    assert as_user.delete(f"/v1/posts/{posts[0].id}/pin").status_code == 204
    assert as_user.post(f"/v1/posts/{posts[5].id}/pin").status_code == 201
    assert pinned(api, user.id)[0] == posts[5].id


def test_only_the_author_pins_or_unpins(as_user, user, client_for, api):
    post = PostFactory()

    assert as_user.post(f"/v1/posts/{post.id}/pin").status_code == 403
    assert api.post(f"/v1/posts/{post.id}/pin").status_code == 401
    assert client_for(post.author).post(f"/v1/posts/{post.id}/pin").status_code == 201
    assert as_user.delete(f"/v1/posts/{post.id}/pin").status_code == 403
    assert as_user.post("/v1/posts/999999/pin").status_code == 404
    assert pinned(api, post.author_id) == [post.id]


def test_unpin_delete_and_hide_remove_a_post_from_the_list(as_user, user, api):
    kept, unpinned, deleted, hidden = (PostFactory(author=user) for _ in range(4))
    for post in (kept, unpinned, deleted, hidden):
        as_user.post(f"/v1/posts/{post.id}/pin")

    assert as_user.delete(f"/v1/posts/{unpinned.id}/pin").status_code == 204
    assert as_user.delete(f"/v1/posts/{unpinned.id}/pin").status_code == 204  # idempotent
    as_user.delete(f"/v1/posts/{deleted.id}")
    services.hide_post(hidden, actor=UserFactory(role="moderator"), reason="spam")

    assert pinned(api, user.id) == [kept.id]
    assert pinned(as_user, user.id) == [kept.id]  # the author too: the list is public
    services.unhide_post(hidden, actor=UserFactory(role="moderator"), reason="fine")
    assert pinned(api, user.id) == [kept.id]  # unhiding does not pin it again
    assert set(Pin.objects.values_list("post_id", flat=True)) == {kept.id}


def test_a_post_others_cannot_see_cannot_be_pinned(as_user, user):
    pending = PostFactory(author=user, status=Post.Status.PENDING_MEDIA)

    response = as_user.post(f"/v1/posts/{pending.id}/pin")

    assert response.status_code == 409
    assert not Pin.objects.exists()


def test_a_hidden_or_suspended_authors_pins_are_not_shown(as_user, user, api):
    post = PostFactory(author=user)
    as_user.post(f"/v1/posts/{post.id}/pin")
    moderation.suspend_user(user, actor=UserFactory(role="moderator"), reason="spam")

    assert api.get(f"/v1/users/{user.id}/pinned").status_code == 404
    assert api.get("/v1/users/999999/pinned").status_code == 404


def test_the_pinned_list_costs_constant_queries(as_user, user, page_queries):
    posts = [PostFactory(author=user) for _ in range(5)]
    services.pin_post(posts[0], actor=user)

    def grow():
        for post in posts[1:]:
            services.pin_post(post, actor=user)

    small, large, response = page_queries(as_user, f"/v1/users/{user.id}/pinned", grow)

    assert len(response.json()["results"]) == 5
    assert small == large


@pytest.mark.django_db(transaction=True)
def test_concurrent_pins_never_exceed_five():
    author = UserFactory()
    posts = [PostFactory(author=author) for _ in range(8)]
    token = bearer(author)
    barrier = threading.Barrier(len(posts))
    statuses = []

    def pin(post_id: int):
        client = APIClient()
        client.credentials(**token)
        barrier.wait()
        try:
            statuses.append(client.post(f"/v1/posts/{post_id}/pin").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=pin, args=(post.id,)) for post in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [201] * 5 + [409] * 3
    assert Pin.objects.filter(author=author).count() == 5
