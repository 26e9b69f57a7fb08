"""Run by test_replica.py in a process of its own, whose DATABASE_URL is a primary the test
started and DATABASE_REPLICA_URL its streaming replica. Prints what each user saw, as JSON.

`python -m puppies.tests.replica_scenario lagging|down`
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")
django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402
from rest_framework_simplejwt.tokens import RefreshToken  # noqa: E402

from users.tests.factories import UserFactory  # noqa: E402


def on_replica(sql: str, args=()) -> list:
    db = settings.DATABASES["replica"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"], autocommit=True
    ) as conn:
        return conn.execute(sql, args).fetchall()


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def settle() -> None:
    """Replay everything, then pause replay right after a fresh commit: the replica is
    stale from the next write on, but not yet REPLICA_MAX_LAG_S behind."""
    on_replica("SELECT pg_wal_replay_resume()")
    marker = UserFactory()
    wait_for(lambda: on_replica("SELECT 1 FROM users_user WHERE id = %s", [marker.pk]))
    on_replica("SELECT pg_wal_replay_pause()")


def client(user) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return api


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def main(mode: str) -> dict:
    UserFactory.reset_sequence(time.time_ns() // 1000 % 10**12)  # a fresh process, same DB
    author, reader, other = UserFactory(), UserFactory(), UserFactory()
    seen = {}
    if mode == "down":  # the replica is stopped: every read falls back to the primary
        post = client(author).post("/v1/posts", {"content": "woof"}, format="json").json()
        seen["reader_sees_post"] = post["id"] in ids(
            client(reader).get(f"/v1/users/{author.pk}/posts")
        )
        return seen

    settle()
    post = client(author).post("/v1/posts", {"content": "woof"}, format="json").json()
    timeline = f"/v1/users/{author.pk}/posts"
    seen["author_sees_own_post"] = post["id"] in ids(client(author).get(timeline))
    seen["reader_sees_post_while_replica_lags"] = post["id"] in ids(client(reader).get(timeline))
    time.sleep(settings.REPLICA_MAX_LAG_S + 0.5)
    seen["reader_sees_post_once_replica_is_too_far_behind"] = post["id"] in ids(
        client(reader).get(timeline)
    )

    settle()
    assert client(author).post(f"/v1/users/{other.pk}/follow").status_code in (200, 201)
    following = f"/v1/users/{author.pk}/following"
    seen["follower_sees_own_follow"] = other.pk in ids(client(author).get(following))
    seen["reader_sees_follow_while_replica_lags"] = other.pk in ids(client(reader).get(following))
    on_replica("SELECT pg_wal_replay_resume()")
    wait_for(
        lambda: on_replica("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()")[0][0]
    )
    seen["reader_sees_follow_once_replica_caught_up"] = other.pk in ids(
        client(reader).get(following)
    )
    return seen


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
