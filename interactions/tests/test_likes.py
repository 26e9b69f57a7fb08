"""Likes: buffered in Redis, drained to PostgreSQL in batches, exact and crash-safe."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client import REGISTRY

from interactions import like_buffer
from interactions.models import Like, Notification
from interactions.services import likes
from interactions.tests.factories import LikeFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from puppies.tests.support import wait_for
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def likes_url(post) -> str:
    return f"/v1/posts/{post.id}/likes"


def rows(post) -> set[int]:
    return set(Like.objects.filter(post=post).values_list("user_id", flat=True))


def stored_count(post) -> int:
    return Post.objects.get(pk=post.pk).like_count


def like_notifications(post) -> list[tuple[int, int]]:
    return sorted(
        Notification.objects.filter(type="like", post=post).values_list("recipient_id", "actor_id")
    )


def like(user, post, liked: bool = True) -> likes.LikeState:
    set_like = likes.like_post if liked else likes.unlike_post
    return set_like(user, post_id=post.pk)


# --- the API -----------------------------------------------------------------------------


def test_like_is_201_then_200_and_is_seen_at_once_without_a_like_row(as_user, user, api):
    post = PostFactory()

    first = as_user.post(likes_url(post))
    again = as_user.post(likes_url(post))

    assert first.status_code == 201
    assert first.json() == {"post_id": post.id, "liked_by_me": True, "like_count": 1}
    assert again.status_code == 200
    assert again.json() == {"post_id": post.id, "liked_by_me": True, "like_count": 1}
    assert not Like.objects.exists()  # buffered
    assert (
        as_user.get(f"/v1/posts/{post.id}").json()["like_count"],
        as_user.get(f"/v1/posts/{post.id}").json()["liked_by_me"],
    ) == (1, True)
    seen_by_others = api.get(f"/v1/posts/{post.id}").json()
    assert (seen_by_others["like_count"], seen_by_others["liked_by_me"]) == (1, False)


def test_with_the_post_and_the_liked_set_cached_a_like_needs_no_sql(as_user, user, drain):
    liked_before, fresh = PostFactory(like_count=0), PostFactory()
    LikeFactory(user=user, post=liked_before)
    Post.objects.filter(pk=liked_before.pk).update(like_count=1)
    for post in (liked_before, fresh):
        as_user.get(f"/v1/posts/{post.id}")  # renders and caches the post
    drain()  # builds the user's liked set, as the beat job does

    with CaptureQueriesContext(connection) as queries:
        again = as_user.post(likes_url(liked_before))  # the Like row is there already
        first = as_user.post(likes_url(fresh))
        gone = as_user.delete(likes_url(liked_before))

    assert len(queries) == 0
    assert (again.status_code, again.json()["like_count"]) == (200, 1)
    assert (first.status_code, first.json()["like_count"]) == (201, 1)
    assert gone.status_code == 204
    drain()
    assert rows(fresh) == {user.id}
    assert rows(liked_before) == set()
    assert as_user.get(f"/v1/posts/{liked_before.id}").json()["like_count"] == 0


def test_a_like_of_a_post_hidden_since_it_was_cached_is_404(as_user, user, drain):
    from posts import services as post_services

    post = PostFactory()
    as_user.get(f"/v1/posts/{post.id}")
    drain()
    moderator = UserFactory(role="moderator")
    post_services.hide_post(post, actor=moderator, reason="spam")

    assert as_user.post(likes_url(post)).status_code == 404


def test_unlike_is_204_and_idempotent(as_user):
    post = PostFactory()
    assert as_user.post(likes_url(post)).status_code == 201

    assert as_user.delete(likes_url(post)).status_code == 204
    assert as_user.delete(likes_url(post)).status_code == 204
    body = as_user.get(f"/v1/posts/{post.id}").json()
    assert (body["like_count"], body["liked_by_me"]) == (0, False)
    assert as_user.post(likes_url(post)).status_code == 201  # liking again counts again


def test_like_then_unlike_before_a_flush_nets_to_nothing(as_user, user, drain):
    post = PostFactory()
    as_user.post(likes_url(post))
    as_user.delete(likes_url(post))

    drain()

    assert rows(post) == set()
    assert stored_count(post) == 0
    assert like_notifications(post) == []
    assert like_buffer.depth() == 0


def test_flush_writes_rows_counts_and_one_notification(client_for, drain):
    post = PostFactory()
    fans = UserFactory.create_batch(3)
    for fan in fans:
        assert client_for(fan).post(likes_url(post)).status_code == 201
    assert like_buffer.depth() == 3

    assert drain() == 3

    assert rows(post) == {fan.id for fan in fans}
    assert stored_count(post) == 3
    assert like_notifications(post) == sorted((post.author_id, fan.id) for fan in fans)
    assert like_buffer.depth() == 0
    assert client_for(fans[0]).get(f"/v1/posts/{post.id}").json()["like_count"] == 3


def test_idempotency_holds_across_buffered_and_flushed_state(as_user, user, drain):
    post = PostFactory()
    as_user.post(likes_url(post))
    drain()

    again = as_user.post(likes_url(post))  # decided by the row in PostgreSQL
    assert again.status_code == 200
    assert again.json()["like_count"] == 1
    drain()
    assert rows(post) == {user.id}
    assert stored_count(post) == 1

    assert as_user.delete(likes_url(post)).status_code == 204
    body = as_user.get(f"/v1/posts/{post.id}").json()
    assert (body["like_count"], body["liked_by_me"]) == (0, False)  # pending unlike seen
    assert rows(post) == {user.id}
    drain()
    assert rows(post) == set()
    assert stored_count(post) == 0
    assert as_user.delete(likes_url(post)).status_code == 204
    assert as_user.post(likes_url(post)).status_code == 201


def test_a_like_already_in_the_database_is_200_and_not_counted_twice(as_user, user, drain):
    post = PostFactory(like_count=1)
    LikeFactory(user=user, post=post)

    response = as_user.post(likes_url(post))

    assert response.status_code == 200
    assert response.json()["like_count"] == 1
    drain()
    assert stored_count(post) == 1


def test_like_notification_is_created_once_however_often_it_is_redone(as_user, user, drain):
    post = PostFactory()
    for _ in range(3):
        as_user.post(likes_url(post))
        drain()
        as_user.delete(likes_url(post))
        drain()
    as_user.post(likes_url(post))
    drain()

    assert like_notifications(post) == [(post.author_id, user.id)]
    assert stored_count(post) == 1


def test_liking_your_own_post_notifies_nobody(user, as_user, drain):
    post = PostFactory(author=user)
    assert as_user.post(likes_url(post)).status_code == 201
    drain()
    assert rows(post) == {user.id}
    assert like_notifications(post) == []


def test_liking_a_missing_or_deleted_post_is_404(as_user, user):
    deleted = PostFactory(deleted_at=timezone.now())
    hidden = PostFactory(hidden_at=timezone.now())
    for url in ("/v1/posts/987654/likes", likes_url(deleted), likes_url(hidden)):
        assert as_user.post(url).status_code == 404
        assert as_user.delete(url).status_code == 404
        assert as_user.post(url).json()["error"]["code"] == "not_found"
    assert like_buffer.depth() == 0


def test_liking_needs_a_token(api):
    post = PostFactory()
    assert api.post(likes_url(post)).status_code == 401
    assert api.delete(likes_url(post)).status_code == 401


def test_a_like_decided_by_pending_state_does_not_touch_the_like_table(as_user):
    post = PostFactory()
    as_user.post(likes_url(post))

    with CaptureQueriesContext(connection) as queries:
        assert as_user.post(likes_url(post)).status_code == 200
        assert as_user.delete(likes_url(post)).status_code == 204
    assert not [q for q in queries if "interactions_like" in q["sql"]]


def test_pages_show_pending_likes_with_no_extra_queries(client_for, count_queries, drain):
    author, viewer = UserFactory(), UserFactory()
    posts = PostFactory.create_batch(5, author=author)
    url = f"/v1/users/{author.id}/posts"
    client = client_for(viewer)
    client.get(url)  # settle last_active_at
    quiet, _ = count_queries(lambda: client.get(url))

    client.post(likes_url(posts[0]))
    client.post(likes_url(posts[2]))
    for fan in UserFactory.create_batch(2):
        client_for(fan).post(likes_url(posts[2]))
    busy, response = count_queries(lambda: client.get(url))

    assert busy == quiet
    state = {p["id"]: (p["like_count"], p["liked_by_me"]) for p in response.json()["results"]}
    assert state[posts[0].id] == (1, True)
    assert state[posts[2].id] == (3, True)
    assert state[posts[1].id] == (0, False)
    drain()
    response = client.get(url)
    assert {p["id"]: (p["like_count"], p["liked_by_me"]) for p in response.json()["results"]} == (
        state
    )


# --- crash safety -----------------------------------------------------------------------


class Killed(BaseException):
    """A drain dying mid-flight: not an error it could clean up after."""


def kill_at(step: str, nth: int):
    seen = []

    def hook(name: str) -> None:
        if name == step:
            seen.append(name)
            if len(seen) == nth:
                raise Killed(step)

    return hook


@pytest.mark.parametrize(
    ("step", "nth"),
    [
        ("claimed", 1),
        ("moved", 1),
        ("applied", 1),  # between two chunks of one batch
        ("applied", 2),  # after the last chunk committed, before Redis forgot the batch
        ("forgotten", 1),
        ("released", 1),
    ],
)
def test_a_drain_killed_between_steps_then_rerun_loses_and_double_counts_nothing(
    step, nth, settings, buffer_redis, drain, api
):
    settings.LIKE_FLUSH_BATCH_SIZE = 2  # several transactions per batch
    post, other_post = PostFactory(), PostFactory()
    a, b, c, d, e = UserFactory.create_batch(5)
    like(a, post)
    drain()
    like(b, post)
    like(c, post)
    like(a, post, liked=False)
    like(d, post)
    like(d, post, liked=False)  # nets to nothing
    like(b, other_post)

    with pytest.raises(Killed):
        drain(between_steps=kill_at(step, nth))
    assert buffer_redis.exists(like_buffer.LOCK)  # a dead drain does not clean up...
    if step in ("claimed", "moved"):  # ...and until it lands, reads still add its batch
        assert api.get(f"/v1/posts/{post.id}").json()["like_count"] == 2
    assert drain() == 0  # its lock holds off others until it expires
    buffer_redis.delete(like_buffer.LOCK)  # expired
    like(e, post)  # a like arriving meanwhile

    drain()

    assert rows(post) == {b.id, c.id, e.id}
    assert rows(other_post) == {b.id}
    assert (stored_count(post), stored_count(other_post)) == (3, 1)
    assert api.get(f"/v1/posts/{post.id}").json()["like_count"] == 3
    assert api.get(f"/v1/posts/{other_post.id}").json()["like_count"] == 1
    assert like_notifications(post) == sorted((post.author_id, u.id) for u in (a, b, c, e))
    assert like_notifications(other_post) == [(other_post.author_id, b.id)]
    assert like_buffer.depth() == 0
    assert not buffer_redis.exists(like_buffer.DRAINING, like_buffer.DIRTY)
    assert buffer_redis.get(f"likes:{{{post.id}}}:delta") is None


def test_likes_changed_while_their_batch_is_in_flight_land_exactly(buffer_redis, drain, api):
    post = PostFactory()
    fan, other = UserFactory(), UserFactory()
    like(fan, post)
    with pytest.raises(Killed):
        drain(between_steps=kill_at("moved", 1))  # the like is in flight, not yet written

    assert like(fan, post).created is False  # decided by the in-flight intent
    like(fan, post, liked=False)
    like(other, post)
    assert api.get(f"/v1/posts/{post.id}").json()["like_count"] == 1
    buffer_redis.delete(like_buffer.LOCK)
    drain()

    assert rows(post) == {other.id}
    assert stored_count(post) == 1
    assert api.get(f"/v1/posts/{post.id}").json()["like_count"] == 1


def test_an_intent_decided_by_a_lookup_that_a_landing_batch_made_stale_is_retried(drain):
    post = PostFactory()
    fan = UserFactory()
    seen_epoch, buffer_decides = like_buffer.peek(post.id, fan.id)
    assert not buffer_decides
    in_database = Like.objects.filter(user=fan, post=post).exists()
    like(fan, post)  # meanwhile the same user's like is buffered and lands
    drain()

    assert (
        like_buffer.record_intent(
            post.id, fan.id, liked=True, in_database=in_database, seen_epoch=seen_epoch
        )
        is None
    )
    assert like(fan, post).created is False
    drain()
    assert rows(post) == {fan.id}
    assert stored_count(post) == 1


def test_an_error_in_a_drain_releases_its_lock_and_the_next_one_finishes(
    buffer_redis, drain, monkeypatch
):
    post = PostFactory()
    fan = UserFactory()
    like(fan, post)

    def fail(step):
        if step == "applied":
            raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        drain(between_steps=fail)
    assert not buffer_redis.exists(like_buffer.LOCK)
    drain()
    assert rows(post) == {fan.id}
    assert stored_count(post) == 1


# --- concurrency --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_likes_and_a_concurrent_drain_are_exact():
    post = PostFactory()
    fans = UserFactory.create_batch(12)
    created = []
    stop = threading.Event()

    def fan_clicks(fan):
        try:
            for _ in range(3):  # a double tap, then a third
                created.append(like(fan, post).created)
        finally:
            connection.close()

    def drainer():
        try:
            while not stop.is_set():
                likes.drain_like_buffer()
        finally:
            connection.close()

    flusher = threading.Thread(target=drainer)
    flusher.start()
    threads = [threading.Thread(target=fan_clicks, args=(fan,)) for fan in fans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    flusher.join()
    likes.drain_like_buffer()

    assert created.count(True) == len(fans)
    assert rows(post) == {fan.id for fan in fans}
    assert stored_count(post) == len(fans)
    assert len(like_notifications(post)) == len(fans)


# --- Redis down -----------------------------------------------------------------------------

DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_with_redis_down_likes_go_straight_to_postgresql_with_the_same_answers(
    settings, as_user, user, api
):
    post = PostFactory()
    settings.LIKE_BUFFER_REDIS_URL = DEAD_REDIS
    written_directly = REGISTRY.get_sample_value("puppies_likes_written_directly_total") or 0

    first = as_user.post(likes_url(post))
    again = as_user.post(likes_url(post))

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {"post_id": post.id, "liked_by_me": True, "like_count": 1}
    assert again.json() == first.json()
    assert rows(post) == {user.id}
    assert stored_count(post) == 1
    assert like_notifications(post) == [(post.author_id, user.id)]
    body = as_user.get(f"/v1/posts/{post.id}").json()
    assert (body["like_count"], body["liked_by_me"]) == (1, True)
    assert as_user.delete(likes_url(post)).status_code == 204
    assert as_user.delete(likes_url(post)).status_code == 204
    assert rows(post) == set()
    assert api.get(f"/v1/posts/{post.id}").json()["like_count"] == 0
    assert likes.drain_like_buffer() == 0
    assert REGISTRY.get_sample_value("puppies_likes_written_directly_total") == (
        written_directly + 4
    )


def test_readiness_reports_redis_down(settings, monitor):
    settings.REDIS_URL = settings.LIKE_BUFFER_REDIS_URL = DEAD_REDIS

    response = monitor.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("down")


# --- metrics -------------------------------------------------------------------------------


def test_metrics_show_buffer_depth_and_flush_batches(client_for, monitor, drain):
    post = PostFactory()
    for fan in UserFactory.create_batch(2):
        client_for(fan).post(likes_url(post))

    before = monitor.get("/metrics").content.decode()
    drain()
    after = monitor.get("/metrics").content.decode()

    assert "puppies_like_buffer_depth 2.0" in before
    assert "puppies_like_buffer_depth 0.0" in after
    assert "puppies_like_flush_batch_size_count" in after
    assert "puppies_like_flush_duration_seconds_bucket" in after


# --- the real worker --------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_scheduled_worker_flushes_the_buffer(likes_worker, client_for):
    post = PostFactory()
    fans = UserFactory.create_batch(3)
    for fan in fans:
        assert client_for(fan).post(likes_url(post)).status_code == 201

    wait_for(lambda: len(rows(post)) == 3)
    wait_for(lambda: like_buffer.depth() == 0)

    assert stored_count(post) == 3
    assert client_for(fans[0]).get(f"/v1/posts/{post.id}").json()["like_count"] == 3
    assert "interactions.tasks.drain_like_buffer" in likes_worker.read_text()


def test_threads_racing_to_first_use_share_one_buffer_client():
    from puppies import redis as puppies_redis

    """A gthread web worker's first requests arrive together: they must share one client
    (a duplicate would be garbage-collected mid-request, closing sockets in use: 500s)."""
    import sys
    import threading

    puppies_redis._clients.clear()
    barrier = threading.Barrier(16)
    # Switch threads as often as possible, so an unguarded first use would interleave.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    seen = []

    def first_use():
        barrier.wait()
        client = like_buffer.client()
        client.ping()
        seen.append(client)

    threads = [threading.Thread(target=first_use) for _ in range(16)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous)

    assert len(seen) == 16
    assert len({id(client) for client in seen}) == 1
