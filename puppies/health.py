"""Liveness and readiness for load balancers and operators."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from puppies.celery import app as celery_app


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
    body = {"status": "unavailable" if down else "ok", "checks": checks}
    if down:
        body["error"] = {
            "code": "service_unavailable",
            "message": f"Not ready: {', '.join(down)} down.",
        }
    return JsonResponse(body, status=503 if down else 200)
