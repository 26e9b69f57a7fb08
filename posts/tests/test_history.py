"""Edit history: each edit keeps the previous content; `edited_at` on the post."""

import pytest
from django.utils import timezone

from posts import services
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _edit(client, post_id: int, content: str):
    response = client.patch(f"/v1/posts/{post_id}", {"content": content}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_new_post_was_never_edited(as_user, api):
    created = as_user.post("/v1/posts", {"content": "first"}, format="json").json()

    assert created["edited_at"] is None
    assert api.get(f"/v1/posts/{created['id']}").json()["edited_at"] is None
    history = api.get(f"/v1/posts/{created['id']}/history")
    assert history.status_code == 200
    assert history.json() == {"results": [], "next_cursor": None}


def test_each_edit_keeps_the_previous_version_newest_first(as_user, api):
    created = as_user.post("/v1/posts", {"content": "v1"}, format="json").json()
    api.get(f"/v1/posts/{created['id']}")  # cached before the edits

    first = _edit(as_user, created["id"], "v2")
    second = _edit(as_user, created["id"], "v3")

    assert first["edited_at"] is not None
    assert second["edited_at"] > first["edited_at"]
    seen = api.get(f"/v1/posts/{created['id']}").json()  # the cache was refreshed
    assert (seen["content"], seen["edited_at"]) == ("v3", second["edited_at"])
    assert (
        api.get(f"/v1/users/{created['author']['id']}/posts").json()["results"][0]["edited_at"]
        == second["edited_at"]
    )
    history = api.get(f"/v1/posts/{created['id']}/history").json()
    assert history["results"] == [
        {"content": "v2", "edited_at": first["edited_at"]},
        {"content": "v1", "edited_at": created["created_at"]},
    ]


def test_an_edit_to_the_same_content_keeps_no_version(as_user, user, api):
    post = PostFactory(author=user, content="same")

    assert _edit(as_user, post.id, "same")["edited_at"] is None
    assert api.get(f"/v1/posts/{post.id}/history").json()["results"] == []


def test_history_pages_with_the_cursor(as_user, user, api):
    post = PostFactory(author=user, content="v0")
    for n in range(1, 6):
        _edit(as_user, post.id, f"v{n}")

    page1 = api.get(f"/v1/posts/{post.id}/history?limit=3").json()
    page2 = api.get(f"/v1/posts/{post.id}/history?limit=3&cursor={page1['next_cursor']}").json()

    assert [v["content"] for v in page1["results"]] == ["v4", "v3", "v2"]
    assert [v["content"] for v in page2["results"]] == ["v1", "v0"]
    assert page2["next_cursor"] is None


def test_history_follows_the_posts_visibility(as_user, user, api, client_for):
    post = PostFactory(author=user, content="v1")
    _edit(as_user, post.id, "v2")
    moderator = UserFactory(role="moderator")

    services.hide_post(post, actor=moderator, reason="spam")

    assert api.get(f"/v1/posts/{post.id}/history").status_code == 404
    assert client_for(UserFactory()).get(f"/v1/posts/{post.id}/history").status_code == 404
    assert as_user.get(f"/v1/posts/{post.id}/history").json()["results"][0]["content"] == "v1"

    as_user.delete(f"/v1/posts/{post.id}")
    assert as_user.get(f"/v1/posts/{post.id}/history").status_code == 404
    assert api.get("/v1/posts/999999/history").status_code == 404


def test_concurrent_edits_each_keep_the_version_they_replaced(user):
    """Versions are taken under the row lock: the one read when loading the post may be stale."""
    post = PostFactory(author=user, content="v1")
    stale = type(post).objects.get(pk=post.pk)

    services.edit_post(post, editor=user, content="v2")
    services.edit_post(stale, editor=user, content="v3")  # loaded before "v2" was written

    versions = list(services.PostVersion.objects.filter(post=post).order_by("id"))
    assert [v.content for v in versions] == ["v1", "v2"]
    assert versions[0].edited_at == post.created_at
    assert versions[1].edited_at <= timezone.now()
