"""Reads from a streaming read replica (DATABASE_REPLICA_URL), when they can be stale.

Only GETs of the views in REPLICA_VIEWS (feeds, posts, profiles, follow and like lists,
search, hashtags) read from the replica, and only
- outside a transaction (a read inside one belongs with its writes);
- if the caller has not written in the last READ_YOUR_WRITES_S: every successful unsafe
  request by a signed-in user marks them in Redis (`ryw:<user id>`), and their reads go to
  the primary meanwhile, so a user sees their own post, follow or edit at once;
- if the replica is at most REPLICA_MAX_LAG_S behind, looked at every
  REPLICA_LAG_CHECK_S per process; an unreachable replica counts as too far behind.
Everything else reads and writes the primary. Installed by settings only when the
replica is configured: without it, requests pay nothing.
"""

import logging
import time
from contextvars import ContextVar

from django.conf import settings
from django.db import DatabaseError, connections

from puppies import redis as puppies_redis

logger = logging.getLogger(__name__)

REPLICA = "replica"
REPLICA_VIEWS = frozenset(
    {
        "feed",
        "post-detail",
        "user-detail",
        "user-by-username",
        "user-posts",
        "user-followers",
        "user-following",
        "user-likes",
        "post-comments",
        "hashtag-posts",
        "search-posts",
        "search-users",
        "trending-hashtags",
    }
)
_SAFE = frozenset({"GET", "HEAD"})
# The request whose reads may go to the replica (set for REPLICA_VIEWS only).
_replica_request: ContextVar = ContextVar("replica_request", default=None)

# Caught up: everything received is replayed. Else: the age of the last replayed commit.
LAG_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END
"""


class _Freshness:
    checked_at = float("-inf")
    fresh = False


_freshness = _Freshness()


def replica_is_fresh() -> bool:
    """The replica answers and lags at most REPLICA_MAX_LAG_S (cached per process)."""
    now = time.monotonic()
    if now - _freshness.checked_at < settings.REPLICA_LAG_CHECK_S:
        return _freshness.fresh
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            lag = cursor.fetchone()[0]
        fresh = lag is not None and float(lag) <= settings.REPLICA_MAX_LAG_S
    except DatabaseError:
        logger.warning("read replica unreachable: reading from the primary", exc_info=True)
        connections[REPLICA].close()
        fresh = False
    _freshness.checked_at, _freshness.fresh = now, fresh
    return fresh


def _wrote_key(user_id: int) -> str:
    return f"ryw:{user_id}"


def _wrote_recently(request) -> bool:
    """The caller wrote in the last READ_YOUR_WRITES_S (asked once per request)."""
    wrote = getattr(request, "_wrote_recently", None)
    if wrote is None:
        user_id = getattr(getattr(request, "user", None), "pk", None)
        wrote = False
        if user_id is not None:
            try:
                wrote = bool(puppies_redis.client().exists(_wrote_key(user_id)))
            except puppies_redis.Unavailable:
                wrote = True  # cannot tell: the primary is always right
        request._wrote_recently = wrote
    return wrote


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        request = _replica_request.get()
        if request is None or connections["default"].in_atomic_block:
            return None
        if _wrote_recently(request) or not replica_is_fresh():
            return None
        return REPLICA

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data, whichever copy it was read from

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA


class ReplicaReadsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        finally:
            token = getattr(request, "_replica_token", None)
            if token is not None:
                _replica_request.reset(token)
        if request.method not in _SAFE and response.status_code < 400:
            self._mark_writer(request)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if request.method in _SAFE and match is not None and match.url_name in REPLICA_VIEWS:
            request._replica_token = _replica_request.set(request)

    @staticmethod
    def _mark_writer(request) -> None:
        user_id = getattr(getattr(request, "user", None), "pk", None)
        if user_id is None:
            return
        try:
            puppies_redis.client().set(_wrote_key(user_id), 1, ex=settings.READ_YOUR_WRITES_S)
        except puppies_redis.Unavailable:
            logger.warning("could not mark user %s as a recent writer", user_id)
