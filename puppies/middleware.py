"""The project's own middleware: request metrics, and the admin-only cut of Django's.

Sessions, the session user and flash messages exist for the admin's HTML forms; the API
authenticates every request by token and sets no cookie. The admin-only versions below
(subclasses, so the admin's own checks still find them) run for /admin/ and step aside
for everything else, which saves the API their cost on every request.
"""

import time

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from prometheus_client import Histogram

ADMIN_PREFIX = "/admin/"


class _AdminOnly:
    def __call__(self, request):
        if request.path_info.startswith(ADMIN_PREFIX):
            return super().__call__(request)
        return self.get_response(request)


class AdminSessionMiddleware(_AdminOnly, SessionMiddleware):
    pass


class AdminAuthenticationMiddleware(_AdminOnly, AuthenticationMiddleware):
    pass


class AdminMessageMiddleware(_AdminOnly, MessageMiddleware):
    pass


REQUEST_DURATION = Histogram(
    "puppies_http_request_duration_seconds",
    "Requests by view (URL name), method and status: rate, errors and latency per endpoint.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetricsMiddleware:
    """One histogram observation per request (outermost, so it times the whole stack)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "<unresolved>"
        REQUEST_DURATION.labels(view, request.method, response.status_code).observe(
            time.perf_counter() - started
        )
        return response
