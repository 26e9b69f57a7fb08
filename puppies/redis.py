"""The project's Redis clients: one per URL and process, made on first use.

Django's cache (django-redis) pickles values and adds a round trip of its own per call;
the hot paths (post and feed caches, token revocation, activity stamps) talk to Redis
directly, in pipelines, with raw bytes. Scripts, the one call of each hot request, go
over a connection each thread keeps (`execute`): redis-py's client-level machinery per
command (pool checkout, retries, observability hooks) costs more than the round trip.
"""

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Sequence

import redis
from django.conf import settings
from redis.exceptions import NoScriptError

# Errors that mean "Redis is unavailable": callers fall back to PostgreSQL.
Unavailable = (redis.ConnectionError, redis.TimeoutError)

_clients: dict[tuple[str, bool, float], redis.Redis] = {}
_lock = threading.Lock()


def client(
    url: str | None = None, *, decode: bool = False, timeout: float | None = None
) -> redis.Redis:
    """The client for `url` (default REDIS_URL), looked up at call time so that a changed
    setting takes effect at once.

    One per URL and process even when threads race to make it: a losing duplicate would
    be collected mid-request and close the sockets its pool lent out.
    """
    key = (url or settings.REDIS_URL, decode, timeout or settings.REDIS_TIMEOUT_S)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = redis.Redis.from_url(
                    key[0],
                    decode_responses=decode,
                    socket_connect_timeout=key[2],
                    socket_timeout=key[2],
                )
    return found


class _Lanes(threading.local):
    """This thread's own connection per client, made from the client's settings."""

    def __init__(self):
        self.pid = os.getpid()
        self.connections: dict[int, redis.Connection] = {}


_lanes = _Lanes()


def execute(commands: Sequence[Sequence], redis_client: redis.Redis | None = None) -> list:
    """Raw commands in one round trip on this thread's connection -> their raw replies
    (no redis-py response callbacks). All replies are read before the first error reply
    is raised, so the connection stays in step. A connection Redis dropped (a restart) is
    made again once; Unavailable if that fails too."""
    redis_client = redis_client or client()
    if _lanes.pid != os.getpid():  # forked: the parent's sockets are not ours to use
        _lanes.pid, _lanes.connections = os.getpid(), {}
    conn = _lanes.connections.get(id(redis_client))
    if conn is None:
        pool = redis_client.connection_pool
        conn = _lanes.connections[id(redis_client)] = pool.connection_class(
            **pool.connection_kwargs
        )
    for attempt in range(2):
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            replies, error = [], None
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
                    error = error or exc
        except Unavailable as exc:
            conn.disconnect()
            if attempt or isinstance(exc, redis.TimeoutError):
                raise
            continue
        if error is not None:
            raise error
        return replies
    raise AssertionError("unreachable")


class Script:
    """A Lua script, run by its SHA; loaded again when Redis lost it (a restart).

    Call it for a round trip of its own (raw commands in `also` ride along, their
    replies dropped), or queue it with `on` in a pipeline that `pipelined` executes.
    """

    def __init__(self, source: str):
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(
        self,
        keys: list,
        args: Sequence = (),
        *,
        redis_client: redis.Redis | None = None,
        also: Sequence[Sequence] = (),
    ):
        command = self.command(keys, args)
        try:
            return execute([command, *also], redis_client)[0]
        except NoScriptError:
            execute([("SCRIPT", "LOAD", self.source)], redis_client)
            return execute([command, *also], redis_client)[0]

    def command(self, keys: Sequence, args: Sequence = ()) -> tuple:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def on(self, pipe: redis.client.Pipeline, keys: Sequence, args: Sequence = ()) -> None:
        pipe.evalsha(self.sha, len(keys), *keys, *args)


def run_scripts(calls: Sequence[tuple[Script, Sequence, Sequence]], redis_client=None) -> list:
    """(script, keys, args) calls in one round trip (see `execute`) -> their replies; the
    scripts are loaded again if Redis lost them."""
    commands = [script.command(keys, args) for script, keys, args in calls]
    try:
        return execute(commands, redis_client)
    except NoScriptError:
        execute([("SCRIPT", "LOAD", s.source) for s in {c[0] for c in calls}], redis_client)
        return execute(commands, redis_client)


# --- versioned caches --------------------------------------------------------------------
# An entry cached under a version (posts.rendering's posts and cards, users.profiles's
# profiles) is served only while its version key still holds the number it was stored
# under; a change bumps the version after its commit, and every entry under it goes stale.

# KEYS: versions; ARGV: the entries' ttl. Bump each (creating it: a reader that read the
# database just now must find its version stale when it stores). A version outlives its
# entries (twice their ttl), so one that went back to 0 never meets an old entry.
_BUMP_VERSIONS = Script("""
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, 2 * ARGV[1])
end
return #KEYS
""")


def bump_versions(version_keys: Sequence[str], *, entry_ttl_s: int) -> None:
    """Every entry cached under these versions goes stale (call after commit), in one
    round trip. Redis down: nothing is read from it either; entries expire within the ttl."""
    if not version_keys:
        return
    with contextlib.suppress(Unavailable):
        _BUMP_VERSIONS(list(version_keys), [entry_ttl_s])


# KEYS: a set, its version key. ARGV: the version its members were read under, ttl,
# members. The set is stored only if that version is still current.
_STORE_SET_IF_CURRENT = Script("""
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
""")


def store_set_if_current(
    set_key: str, version_key: str, *, version: bytes, ttl_s: int, members: Sequence
) -> None:
    """Cache a per-user set read from PostgreSQL under `version` (read from `version_key`
    before the database was), unless a write bumped the version since: a build that raced a
    change never stores what the change replaced. Redis down: nothing is stored."""
    with contextlib.suppress(Unavailable):
        _STORE_SET_IF_CURRENT([set_key, version_key], [version, ttl_s, *members])


def pipelined(
    build: Callable[[redis.client.Pipeline], None],
    scripts: Sequence[Script],
    redis_client: redis.Redis | None = None,
) -> list:
    """One round trip of what `build` queues; its scripts are loaded again if Redis lost
    them. (redis-py's own script pipelines ask SCRIPT EXISTS first: a round trip more.)"""
    redis_client = redis_client or client()
    for attempt in range(2):
        pipe = redis_client.pipeline(transaction=False)
        build(pipe)
        try:
            return pipe.execute()
        except NoScriptError:
            if attempt:
                raise
            for script in scripts:
                redis_client.script_load(script.source)
    raise AssertionError("unreachable")
