"""The API against its own OpenAPI schema: schemathesis, every check, every operation.

Run by `.ci/run` (and `make api-contract`). On a database of its own (DATABASE_URL's name
+ `_contract`, recreated each run) and a Redis of its own (a `redis-server` on a free
port in a temp dir: cached renderings of an earlier run must not leak in) it migrates,
seeds a signed-in user with something to act on, starts gunicorn on a free loopback port
and runs `schemathesis run` against `/v1/schema` with that user's bearer token: the
examples, coverage, fuzzing and stateful phases (links schemathesis infers from the
schema feed a created resource's id to its own operations), bounded by
CONTRACT_MAX_EXAMPLES per operation. Exits with schemathesis's status; extra arguments go
to schemathesis.
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MAX_EXAMPLES = os.environ.get("CONTRACT_MAX_EXAMPLES", "8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def contract_env(redis_url: str) -> dict:
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/puppies"))
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="puppies.settings",
        DATABASE_URL=url._replace(path=f"{url.path}_contract").geturl(),
        # Thousands of generated requests from one address and one user: limits would
        # answer 429 (documented, but hiding what the operation does).
        RATELIMIT_ENABLE="false",
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECURE_COOKIES="false",
        LIKE_BUFFER_ENABLED="true",
        REDIS_URL=redis_url,
        LIKE_BUFFER_REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
    )
    # Production settings refuse to start without keys of their own: random ones per run.
    for name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
        env.setdefault(name, secrets.token_urlsafe(50))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def recreate_database(env: dict) -> None:
    import psycopg

    url = urlparse(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    with psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


SEED = """
from rest_framework_simplejwt.tokens import RefreshToken
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory
me, other = UserFactory(username="contract"), UserFactory(username="someone")
PostFactory(author=me)
PostFactory(author=other)
print(RefreshToken.for_user(me).access_token)
"""


def seed(env: dict) -> str:
    """A user (whose token the run uses), another one, and a post of each."""
    out = subprocess.run(
        [str(BIN / "python"), "manage.py", "shell", "-c", SEED],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def start_redis(directory: str) -> tuple[subprocess.Popen, str]:
    from scripts.local_servers import REDIS_DURABILITY_ARGS, wait_for

    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(port),
         "--bind", "127.0.0.1", "--dir", directory, *REDIS_DURABILITY_ARGS],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for("127.0.0.1", port, "Redis")
    return server, f"redis://127.0.0.1:{port}/0"


def main() -> int:
    with tempfile.TemporaryDirectory() as directory:
        redis_server, redis_url = start_redis(directory)
        try:
            return run(contract_env(redis_url))
        finally:
            redis_server.kill()
            redis_server.wait(timeout=10)


def run(env: dict) -> int:
    recreate_database(env)
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    token = seed(env)
    port = free_port()
    log = (ROOT / ".local").joinpath("contract-gunicorn.log")
    log.parent.mkdir(exist_ok=True)
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "puppies.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4",
         # gunicorn answers a request line over 4094 bytes with its own HTML 414, before
         # the app (and its error format) sees it; schemathesis makes such lines.
         "--limit-request-line", "0"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        return subprocess.run(
            [str(BIN / "schemathesis"), "run", f"{base}/v1/schema", "--url", base,
             # No `--checks all`: every check is on by default, and the flag would override
             # what schemathesis.toml turns off for some operations.
             "--phases", "examples,coverage,fuzzing,stateful",
             "--max-examples", MAX_EXAMPLES, "--wait-for-schema", "30",
             "--header", f"Authorization: Bearer {token}", "--seed", "1",
             *sys.argv[1:]],
            cwd=ROOT, env=env,
        ).returncode  # fmt: skip
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=15)


if __name__ == "__main__":
    sys.exit(main())
