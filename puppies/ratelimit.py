"""Rate limits: the one wrapper around django-ratelimit, counters in Redis.

Views call `enforce(request, "<name>", key)`; every limit is a RATELIMIT_* setting
(rates like "10/m", "20/h") read from the environment in puppies/settings.py.
A limit that trips raises RateLimited (429, `Retry-After`, the API error format).
If Redis is unreachable the counters cannot be read and the limits fail open
(RATELIMIT_FAIL_OPEN): serving users beats refusing everyone.
"""

import functools
import ipaddress

from django.conf import settings
from django.http import JsonResponse
from django.urls import reverse
from django_ratelimit.core import get_usage

from puppies.errors import RateLimited, error_body


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


def _usage(request, name: str, key, *, increment: bool = True) -> dict | None:
    rate = getattr(settings, f"RATELIMIT_{name.upper()}")
    value = key if callable(key) else (lambda group, request, _v=str(key): _v)
    return get_usage(request, group=name, key=value, rate=rate, increment=increment)


def _retry_after(usage: dict) -> int:
    return max(int(usage["time_left"]), 1)


def enforce(request, name: str, key=_ip_key, *, increment: bool = True) -> None:
    """Count one request against limit `name` (per client IP unless `key` says) or raise 429.

    `key` is a value (user id, username) or django-ratelimit's callable(group, request).
    With increment=False it only checks whether the limit is already exhausted.
    """
    usage = _usage(request, name, key, increment=increment)
    if usage is None:
        return  # disabled, or Redis is down: fail open
    exhausted = usage["should_limit"] if increment else usage["count"] >= usage["limit"]
    if exhausted:
        raise RateLimited(wait=_retry_after(usage))


def count(request, name: str, key) -> None:
    """Record one event (e.g. a failed login) against limit `name` without checking it."""
    _usage(request, name, key, increment=True)


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
            # The admin's password form gets the API login's per-IP limit too.
            if request.method == "POST" and request.path == _admin_login_path():
                usage = _usage(request, "login", _ip_key)
                if usage is not None and usage["should_limit"]:
                    return self.too_many(_retry_after(usage))
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
    def too_many(retry_after: int) -> JsonResponse:
        response = JsonResponse(
            error_body(429, f"Too many requests; retry in {retry_after} seconds."), status=429
        )
        response["Retry-After"] = str(retry_after)
        return response
