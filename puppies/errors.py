"""The one error format of the API: {"error": {"code", "message", "fields"?}}.

DRF exceptions go through `api_exception_handler`; whatever escapes DRF (unknown
URLs, crashes, oversized bodies) goes through the Django handlers at the bottom,
so no client ever sees HTML or a stack trace.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from puppies.metrics import DEGRADED_RESPONSES

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with something that already exists."
    default_code = "conflict"


class Unprocessable(exceptions.APIException):
    """Well-formed, but not something this request may do (e.g. a reused Idempotency-Key)."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This request cannot be processed."
    default_code = "unprocessable"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable; try again shortly."
    default_code = "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL is unreachable: the API is read-only (what Redis holds still answers)."""

    default_detail = (
        "The database is unavailable: the API is read-only for now (cached feeds, posts "
        "and profiles still load); try again shortly."
    )


class RateLimited(exceptions.Throttled):
    default_code = "rate_limited"


_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "server_error",
    503: "service_unavailable",
}


def error_body(status_code: int, message: str, code: str | None = None, fields=None) -> dict:
    error = {"code": code or _CODES.get(status_code, "error"), "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """Map nested DRF error details to {"field" or "parent.child": [messages]}."""
    if isinstance(detail, dict):
        items = detail.items()
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        items = enumerate(detail)
    else:
        messages = detail if isinstance(detail, list) else [detail]
        return {prefix or "non_field_errors": [str(m) for m in messages]}
    out: dict[str, list[str]] = {}
    for key, value in items:
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    if isinstance(exc, exceptions.Throttled):
        return "rate_limited"
    detail = exc.detail
    code = None
    if isinstance(detail, dict):  # simplejwt puts {"detail", "code", "messages"} here
        code = detail.get("code")
    elif hasattr(detail, "code"):
        code = detail.code
    return str(code or exc.default_code)


def _message_of(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(detail)
        if list(fields) == ["non_field_errors"] and len(fields["non_field_errors"]) == 1:
            return fields["non_field_errors"][0]
        return "Invalid input."
    if isinstance(detail, dict):
        return str(detail.get("detail", exc.default_detail))
    if isinstance(detail, list):
        return " ".join(str(d) for d in detail)
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) else None)
    elif isinstance(exc, Ratelimited):
        exc = RateLimited(wait=getattr(exc, "retry_after", 60))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # PostgreSQL unreachable: a retryable 503, not a 500 (Django reconnects by itself).
        logger.error("database unavailable", exc_info=exc)
        exc = DatabaseUnavailable()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a crash: Django logs it and `server_error` answers 500 JSON
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(settings.DB_DOWN_RETRY_AFTER_S)
        DEGRADED_RESPONSES.labels(mode="read_only").inc()

    fields = None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
    elif isinstance(exc.detail, dict) and "fields" in exc.detail:
        fields = _flatten(exc.detail["fields"])
    response.data = error_body(response.status_code, _message_of(exc), _code_of(exc), fields)
    return response


# --- Django-level handlers (wired in puppies/urls.py) --------------------------


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body(413, PayloadTooLarge.default_detail), status=413)
    return JsonResponse(error_body(400, "Bad request."), status=400)


def permission_denied(request, exception=None):
    return JsonResponse(error_body(403, "You do not have permission to do this."), status=403)


def not_found(request, exception=None):
    return JsonResponse(error_body(404, "Not found."), status=404)


def server_error(request):
    return JsonResponse(
        error_body(500, "Something went wrong on our side; it has been logged."), status=500
    )
