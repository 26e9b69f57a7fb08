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
