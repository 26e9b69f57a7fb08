"""Fan-out stays prompt on a loaded machine while maintenance tasks hold the workers.

Right after start-up beat sends every overdue job at once (feed trim and like drains run
up to 20 s each, VIP refresh, dormant marks, ingestion runs); with one worker consuming
every queue, `fan_out_post` waited behind them for a free pool process, and on a loaded
machine a follower saw a new post only after 15 s or more. The Procfile now runs fan-out
in a worker of its own. This starts the workers exactly as the Procfile says, loads every
CPU with busy processes, fills the maintenance worker with tasks stuck on a lock, and
checks that a post still reaches its followers within seconds.
"""

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from django.db import connection

from feed.models import FeedEntry
from feed.tests.factories import make_followers
from puppies.celery import app
from puppies.tests.support import CELERY, ROOT, wait_for, worker_env
from scripts import procfile
from users.tests.factories import UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DELIVERY_BOUND_S = 5.0
CONCURRENCY = "2"  # the maintenance worker's pool, as `make run` has it


def start(name: str, env: dict, log_dir) -> tuple[subprocess.Popen, object]:
    log = log_dir / f"{name}.log"
    argv = procfile.command(name, env)
    argv[0] = str(CELERY)  # this virtualenv's
    proc = subprocess.Popen(  # noqa: S603 - the Procfile's own command
        [*argv, "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return proc, log


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def stuck_on_lock() -> int:
    """Backends of this database waiting for a lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def test_a_post_reaches_followers_within_seconds_while_cpus_and_maintenance_workers_are_busy(
    client_for, tmp_path
):
    author, sleeper = UserFactory(), UserFactory(last_active_at=None)
    fans = make_followers(author, 20)
    env = worker_env(WORKER_CONCURRENCY=CONCURRENCY, FANOUT_CONCURRENCY="1")
    workers = [
        start(name, env, tmp_path)
        for name in procfile.names()
        if procfile.command(name, env)[:4] == ["celery", "-A", "puppies", "worker"]
    ]
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(2 * (os.cpu_count() or 1))
    ]
    db = connection.settings_dict
    blocker = psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"])
    try:
        for proc, log in workers:
            wait_for(lambda log=log, proc=proc: " ready." in log.read_text() or proc.poll(), 60)
        # An uncommitted dormant mark: every `mark_dormant_feeds` waits on it, as a slow
        # maintenance task would hold its pool process.
        blocker.execute(
            "INSERT INTO feed_dormantfeed (owner_id, since) VALUES (%s, now())", [sleeper.pk]
        )
        for _ in range(int(CONCURRENCY) + 1):
            app.send_task("feed.tasks.mark_dormant_feeds", queue="default")
        wait_for(lambda: stuck_on_lock() >= int(CONCURRENCY), 30)

        response = client_for(author).post("/v1/posts", {"content": "zoomies"}, format="json")
        assert response.status_code == 201
        posted = time.monotonic()
        post_id = response.json()["id"]
        try:
            wait_for(
                lambda: FeedEntry.objects.filter(post_id=post_id).count() == len(fans),
                DELIVERY_BOUND_S,
            )
        except AssertionError:
            pytest.fail(
                f"not delivered within {DELIVERY_BOUND_S} s: "
                f"{FeedEntry.objects.filter(post_id=post_id).count()} of {len(fans)} feeds"
            )
        took = time.monotonic() - posted
        assert took < DELIVERY_BOUND_S
        page = client_for(fans[0]).get("/v1/feed").json()["results"]
        assert page[0]["id"] == post_id
    finally:
        blocker.rollback()
        blocker.close()
        for burner in burners:
            burner.kill()
            burner.wait()
        for proc, _ in workers:
            stop(proc)
