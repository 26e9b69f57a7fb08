"""What the benchmarks share: their own database, and free loopback ports."""

import os
import secrets
import socket
from urllib.parse import urlparse


def ensure_database(url: str) -> None:
    """Create the database of `url` on its server if it is missing."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_bench_keys() -> None:
    """Random signing keys for this run (and the servers it starts, which inherit them):
    settings.py refuses to start without DEBUG unless SECRET_KEY and JWT_SIGNING_KEY are set."""
    for name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
        os.environ.setdefault(name, secrets.token_urlsafe(50))
