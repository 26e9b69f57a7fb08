"""`Idempotency-Key` on creating requests: a retry answers the first response, creates nothing.

A view method decorated with `idempotent` runs as usual without the header (no Redis
command, no query: post and comment creation are benchmarked). With it, the key is
claimed in Redis per user (`idem:<user id>:<sha256 of the key>`) with a pending marker
holding a fingerprint of the request (method, path, JSON body):

- the first request runs; a 2xx answer is stored over the marker for IDEMPOTENCY_TTL_S
  (24 h) and replayed, status and body byte for byte, to every repeat; any other answer
  (invalid input, 404, 429, a crash) frees the key, so a retry runs again;
- a repeat while the first still runs waits up to IN_PROGRESS_WAIT_S for its answer,
  then gets 409 `in_progress` with Retry-After;
- the same key with another request (body, post, endpoint) is 422 `idempotency_key_reused`;
- Redis unreachable: 503 (the promise could not be kept), not a request run blind.

A process killed between its write and storing the answer leaves a pending marker that
expires after PENDING_TTL_S; a retry after that runs again.
"""

import contextlib
import functools
import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from puppies import redis as puppies_redis
from puppies.errors import Conflict, ServiceUnavailable, Unprocessable
from puppies.renderers import JSONRenderer
from users import revocations

HEADER = "Idempotency-Key"
_META = "HTTP_IDEMPOTENCY_KEY"
IDEMPOTENCY_TTL_S = 86_400  # the contract: 24 hours
PENDING_TTL_S = 60  # longer than any creation takes; a killed worker's claim expires
IN_PROGRESS_WAIT_S = 1.0
_POLL_S = 0.05
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII, no space at either end (a header value loses those in transit).
_KEY_RE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")

PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": f"^{_KEY_RE.pattern}$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="A key of your choosing (a UUID): a repeat with the same key within 24 h "
    "answers the first response (same status and body, with `Idempotent-Replayed: true`) and "
    "creates nothing; the same key with another request is a 422 `idempotency_key_reused`, "
    "a repeat while the first is still running a 409 `in_progress` (retry after Retry-After).",
)

# KEYS: the key. ARGV: the pending marker, its ttl. -> the stored value, or false when
# this call claimed the key.
_CLAIM = puppies_redis.Script("""
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
""")

# KEYS: the key. ARGV: our pending marker, the value to put instead ("" to delete), ttl.
# Only while the marker is still ours: an expired claim someone else took is theirs.
_SETTLE = puppies_redis.Script("""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1
""")


def idempotent(method: Callable) -> Callable:
    """Decorate a view's creating method (after authentication: it keys by user)."""

    @functools.wraps(method)
    def wrapper(view, request, *args, **kwargs):
        raw_key = request.META.get(_META)
        if raw_key is None:
            return method(view, request, *args, **kwargs)
        # A check the view would carry (users.revocations) comes first: a revoked token
        # claims no key.
        revocations.ensure_checked(request.user)
        return _once(request, raw_key, lambda: method(view, request, *args, **kwargs))

    return wrapper


def _once(request, raw_key: str, run: Callable[[], HttpResponse]) -> HttpResponse:
    if not _KEY_RE.fullmatch(raw_key):
        raise ValidationError({HEADER: ["1 to 255 printable ASCII characters, no outer spaces."]})
    key = f"idem:{request.user.pk}:{hashlib.sha256(raw_key.encode()).hexdigest()}"
    fingerprint = _fingerprint(request)
    pending = b"p|%s|%s" % (fingerprint, secrets.token_hex(8).encode())
    deadline = time.monotonic() + IN_PROGRESS_WAIT_S
    while True:
        found = _redis(_CLAIM, [key], [pending, PENDING_TTL_S])
        if not found:
            break  # ours: run it
        state, found_fingerprint, rest = found.split(b"|", 2)
        if found_fingerprint != fingerprint:
            raise Unprocessable(
                f"This {HEADER} was used for another request.", "idempotency_key_reused"
            )
        if state == b"d":
            status, body = rest.split(b"|", 1)
            response = _json_response(body, int(status))
            response[REPLAYED_HEADER] = "true"
            return response
        if time.monotonic() >= deadline:
            raise InProgress()
        time.sleep(_POLL_S)

    try:
        response = _as_bytes(run())
    except BaseException:
        _release(key, pending)
        raise
    if 200 <= response.status_code < 300:
        done = b"d|%s|%d|%s" % (fingerprint, response.status_code, response.content)
        _redis(_SETTLE, [key], [pending, done, IDEMPOTENCY_TTL_S])
    else:
        _release(key, pending)
    return response


class InProgress(Conflict):
    default_detail = "A request with this Idempotency-Key is still being processed."
    default_code = "in_progress"

    def __init__(self):
        super().__init__()
        self.wait = 1  # DRF's handler turns `wait` into Retry-After


def _fingerprint(request) -> bytes:
    # The standard library, not orjson: any JSON the parser took (integers past 64 bits,
    # lone surrogates) must fingerprint, not crash; keys sorted, so key order is no change.
    body = json.dumps(request.data, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(b"%s %s\n%s" % (request.method.encode(), request.path.encode(), body))
    return digest.hexdigest().encode()


def _as_bytes(response) -> HttpResponse:
    """The view's answer with its body rendered, so it can be stored as it is sent."""
    if isinstance(response, Response):
        return _json_response(JSONRenderer().render(response.data), response.status_code)
    return response


def _json_response(body: bytes, status: int) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="application/json")


def _release(key: str, pending: bytes) -> None:
    with contextlib.suppress(puppies_redis.Unavailable):  # else it expires in PENDING_TTL_S
        _SETTLE([key], [pending, b"", 0])


def _redis(script: puppies_redis.Script, keys: list, args: list):
    try:
        return script(keys, args)
    except puppies_redis.Unavailable:
        raise ServiceUnavailable(
            f"Requests with an {HEADER} need Redis, which is unreachable; try again shortly."
        ) from None
