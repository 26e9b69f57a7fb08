"""Liveness and readiness for load balancers and operators.

`/healthz` answers anyone. `/readyz` answers anyone 200 or 503 (what a load balancer
needs) but names the dependency that is down only to the monitoring system
(`is_monitor`), which alone may read `/metrics` too.
"""

import functools
import hmac
import ipaddress
import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from interactions import like_buffer
from puppies import ratelimit
from puppies.celery import app as celery_app

logger = logging.getLogger(__name__)
_warned: set[str] = set()


@functools.cache
def _networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def is_monitor(request) -> bool:
    """The caller is the monitoring system: it sent `Bearer <METRICS_TOKEN>`, or its address
    (as the rate limits see it) is in METRICS_ALLOWED_NETWORKS."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return True
    networks = _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    if networks:
        address = ipaddress.ip_address(ratelimit.client_ip(request))
        return any(address in network for network in networks)
    return False


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1).ping()


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=1)


CHECKS = {"database": _check_database, "redis": _check_redis, "broker": _check_broker}


def readyz(request):
    checks = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready", named for the operator
            checks[name] = f"down: {type(exc).__name__}"
    down = [name for name, result in checks.items() if result != "ok"]
    monitor = is_monitor(request)
    warnings = _warnings()  # logged once per process whoever asks
    if down == ["database"]:
        # Read-only mode (ARCHITECTURE.md, degraded modes): cached reads still answer, so
        # the process stays in rotation; writes answer 503 with Retry-After meanwhile.
        body = {"status": "read_only"}
        if monitor:
            body["checks"] = checks
            body["warnings"] = ["database down: read-only, writes answer 503", *warnings]
        return JsonResponse(body, status=200)
    body = {"status": "unavailable" if down else "ok"}
    if monitor:  # what is down, and why, tells an attacker where to push
        body["checks"] = checks
        if warnings:
            body["warnings"] = warnings
    if down:
        message = f"Not ready: {', '.join(down)} down." if monitor else "Not ready."
        body["error"] = {"code": "service_unavailable", "message": message}
    return JsonResponse(body, status=503 if down else 200)


def _warnings() -> list[str]:
    """What does not make the process unready but an operator must fix: a like buffer
    whose Redis would lose acknowledged likes on a restart (ARCHITECTURE.md). Logged once
    per process and problem, so that a start-up's first probe puts it in the logs."""
    try:
        problem = like_buffer.durability_problem()
    except like_buffer.Unavailable:
        return []  # down, not undurable: the redis check names it
    if problem is None:
        return []
    if problem not in _warned:
        _warned.add(problem)
        logger.warning(problem)
    return [problem]
