"""Bookmarks, and the viewer's marks (bookmarked_by_me, reposted_by_me) they show."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feed import services as feed
from interactions import viewer_sets
from interactions.services.likes import drain_like_buffer
from interactions.tests.support import detail, marks
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def bookmarks(client, **params) -> dict:
    response = client.get("/v1/users/me/bookmarks", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_bookmark_is_201_then_200_and_shows_at_once_through_the_cache(as_user, client_for):
    post = PostFactory()
    other = client_for(UserFactory())
    assert marks(as_user, post.id) == (False, False, 0)  # caches the post and the marks
    assert marks(other, post.id) == (False, False, 0)

    first = as_user.post(f"/v1/posts/{post.id}/bookmark")
    again = as_user.post(f"/v1/posts/{post.id}/bookmark")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {"post_id": post.id, "bookmarked_by_me": True}
    assert marks(as_user, post.id) == (True, False, 0)
    assert marks(other, post.id) == (False, False, 0)  # private

    assert as_user.delete(f"/v1/posts/{post.id}/bookmark").status_code == 204
    assert as_user.delete(f"/v1/posts/{post.id}/bookmark").status_code == 204
    assert marks(as_user, post.id) == (False, False, 0)


def test_bookmarks_need_a_token_and_a_visible_post(api, as_user):
    post = PostFactory()
    hidden = PostFactory(hidden_at=timezone.now())
    assert api.post(f"/v1/posts/{post.id}/bookmark").status_code == 401
    assert api.get("/v1/users/me/bookmarks").status_code == 401
    response = as_user.post(f"/v1/posts/{hidden.id}/bookmark")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert as_user.post("/v1/posts/999999/bookmark").status_code == 404


def test_bookmarks_are_listed_newest_bookmark_first_and_privately(as_user, client_for):
    older, newer, gone = PostFactory(), PostFactory(), PostFactory()
    for post in (newer, gone, older):  # bookmark order, not post order
        assert as_user.post(f"/v1/posts/{post.id}/bookmark").status_code == 201
    client_for(gone.author).delete(f"/v1/posts/{gone.id}")
    other = client_for(UserFactory())

    ids = [p["id"] for p in bookmarks(as_user)["results"]]

    assert ids == [older.id, newer.id]
    assert all(p["bookmarked_by_me"] for p in bookmarks(as_user)["results"])
    assert bookmarks(other)["results"] == []


def test_bookmark_pages_follow_the_cursor_without_gaps(as_user):
    posts = PostFactory.create_batch(5)
    for post in posts:
        as_user.post(f"/v1/posts/{post.id}/bookmark")
    seen, cursor = [], None
    while True:
        page = bookmarks(as_user, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [p["id"] for p in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p.id for p in reversed(posts)]
    assert as_user.get("/v1/users/me/bookmarks", {"cursor": "garbage"}).status_code == 400


def test_bookmark_list_query_count_does_not_grow_with_the_page(as_user, page_queries):
    as_user.post(f"/v1/posts/{PostFactory().id}/bookmark")

    def grow():
        for post in PostFactory.create_batch(15):
            as_user.post(f"/v1/posts/{post.id}/bookmark")

    small, large, response = page_queries(as_user, "/v1/users/me/bookmarks", grow)

    assert len(response.json()["results"]) == 16
    assert small == large


def test_a_cached_feed_page_shows_my_marks_without_sql(as_user, user, drain_outbox):
    bella = UserFactory()
    as_user.post(f"/v1/users/{bella.id}/follow")
    post = PostFactory(author=bella)
    feed.push_post(post)
    as_user.get("/v1/feed")  # caches the head, the post and builds my saved set
    as_user.get("/v1/feed")  # caches the author's summary
    drain_like_buffer()  # builds my liked set, as the beat job does
    as_user.post(f"/v1/posts/{post.id}/bookmark")
    with CaptureQueriesContext(connection) as queries:
        assert as_user.get("/v1/feed").json()["results"][0]["bookmarked_by_me"] is True
    assert len(queries) == 0  # my bookmark is in my saved set: the post stays cached
    as_user.post(f"/v1/posts/{post.id}/reposts")
    as_user.get("/v1/feed")  # its repost_count changed for everyone: re-cached once

    with CaptureQueriesContext(connection) as queries:
        response = as_user.get("/v1/feed")

    assert len(queries) == 0
    shown = response.json()["results"][0]
    assert (shown["bookmarked_by_me"], shown["reposted_by_me"], shown["repost_count"]) == (
        True,
        True,
        1,
    )


def test_a_set_read_before_a_bookmark_is_not_stored_after_it(as_user, user):
    """The race the generation guards: a render misses the saved set and reads
    PostgreSQL, a bookmark commits, then the render stores what it read."""
    post = PostFactory()
    generation = b"0"  # what the render that missed the set saw
    as_user.post(f"/v1/posts/{post.id}/bookmark")

    viewer_sets.build(user.id, generation, [])  # the stale read, stored too late

    assert marks(as_user, post.id)[0] is True


def test_with_redis_down_my_marks_come_from_postgresql(as_user, settings):
    saved, reposted, plain = PostFactory(), PostFactory(), PostFactory()
    as_user.post(f"/v1/posts/{saved.id}/bookmark")
    as_user.post(f"/v1/posts/{reposted.id}/reposts")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    assert marks(as_user, saved.id) == (True, False, 0)
    assert marks(as_user, reposted.id) == (False, True, 1)
    assert marks(as_user, plain.id) == (False, False, 0)
    assert [p["id"] for p in bookmarks(as_user)["results"]] == [saved.id]


def test_a_viewer_with_too_many_marks_for_a_set_is_answered_from_postgresql(
    as_user, user, monkeypatch
):
    monkeypatch.setattr(viewer_sets, "SET_MAX", 1)
    first, second, plain = PostFactory(), PostFactory(), PostFactory()
    as_user.post(f"/v1/posts/{first.id}/bookmark")
    as_user.post(f"/v1/posts/{second.id}/reposts")
    detail(as_user, plain.id)  # builds the set: too many, marked so

    assert marks(as_user, first.id) == (True, False, 0)
    assert marks(as_user, second.id) == (False, True, 1)
    assert marks(as_user, plain.id) == (False, False, 0)
