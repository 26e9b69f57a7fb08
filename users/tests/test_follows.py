import threading

import pytest
from django.db import connection

from users.models import Follow
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_follow_is_201_then_200_and_counts_once(as_user, user, api):
    bella = UserFactory()

    first = as_user.post(f"/v1/users/{bella.id}/follow")
    again = as_user.post(f"/v1/users/{bella.id}/follow")

    assert first.status_code == 201
    assert again.status_code == 200
    assert first.json()["is_following"] is True
    assert api.get(f"/v1/users/{bella.id}").json()["follower_count"] == 1
    assert api.get(f"/v1/users/{user.id}").json()["following_count"] == 1
    assert as_user.get(f"/v1/users/{bella.id}").json()["is_following"] is True
    assert api.get(f"/v1/users/{bella.id}").json()["is_following"] is False


def test_unfollow_is_204_twice_and_counts_once(as_user, user, api):
    bella = UserFactory()
    as_user.post(f"/v1/users/{bella.id}/follow")

    assert as_user.delete(f"/v1/users/{bella.id}/follow").status_code == 204
    assert as_user.delete(f"/v1/users/{bella.id}/follow").status_code == 204

    assert api.get(f"/v1/users/{bella.id}").json()["follower_count"] == 0
    assert api.get(f"/v1/users/{user.id}").json()["following_count"] == 0


def test_self_follow_is_400(as_user, user):
    response = as_user.post(f"/v1/users/{user.id}/follow")
    assert response.status_code == 400
    assert Follow.objects.count() == 0


def test_follow_missing_user_is_404_and_anonymous_is_401(as_user, api):
    assert as_user.post("/v1/users/987654/follow").status_code == 404
    assert api.post(f"/v1/users/{UserFactory().id}/follow").status_code == 401


def test_followers_and_following_lists_newest_first_with_is_following(client_for, api):
    star = UserFactory()
    fans = UserFactory.create_batch(3)
    for fan in fans:
        client_for(fan).post(f"/v1/users/{star.id}/follow")
    viewer = fans[0]

    page = client_for(viewer).get(f"/v1/users/{star.id}/followers?limit=2").json()
    rest = (
        client_for(viewer)
        .get(f"/v1/users/{star.id}/followers?limit=2&cursor={page['next_cursor']}")
        .json()
    )
    following = api.get(f"/v1/users/{fans[1].id}/following").json()

    names = [u["username"] for u in page["results"] + rest["results"]]
    assert names == [f.username for f in reversed(fans)]
    assert rest["next_cursor"] is None
    assert all(u["is_following"] is False for u in page["results"] + rest["results"])
    assert [u["id"] for u in following["results"]] == [star.id]


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_follows_leave_one_row_and_count_one():
    from rest_framework.test import APIClient

    from conftest import bearer

    fan, star = UserFactory(), UserFactory()
    barrier = threading.Barrier(2)
    statuses = []

    def follow():
        client = APIClient()
        client.credentials(**bearer(fan))
        barrier.wait()
        statuses.append(client.post(f"/v1/users/{star.id}/follow").status_code)
        connection.close()

    threads = [threading.Thread(target=follow) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [200, 201]
    assert Follow.objects.filter(follower=fan, followee=star).count() == 1
    star.refresh_from_db()
    fan.refresh_from_db()
    assert (star.follower_count, fan.following_count) == (1, 1)


def test_follow_lists_page_without_duplicates_while_follows_arrive(api):
    star = UserFactory()
    fans = UserFactory.create_batch(5)
    for fan in fans:
        Follow.objects.create(follower=fan, followee=star)

    first = api.get(f"/v1/users/{star.id}/followers?limit=2").json()
    Follow.objects.create(follower=UserFactory(), followee=star)  # lands above the cursor
    second = api.get(f"/v1/users/{star.id}/followers?limit=2&cursor={first['next_cursor']}").json()
    third = api.get(f"/v1/users/{star.id}/followers?limit=2&cursor={second['next_cursor']}").json()

    ids = [u["id"] for page in (first, second, third) for u in page["results"]]
    assert ids == [f.id for f in reversed(fans)]
    assert third["next_cursor"] is None


def test_follow_lists_of_a_missing_user_are_404(api):
    assert api.get("/v1/users/987654/followers").status_code == 404
    assert api.get("/v1/users/987654/following").status_code == 404


def test_follow_lists_show_the_callers_is_following(client_for):
    star, viewer = UserFactory(), UserFactory()
    followed_fan, other_fan = UserFactory(), UserFactory()
    for fan in (followed_fan, other_fan, viewer):
        Follow.objects.create(follower=fan, followee=star)
    Follow.objects.create(follower=viewer, followee=followed_fan)

    results = client_for(viewer).get(f"/v1/users/{star.id}/followers").json()["results"]

    assert {u["id"]: u["is_following"] for u in results} == {
        viewer.id: False,
        other_fan.id: False,
        followed_fan.id: True,
    }


@pytest.mark.parametrize("side", ["followers", "following"])
def test_follow_list_query_count_does_not_grow_with_the_page(client_for, page_queries, side):
    star = UserFactory()
    viewer = client_for(UserFactory())
    url = f"/v1/users/{star.id}/{side}?limit=30"

    def add(n):
        for other in UserFactory.create_batch(n):
            if side == "followers":
                Follow.objects.create(follower=other, followee=star)
            else:
                Follow.objects.create(follower=star, followee=other)

    add(2)
    small, large, response = page_queries(viewer, url, lambda: add(30))

    assert len(response.json()["results"]) == 30
    # the user exists, the page of users with is_following (the caller: from the token)
    assert small == large == 2


def test_clients_cannot_set_counters_through_follow(as_user, user):
    star = UserFactory()
    response = as_user.post(
        f"/v1/users/{star.id}/follow",
        {"follower_count": 1000, "follower": UserFactory().id, "created_at": "2000-01-01"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["follower_count"] == 1
    follow = Follow.objects.get()
    assert (follow.follower_id, follow.followee_id) == (user.id, star.id)
    assert follow.created_at.year > 2000
