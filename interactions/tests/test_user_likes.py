from datetime import timedelta

import pytest
from django.utils import timezone

from interactions.tests.factories import LikeFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def like_at(user, post, minutes_ago: int):
    return LikeFactory(
        user=user, post=post, created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )


def test_posts_a_user_liked_newest_like_first(api):
    fan = UserFactory()
    old_post, new_post, other = PostFactory(), PostFactory(), PostFactory()
    # liked in the opposite order to creation: the like's time orders the list
    like_at(fan, new_post, minutes_ago=30)
    like_at(fan, old_post, minutes_ago=10)
    LikeFactory(post=other)  # someone else's like

    response = api.get(f"/v1/users/{fan.id}/likes")

    assert response.status_code == 200
    body = response.json()
    assert [p["id"] for p in body["results"]] == [old_post.id, new_post.id]
    assert body["next_cursor"] is None
    assert body["results"][0]["author"]["id"] == old_post.author_id
    assert set(body["results"][0]) >= {"like_count", "comment_count", "liked_by_me", "media"}


def test_liked_by_me_is_the_viewers_not_the_list_owners(client_for):
    fan, viewer = UserFactory(), UserFactory()
    both, only_fan = PostFactory(), PostFactory()
    like_at(fan, both, 2)
    like_at(fan, only_fan, 1)
    LikeFactory(user=viewer, post=both)

    results = client_for(viewer).get(f"/v1/users/{fan.id}/likes").json()["results"]
    own = client_for(fan).get(f"/v1/users/{fan.id}/likes").json()["results"]

    assert [(p["id"], p["liked_by_me"]) for p in results] == [(only_fan.id, False), (both.id, True)]
    assert all(p["liked_by_me"] for p in own)


def test_pages_with_a_cursor_without_duplicates_or_skips(api):
    fan = UserFactory()
    posts = PostFactory.create_batch(5)
    same_time = timezone.now() - timedelta(hours=1)
    for post in posts:  # identical like times: the post id breaks the tie
        LikeFactory(user=fan, post=post, created_at=same_time)

    first = api.get(f"/v1/users/{fan.id}/likes?limit=2").json()
    LikeFactory(user=fan)  # a new like while paging lands above the cursor
    second = api.get(f"/v1/users/{fan.id}/likes?limit=2&cursor={first['next_cursor']}").json()
    third = api.get(f"/v1/users/{fan.id}/likes?limit=2&cursor={second['next_cursor']}").json()

    ids = [p["id"] for page in (first, second, third) for p in page["results"]]
    assert ids == sorted((p.id for p in posts), reverse=True)
    assert third["next_cursor"] is None
    bad = api.get(f"/v1/users/{fan.id}/likes?cursor=x{first['next_cursor']}")
    assert bad.status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"deleted_at": timezone.now()},
        {"hidden_at": timezone.now()},
        {"status": Post.Status.PENDING_MEDIA},
    ],
    ids=["deleted", "hidden", "pending_media"],
)
def test_posts_nobody_may_see_leave_the_list(api, change):
    fan = UserFactory()
    kept, gone = PostFactory(), PostFactory()
    like_at(fan, kept, 2)
    like_at(fan, gone, 1)

    Post.objects.filter(pk=gone.pk).update(**change)

    assert [p["id"] for p in api.get(f"/v1/users/{fan.id}/likes").json()["results"]] == [kept.id]


def test_missing_or_inactive_user_is_404(api):
    assert api.get("/v1/users/987654/likes").status_code == 404
    assert api.get(f"/v1/users/{UserFactory(is_active=False).id}/likes").status_code == 404


def test_user_likes_query_count_does_not_grow_with_the_page(client_for, page_queries):
    fan = UserFactory()
    viewer = client_for(UserFactory())
    url = f"/v1/users/{fan.id}/likes?limit=30"
    LikeFactory.create_batch(2, user=fan)
    small, large, response = page_queries(
        viewer, url, lambda: LikeFactory.create_batch(30, user=fan)
    )

    assert len(response.json()["results"]) == 30
    # the user exists, the page of likes, the posts rendering lacks (viewer's likes: Redis)
    assert small == large == 3
