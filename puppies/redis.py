"""The project's Redis clients: one per URL and process, made on first use.

Django's cache (django-redis) pickles values and adds a round trip of its own per call;
the hot paths (post and feed caches, token revocation, activity stamps) talk to Redis
directly, in pipelines, with raw bytes.
"""

import threading

import redis
from django.conf import settings

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


class Script:
    """A Lua script run by SHA on the hot-path client (redis-py reloads it after a restart).

    Call it for one round trip of its own, or `on(pipe, ...)` to queue it in a pipeline.
    """

    def __init__(self, source: str):
        self.source = source
        self._registered: dict[int, redis.commands.core.Script] = {}

    def _for(self, redis_client: redis.Redis):
        registered = self._registered.get(id(redis_client))
        if registered is None:
            registered = self._registered[id(redis_client)] = redis_client.register_script(
                self.source
            )
        return registered

    def __call__(self, keys: list, args: list = ()):  # type: ignore[assignment]
        return self._for(client())(keys=keys, args=list(args))

    def on(self, pipe: redis.client.Pipeline, keys: list, args: list = ()) -> None:
        self._for(client())(keys=keys, args=list(args), client=pipe)
