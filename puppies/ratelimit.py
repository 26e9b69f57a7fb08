"""Rate limits: the one wrapper around django-ratelimit, counters in Redis.

Views call `enforce(request, "<name>", key)`; every limit is a RATELIMIT_* setting
(rates like "10/m", "20/h") read from the environment in puppies/settings.py.
A limit that trips raises RateLimited (429, `Retry-After`, the API error format).

If Redis is unreachable the counters cannot be read. Most limits then fail open
(RATELIMIT_FAIL_OPEN): serving users beats refusing everyone. The limits that guard
credentials (LOCAL_FALLBACK: logins, registrations) are counted in this process instead,
so a Redis outage never opens password guessing; each process then allows the full rate.

A limit may also lock its key out (LOCKOUTS): once `count` brings it to the limit, every
`enforce` of that key answers 429 until the lockout ends, whatever the window says.

Hot paths (like, comment create) make one Redis call per request anyway: their limit is
counted inside it (`ScriptLimit`, `LUA_LIMIT`), so it costs no round trip of its own, and
with RATELIMIT_ENABLE=false no Redis command at all.
"""

import functools
import hashlib
import ipaddress
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.http import JsonResponse
from django.urls import reverse
from django_ratelimit.core import _split_rate, get_usage
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from puppies import redis as puppies_redis
from puppies.errors import RateLimited, error_body
from users import revocations

# What the rate-limit cache raises when Redis is unreachable (it does not ignore errors).
REDIS_DOWN = (ConnectionInterrupted, RedisError, OSError)
# Limits counted in-process while Redis is down, instead of failing open.
LOCAL_FALLBACK = frozenset({"login", "login_failed", "register"})
# Limit name -> the setting with its lockout in seconds.
LOCKOUTS = {"login_failed": "RATELIMIT_LOGIN_LOCKOUT_S"}


def client_ip(request) -> str:
    """The caller's address: from the trusted proxy header if one is configured, else the socket.

    Only the entry the nearest trusted proxy appended is believed (X-Forwarded-For is a
    list the client can prepend to); anything unparsable falls back to REMOTE_ADDR.
    """
    # A socket without an address (unix socket) still needs some counter key.
    remote = request.META.get("REMOTE_ADDR") or str(ipaddress.IPv4Address(0))
    header = settings.RATELIMIT_CLIENT_IP_HEADER
    if not header:
        return remote
    hops = [hop.strip() for hop in request.META.get(header, "").split(",") if hop.strip()]
    depth = settings.RATELIMIT_TRUSTED_PROXY_DEPTH
    if len(hops) < depth:
        return remote
    candidate = hops[-depth]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def _ip_key(group, request) -> str:
    # One IPv6 host usually owns a whole /64: count it as one client.
    address = ipaddress.ip_address(client_ip(request))
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


class _LocalCounters:
    """Fixed-window counters and lockouts of one process: the fallback while Redis is down."""

    MAX_ENTRIES = 100_000  # bounded: past it, entries of ended windows are dropped

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}
        self._locked_until: dict[tuple[str, str], float] = {}

    def usage(self, name: str, value: str, rate: str, *, increment: bool) -> dict:
        limit, period = _split_rate(rate)
        now = int(time.time())
        window_end = now - now % period + period
        with self._lock:
            if len(self._counts) >= self.MAX_ENTRIES:
                self._counts = {k: v for k, v in self._counts.items() if k[2] > now}
            count = self._counts.get((name, value, window_end), 0) + int(increment)
            if increment:
                self._counts[(name, value, window_end)] = count
        return {
            "count": count,
            "limit": limit,
            "should_limit": count > limit,
            "time_left": window_end - now,
        }

    def lock(self, name: str, value: str, until: float) -> None:
        with self._lock:
            if len(self._locked_until) >= self.MAX_ENTRIES:
                now = time.time()
                self._locked_until = {k: v for k, v in self._locked_until.items() if v > now}
            self._locked_until[(name, value)] = until

    def locked_until(self, name: str, value: str) -> float | None:
        return self._locked_until.get((name, value))


