"""Reads from a real streaming replica: a project-local primary and a replica made with
pg_basebackup, both started here. Reads lag with the replica, but never for the writer
(READ_YOUR_WRITES_S), and not past REPLICA_MAX_LAG_S or while the replica is down."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from puppies.tests.support import ROOT


def binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd: list[str], **kwargs) -> None:
    subprocess.run(as_postgres(cmd), check=True, capture_output=True, timeout=120, **kwargs)  # noqa: S603


class Server:
    def __init__(self, data: Path, port: int):
        self.data, self.port = data, port

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data / "log")
        run([binary("pg_ctl"), "-D", str(self.data), "-l", log, "-w", "start", "-o", options])

    def stop(self) -> None:
        run([binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"


pytestmark = pytest.mark.timeout(300)  # two servers to start, replay to wait for


@pytest.fixture(scope="module")
def primary_and_replica(django_db_setup):
    if not all(map(binary, ("initdb", "pg_basebackup", "pg_dump", "psql"))):
        pytest.skip("PostgreSQL server binaries are not installed")
    root = Path(tempfile.mkdtemp(prefix="puppies-replica-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    primary = Server(root / "primary", free_port())
    replica = Server(root / "replica", free_port())
    run([binary("initdb"), "-D", str(primary.data), "-U", "postgres", "--auth=trust", "--no-sync"])
    primary.start()
    try:
        with psycopg.connect(primary.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE puppies")
        # The test database's schema (migrated by pytest-django): seconds, where running
        # the migrations again takes a minute.
        # The test database, migrated by pytest-django. Outside a test, settings_dict may
        # still name the database it is made from (Django prefixes "test_").
        db = connection.settings_dict
        name = db["NAME"] if db["NAME"].startswith("test_") else f"test_{db['NAME']}"
        test_db = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
        schema = subprocess.run(  # noqa: S603
            [shutil.which("pg_dump"), "--schema-only", "--no-owner", "--no-privileges", test_db],
            check=True, capture_output=True, timeout=120,
        ).stdout  # fmt: skip
        subprocess.run(  # noqa: S603
            [shutil.which("psql"), "-q", "-v", "ON_ERROR_STOP=1", primary.url("puppies")],
            input=schema, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        # A fast checkpoint: the default spreads it over minutes.
        backup = ["-R", "-X", "stream", "--no-sync", "--checkpoint=fast"]
        run([binary("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U",
             "postgres", "-D", str(replica.data), *backup])  # fmt: skip
        replica.start()
        env = {
            **os.environ,
            "DATABASE_URL": primary.url("puppies"),
            "DATABASE_REPLICA_URL": replica.url("puppies"),
            "REDIS_URL": settings.REDIS_URL,
            "LIKE_BUFFER_REDIS_URL": settings.REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "RATELIMIT_ENABLE": "false",
            "READ_YOUR_WRITES_S": "60",
            "REPLICA_MAX_LAG_S": "3",
            "REPLICA_LAG_CHECK_S": "0",
            "DEBUG": "true",
        }
        yield replica, env
    finally:
        for server in (replica, primary):
            if (server.data / "postmaster.pid").exists():
                server.stop()
        shutil.rmtree(root, ignore_errors=True)


def scenario(env: dict, mode: str) -> dict:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "puppies.tests.replica_scenario", mode],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_reads_follow_the_replica_except_for_writers_and_past_the_lag_limit(
    primary_and_replica,
):
    _, env = primary_and_replica

    seen = scenario(env, "lagging")

    assert seen == {
        # A post: its author reads the primary, another reader the (paused) replica...
        "author_sees_own_post": True,
        "reader_sees_post_while_replica_lags": False,
        # ...until the replica is REPLICA_MAX_LAG_S behind: then the primary.
        "reader_sees_post_once_replica_is_too_far_behind": True,
        # A follow: the same.
        "follower_sees_own_follow": True,
        "reader_sees_follow_while_replica_lags": False,
        "reader_sees_follow_once_replica_caught_up": True,
    }


def test_a_stopped_replica_sends_every_read_to_the_primary(primary_and_replica):
    replica, env = primary_and_replica
    replica.stop()
    try:
        assert scenario(env, "down") == {"reader_sees_post": True}
    finally:
        replica.start()
