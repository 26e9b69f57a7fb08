"""Acknowledged likes survive their Redis being SIGKILLed and restarted (issue 12).

The buffer's Redis here is a real `redis-server` of our own, on a free port and a temp
dir, started with the persistence `make run` gives its project-local Redis
(scripts/local_servers.py, REDIS_DURABILITY_ARGS): with `--appendonly no` this test fails,
because the intents answered before the kill are gone after the restart.
"""

import shutil
import threading

import pytest
from django.db import connection

from interactions.models import Like
from interactions.services import likes
from posts.models import Post
from posts.tests.factories import PostFactory
from puppies.tests.support import wait_for
from scripts.local_servers import REDIS_DURABILITY_ARGS, RedisServer
from users.tests.factories import UserFactory

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")

FANS = 90
THREADS = 6
KILL_AFTER = 30  # 2xx answers before the SIGKILL
DOWN_FOR = 10  # answers (direct writes, or errors) while it is down


@pytest.fixture
def durable_redis(tmp_path, settings):
    """The like buffer (and the caches that read its keys: see README, settings) on a
    Redis of our own configured as `make run` configures its project-local one."""
    server = RedisServer(tmp_path, REDIS_DURABILITY_ARGS)
    server.start()
    settings.REDIS_URL = settings.LIKE_BUFFER_REDIS_URL = server.url
    yield server
    server.kill()


def test_likes_answered_2xx_survive_a_sigkill_of_the_buffer_redis(
    transactional_db, durable_redis, client_for, api
):
    post = PostFactory()
    fans = UserFactory.create_batch(FANS)
    answers: dict[int, tuple[int, dict]] = {}  # fan id -> (status, body)
    lock = threading.Lock()
    next_fan = iter(fans)

    def storm() -> None:
        try:
            while True:
                with lock:
                    fan = next(next_fan, None)
                if fan is None:
                    return
                response = client_for(fan).post(f"/v1/posts/{post.id}/likes")
                with lock:
                    answers[fan.id] = (response.status_code, response.json())
        finally:
            connection.close()  # each thread's own connection

    def acknowledged() -> int:
        with lock:
            return sum(200 <= status < 300 for status, _ in answers.values())

    threads = [threading.Thread(target=storm) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: acknowledged() >= KILL_AFTER, timeout=60, interval=0.001)
    durable_redis.kill()  # mid-storm: the other threads' likes are in flight
    killed_at = len(answers)
    wait_for(lambda: len(answers) >= killed_at + DOWN_FOR or len(answers) == FANS, timeout=60)
    durable_redis.start()  # same port, same dir: it loads its AOF
    for thread in threads:
        thread.join(timeout=120)
    likes.drain_like_buffer()

    assert len(answers) == FANS
    for status, body in answers.values():
        # Refused likes are fine while Redis is down, but only in the API's error format.
        assert 200 <= status < 300 or (status in (500, 503) and set(body) == {"error"}), body
    liked = {fan for fan, (status, _) in answers.items() if 200 <= status < 300}
    assert len(liked) >= KILL_AFTER
    assert set(Like.objects.filter(post=post).values_list("user_id", flat=True)) == liked
    assert Post.objects.get(pk=post.pk).like_count == len(liked)
    assert api.get(f"/v1/posts/{post.id}").json()["like_count"] == len(liked)
    # Nothing is left in the buffer to land later and change the count.
    assert likes.drain_like_buffer() == 0


@pytest.fixture
def forgetful_redis(tmp_path, settings):
    """A Redis like the machine's shared one: no persistence at all."""
    server = RedisServer(tmp_path, ("--appendonly", "no", "--save", ""))
    server.start()
    settings.LIKE_BUFFER_REDIS_URL = server.url
    yield server
    server.kill()


def test_readiness_warns_when_the_like_buffer_redis_does_not_persist(db, forgetful_redis, monitor):
    response = monitor.get("/readyz")

    assert response.status_code == 200  # ready: likes work, they are just not durable
    assert response.json()["warnings"] == [
        "the like buffer's Redis has appendonly no: a restart loses buffered likes"
    ]


def test_readiness_has_no_warning_with_the_durable_redis(db, durable_redis, monitor):
    response = monitor.get("/readyz")

    assert response.status_code == 200
    assert "warnings" not in response.json()