_local = _LocalCounters()


def _usage(request, name: str, key, *, increment: bool = True) -> dict | None:
    """The counter of `key` under limit `name`, or None if it does not apply (disabled, or
    Redis down for a limit that fails open)."""
    if not settings.RATELIMIT_ENABLE:
        return None
    rate = getattr(settings, f"RATELIMIT_{name.upper()}")
    value = key(name, request) if callable(key) else str(key)
    try:
        return get_usage(request, group=name, key=lambda *_: value, rate=rate, increment=increment)
    except REDIS_DOWN:
        if name not in LOCAL_FALLBACK:
            return None  # fail open
        return _local.usage(name, value, rate, increment=increment)


def _lock_key(name: str, value: str) -> str:
    return "rl:lock:" + hashlib.sha256(f"{name}:{value}".encode()).hexdigest()


def _locked_for(name: str, key) -> int:
    """Seconds left of a lockout of `key` under limit `name` (0: not locked)."""
    value = str(key)
    try:
        until = caches[settings.RATELIMIT_USE_CACHE].get(_lock_key(name, value))
    except REDIS_DOWN:
        until = _local.locked_until(name, value)
    return max(int((until or 0) - time.time()), 0)


def _lock(name: str, key, seconds: int) -> None:
    value, until = str(key), time.time() + seconds
    try:
        caches[settings.RATELIMIT_USE_CACHE].set(_lock_key(name, value), until, seconds)
    except REDIS_DOWN:
        _local.lock(name, value, until)


def _retry_after(usage: dict) -> int:
    return max(int(usage["time_left"]), 1)


def enforce(request, name: str, key=_ip_key, *, increment: bool = True) -> None:
    """Count one request against limit `name` (per client IP unless `key` says) or raise 429.

    `key` is a value (user id, username) or django-ratelimit's callable(group, request).
    With increment=False it only checks whether the limit is already exhausted.
    """
    if name in LOCKOUTS and settings.RATELIMIT_ENABLE:
        locked = _locked_for(name, key)
        if locked:
            raise RateLimited(
                detail="Too many failed logins for this account: it is locked for a while.",
                wait=locked,
            )
    usage = _usage(request, name, key, increment=increment)
    if usage is None:
        return  # disabled, or Redis is down for a limit that fails open
    exhausted = usage["should_limit"] if increment else usage["count"] >= usage["limit"]
    if exhausted:
        raise RateLimited(wait=_retry_after(usage))


def count(request, name: str, key) -> None:
    """Record one event (e.g. a failed login) against limit `name` without checking it;
    the event that reaches the limit starts the limit's lockout, if it has one."""
    usage = _usage(request, name, key, increment=True)
    if usage is not None and name in LOCKOUTS and usage["count"] >= usage["limit"]:
        _lock(name, key, getattr(settings, LOCKOUTS[name]))


# --- limits counted inside a hot path's own Redis script ---------------------------------

# over_limit(key or "" for none, limit, period s) -> nil, or the seconds until the window
# ends once the count passed the limit. A fixed window that starts with its first request.
LUA_LIMIT = """
local function over_limit(key, limit, period)
  if key == '' then return nil end
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, period) end
  if n <= tonumber(limit) then return nil end
  local left = redis.call('TTL', key)
  if left < 0 then redis.call('EXPIRE', key, period) left = tonumber(period) end
  return left
end
"""

_LIMIT_ONLY = puppies_redis.Script(LUA_LIMIT + "return over_limit(ARGV[1], ARGV[2], ARGV[3]) or 0")
# The request's pending token check (users.revocations) and its limit in one call:
# -> {verdict or "", seconds to wait or 0}. A revoked token counts nothing.
_CHECK_AND_LIMIT = puppies_redis.Script(
    revocations.LUA_CHECK
    + LUA_LIMIT
    + """
local verdict = token_revoked(ARGV[1], ARGV[2])
if verdict then return {verdict, 0} end
return {'', over_limit(ARGV[3], ARGV[4], ARGV[5]) or 0}
"""
)


