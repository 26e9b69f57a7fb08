"""Make sure PostgreSQL and Redis answer at DATABASE_URL and REDIS_URL.

If a local URL does not answer, start a project-local server under .local/
when its binaries are installed; otherwise say exactly what to install.
Then create the database if it is missing. Idempotent: run it before anything.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/puppies")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, what: str) -> None:
    for _ in range(50):
        if answers(host, port):
            return
        time.sleep(0.2)
    sys.exit(f"{what} did not start on {host}:{port}; see {LOCAL}/*.log")


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_postgres(port: int) -> None:
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        sys.exit(
            f"No PostgreSQL answers at {DATABASE_URL} and none is installed.\n"
            "Install it (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL."
        )
    data = LOCAL / "pg"
    LOCAL.mkdir(exist_ok=True)
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(data, "postgres")
        subprocess.run(
            as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    print(f"Starting a project-local PostgreSQL on 127.0.0.1:{port} ({data})")
    subprocess.run(
        as_postgres(
            [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(data / "server.log"),
                "-o",
                f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
                "start",
            ]
        ),
        check=True,
    )
    wait_for("127.0.0.1", port, "PostgreSQL")


def start_redis(port: int) -> None:
    server = shutil.which("redis-server")
    if not server:
        sys.exit(
            f"No Redis answers at {REDIS_URL} and none is installed.\n"
            "Install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL."
        )
    data = LOCAL / "redis"
    data.mkdir(parents=True, exist_ok=True)
    print(f"Starting a project-local Redis on 127.0.0.1:{port}")
    subprocess.run(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "yes",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(LOCAL / "redis.log"),
        ],
        check=True,
    )
    wait_for("127.0.0.1", port, "Redis")


def ensure(url: str, default_port: int, start) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if answers(host, port):
        return
    if host not in LOCAL_HOSTS:
        sys.exit(f"Nothing answers at {host}:{port} ({url}); start it or fix the URL.")
    start(port)


def ensure_database() -> None:
    import psycopg

    parsed = urlparse(DATABASE_URL)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"Created database {name}")


if __name__ == "__main__":
    ensure(DATABASE_URL, 5432, start_postgres)
    ensure(REDIS_URL, 6379, start_redis)
    ensure_database()
