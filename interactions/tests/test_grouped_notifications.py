"""GET /v1/notifications?grouped=true: likes and reposts per post, and follows, grouped,
newest first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from interactions.models import Notification
from interactions.services.likes import drain_like_buffer
from interactions.services.notifications import mark_notifications_read
from interactions.tests.factories import NotificationFactory
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIKE, FOLLOW, MENTION = Notification.Type.LIKE, Notification.Type.FOLLOW, Notification.Type.MENTION


def grouped(client, query: str = "") -> dict:
    response = client.get(f"/v1/notifications?grouped=true{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_likes_per_post_and_follows_are_grouped_with_the_three_newest_actors(
    as_user, user, client_for
):
    post, other_post = PostFactory(author=user), PostFactory(author=user)
    fans = UserFactory.create_batch(5)
    for fan in fans:  # through the API: likes notify when the buffer drains
        assert client_for(fan).post(f"/v1/posts/{post.id}/likes").status_code == 201
    drain_like_buffer()
    for fan in fans[:2]:
        client_for(fan).post(f"/v1/users/{user.id}/follow")
    mention = NotificationFactory(recipient=user, type=MENTION, post=other_post)
    NotificationFactory(recipient=user, type=LIKE, post=other_post, actor=fans[4])

    groups = grouped(as_user)["results"]

    assert [(g["type"], g["post_id"], g["count"]) for g in groups] == [
        (LIKE, other_post.id, 1),
        (MENTION, other_post.id, 1),
        (FOLLOW, None, 2),
        (LIKE, post.id, 5),
    ]
    likes = groups[3]
    assert [a["id"] for a in likes["actors"]] == [fans[4].id, fans[3].id, fans[2].id]
    assert set(likes["actors"][0]) == {"id", "username", "display_name", "avatar_url"}
    assert [a["id"] for a in groups[2]["actors"]] == [fans[1].id, fans[0].id]
    assert groups[1]["comment_id"] is None and groups[1]["latest_id"] == mention.id
    assert set(likes) == {
        "type", "post_id", "comment_id", "count", "actors", "latest_id", "latest_at", "read",
    }  # fmt: skip
    assert not any(g["read"] for g in groups)
    # the plain list is as it was: one item per notification
    assert len(as_user.get("/v1/notifications").json()["results"]) == 9


def test_a_group_is_read_when_all_of_it_is_and_news_moves_it_up(as_user, user):
    post = PostFactory(author=user)
    older = NotificationFactory(recipient=user, type=LIKE, post=post)
    follow = NotificationFactory(recipient=user, type=FOLLOW, post=None)
    mark_notifications_read(user, up_to_id=follow.id)

    assert [(g["type"], g["read"]) for g in grouped(as_user)["results"]] == [
        (FOLLOW, True),
        (LIKE, True),
    ]
    newer = NotificationFactory(recipient=user, type=LIKE, post=post)
    groups = grouped(as_user)["results"]
    assert [(g["type"], g["count"], g["read"]) for g in groups] == [
        (LIKE, 2, False),
        (FOLLOW, 1, True),
    ]
    assert groups[0]["latest_id"] == newer.id > older.id


def test_groups_page_with_the_cursor_and_hide_gone_posts(as_user, user):
    posts = PostFactory.create_batch(5, author=user)
    for post in posts:
        NotificationFactory.create_batch(2, recipient=user, type=LIKE, post=post)
    NotificationFactory(type=LIKE)  # someone else's
    gone = PostFactory(author=user, deleted_at="2026-01-01T00:00:00Z")
    NotificationFactory(recipient=user, type=LIKE, post=gone)

    first = grouped(as_user, "&limit=3")
    second = grouped(as_user, f"&limit=3&cursor={first['next_cursor']}")

    seen = [g["post_id"] for g in first["results"] + second["results"]]
    assert seen == [p.id for p in reversed(posts)]
    assert second["next_cursor"] is None
    assert all(g["count"] == 2 for g in first["results"] + second["results"])


def test_grouped_needs_a_token_and_a_boolean(api, as_user):
    assert api.get("/v1/notifications?grouped=true").status_code == 401
    assert as_user.get("/v1/notifications?grouped=maybe").status_code == 400
    assert as_user.get("/v1/notifications?grouped=false").json() == {
        "results": [],
        "next_cursor": None,
    }


def test_grouped_query_count_does_not_grow_with_the_page(as_user, user, page_queries):
    url = "/v1/notifications?grouped=true&limit=40"
    NotificationFactory(recipient=user, type=LIKE)

    def grow():
        for post in PostFactory.create_batch(10, author=user):
            NotificationFactory.create_batch(4, recipient=user, type=LIKE, post=post)
        NotificationFactory.create_batch(5, recipient=user, type=FOLLOW, post=None)
        NotificationFactory.create_batch(5, recipient=user, type=MENTION)

    small, large, response = page_queries(as_user, url, grow)

    assert len(response.json()["results"]) == 17
    assert all(len(g["actors"]) == min(g["count"], 3) for g in response.json()["results"])
    # viewer (as the plain list), the groups, their newest actors
    assert small == large == 3


def test_actors_are_the_newest_by_when_they_acted(as_user, user):
    """A like drain writes a batch's notifications in no particular order of time."""
    post = PostFactory(author=user)
    now = timezone.now()
    late, early, middle, earliest = UserFactory.create_batch(4)
    for actor, minutes_ago in ((late, 1), (early, 3), (middle, 2), (earliest, 4)):
        NotificationFactory(
            recipient=user, type=LIKE, post=post, actor=actor,
            created_at=now - timedelta(minutes=minutes_ago),
        )  # fmt: skip

    [group] = grouped(as_user)["results"]

    assert [a["id"] for a in group["actors"]] == [late.id, middle.id, early.id]


def test_reposts_notify_the_author_once_each_and_group_per_post(as_user, user, client_for):
    post = PostFactory(author=user)
    fans = UserFactory.create_batch(4)
    for fan in fans:
        assert client_for(fan).post(f"/v1/posts/{post.id}/reposts").status_code == 201
    # undone and redone: no second notification
    assert client_for(fans[0]).delete(f"/v1/posts/{post.id}/reposts").status_code == 204
    assert client_for(fans[0]).post(f"/v1/posts/{post.id}/reposts").status_code == 201

    (group,) = grouped(as_user)["results"]

    assert (group["type"], group["post_id"], group["count"]) == ("repost", post.id, 4)
    assert [a["id"] for a in group["actors"]] == [fans[3].id, fans[2].id, fans[1].id]
    plain = as_user.get("/v1/notifications").json()["results"]
    assert [n["type"] for n in plain] == ["repost"] * 4
    # the reposters hear nothing of their own reposts
    assert client_for(fans[0]).get("/v1/notifications").json()["results"] == []