class ScriptLimit:
    """Limit `name` for `key`, to be counted by a Lua script that has `LUA_LIMIT`:
    `args` are over_limit's arguments ("" when limits are off), `settle` raises 429."""

    def __init__(self, name: str, key) -> None:
        self.name, self.counted = name, False
        if settings.RATELIMIT_ENABLE:
            limit, period = _split_rate(getattr(settings, f"RATELIMIT_{name.upper()}"))
            self.args = [f"rl:{name}:{key}", limit, period]
        else:
            self.args = ["", 0, 0]

    @property
    def enabled(self) -> bool:
        return bool(self.args[0])

    def settle(self, wait) -> None:
        """Apply what over_limit said in the script that counted this request."""
        self.counted = True
        if wait:
            raise RateLimited(wait=max(int(wait), 1))

    def enforce(self) -> None:
        """Count it with a call of its own (a path whose script did not run); fails open."""
        if not self.enabled or self.counted:
            return
        try:
            wait = _LIMIT_ONLY([], self.args)
        except puppies_redis.Unavailable:
            return
        self.settle(wait)


def enforce_with_token_check(request, name: str, key) -> None:
    """`enforce` for a view whose token check was left pending (`token_check_carried`):
    the check and the limit in one round trip; with limits off, the check alone, as the
    authentication would have made it."""
    limit, user = ScriptLimit(name, key), request.user
    if not limit.enabled:
        revocations.ensure_checked(user)
        return
    if getattr(user, "pending_token_check", None) is None:
        limit.enforce()
        return
    try:
        verdict, wait = _CHECK_AND_LIMIT([], [*revocations.pending_args(user), *limit.args])
    except puppies_redis.Unavailable:
        revocations.ensure_checked(user)  # from the user's row; the limit fails open
        return
    if verdict:  # revoked (raises), or the mirror was missing: checked the plain way
        revocations.settle(user, verdict)
        limit.enforce()
        return
    revocations.settle(user, None)
    limit.settle(wait)


@functools.cache
def _admin_login_path() -> str:
    return reverse("admin:login")


class GlobalRateLimitMiddleware:
    """RATELIMIT_GLOBAL requests per client IP across the whole site.

    Liveness and static files are exempt; /readyz and /metrics only for the monitoring
    system (puppies.health.is_monitor): anyone else's probes count like any request."""

    EXEMPT_PREFIXES = ("/healthz", "/" + settings.STATIC_URL.lstrip("/"))
    MONITOR_PATHS = ("/readyz", "/metrics")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not self.exempt(request):
            usage = _usage(request, "global", _ip_key)
            if usage is not None and usage["should_limit"]:
                return self.too_many(_retry_after(usage))
            # The admin's password form gets the API login's limits: per IP, per account.
            if request.method == "POST" and request.path == _admin_login_path():
                from users.services import check_login_allowed  # users imports this module

                try:
                    enforce(request, "login")
                    check_login_allowed(request, identifier=request.POST.get("username", ""))
                except RateLimited as exc:
                    return self.too_many(exc.wait, str(exc.detail))
        return self.get_response(request)

    def exempt(self, request) -> bool:
        path = request.path
        if path.startswith(self.EXEMPT_PREFIXES):
            return True
        if path not in self.MONITOR_PATHS:
            return False
        from puppies.health import is_monitor  # health imports this module

        return is_monitor(request)

    @staticmethod
    def too_many(retry_after: int, message: str = "") -> JsonResponse:
        message = message or f"Too many requests; retry in {retry_after} seconds."
        response = JsonResponse(error_body(429, message), status=429)
        response["Retry-After"] = str(retry_after)
        return response
