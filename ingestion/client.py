"""Fetching JSON from a source: httpx with timeouts, tenacity retries, and the safety rules.

Retried (exponential backoff with jitter, a `Retry-After` honoured): timeouts, connection
errors, a body cut short, 429 and 5xx. Not retried: other 4xx, a body over
INGEST_MAX_RESPONSE_BYTES, a body that is not JSON, a refused URL. Whatever still fails
raises `FetchError`, whose message goes into a dead letter.
"""

import ipaddress
import socket
import threading
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpcore
import httpx
import orjson
from django.conf import settings
from django.utils import timezone
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying


class FetchError(Exception):
    """The URL could not be fetched as JSON; the message says why (it goes to a dead letter)."""


class UnsafeURL(FetchError):
    pass


class _Retryable(FetchError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def check_url(url: str) -> None:
    """Refuse what is not http(s), and hosts that resolve into private, loopback or
    link-local ranges (an import must not reach the internal network) unless
    INGEST_ALLOW_PRIVATE. The connection itself goes to an address checked again
    (`_PublicOnlyBackend`), so a name that resolves elsewhere by then gains nothing."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL(f"Only http(s) URLs can be imported: {url!r}.")
    if not settings.INGEST_ALLOW_PRIVATE:
        try:
            _public_addresses(parts.hostname, parts.port or 443)
        except httpcore.ConnectError as exc:
            raise _Retryable(str(exc)) from None


def _public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to; UnsafeURL if any is not public."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"Cannot resolve {host}: {exc}.") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            raise UnsafeURL(f"{host} resolves to a non-public address ({address}).")
        addresses.append(str(address))
    return addresses


class _PublicOnlyBackend(httpcore.NetworkBackend):
    """Connects to an address it has just checked (unless INGEST_ALLOW_PRIVATE), not to
    whatever the name resolves to a moment later (DNS rebinding). TLS still verifies
    and sends the host name: httpcore takes it from the URL, not from the socket."""

    def __init__(self):
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if not settings.INGEST_ALLOW_PRIVATE:
            host = _public_addresses(host, port)[0]
        return self._backend.connect_tcp(host, port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UnsafeURL("Sources are reached over TCP only.")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    def __init__(self, limits: httpx.Limits):
        super().__init__(limits=limits)
        # httpx takes no network backend; its pool is rebuilt with ours, same settings.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=_PublicOnlyBackend(),
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - timezone.now()).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), settings.INGEST_RETRY_AFTER_MAX_S)


class _WaitHonouringRetryAfter:
    """Exponential backoff with jitter, but never less than the server's Retry-After."""

    def __init__(self):
        self.backoff = wait_exponential_jitter(
            multiplier=settings.INGEST_BACKOFF_S,
            max=settings.INGEST_BACKOFF_MAX_S,
            jitter=settings.INGEST_BACKOFF_S,
        )

    def __call__(self, state: RetryCallState) -> float:
        wait = self.backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            wait = max(wait, exc.retry_after)
        return wait


class Fetcher:
    """One per run: a pooled httpx client, shared by the run's fetching threads."""

    def __init__(self):
        timeout = settings.INGEST_HTTP_TIMEOUT_S
        concurrency = settings.INGEST_CONCURRENCY
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=_Transport(
                httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            ),
            follow_redirects=False,  # a redirect could lead anywhere: not followed, refused
            trust_env=False,  # no proxy from the environment: it would connect for us
            headers={"User-Agent": "puppies-ingestion/1", "Accept": "application/json"},
        )
        self.requests = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get_json(self, url: str) -> object:
        """The JSON at `url`, retried as the module says; FetchError if it cannot be had."""
        retrying = _Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            stop=stop_after_attempt(settings.INGEST_HTTP_RETRIES + 1),
            wait=_WaitHonouringRetryAfter(),
            reraise=True,
        )
        try:
            return retrying(self._get_once, url)
        except _Retryable as exc:
            raise FetchError(f"{exc} (after {settings.INGEST_HTTP_RETRIES + 1} attempts)") from None

    def _get_once(self, url: str) -> object:
        check_url(url)
        with self._lock:
            self.requests += 1
        try:
            with self.client.stream("GET", url) as response:
                status = response.status_code
                if status == 429 or status >= 500:
                    raise _Retryable(f"HTTP {status} from {url}", _retry_after(response))
                if status != 200:
                    raise FetchError(f"HTTP {status} from {url}")
                body = self._read_capped(response, url)
        except httpx.TimeoutException:
            raise _Retryable(f"Timed out after {settings.INGEST_HTTP_TIMEOUT_S} s: {url}") from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # connection refused or reset, a body cut short of its Content-Length, ...
            raise _Retryable(f"{type(exc).__name__} from {url}: {exc}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidJSON(f"Invalid JSON from {url}: {exc}", body) from None

    @staticmethod
    def _read_capped(response: httpx.Response, url: str) -> bytes:
        cap = settings.INGEST_MAX_RESPONSE_BYTES
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"Response of {declared} bytes from {url} is over {cap} bytes.")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise FetchError(f"Response from {url} is over {cap} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)


class InvalidJSON(FetchError):
    def __init__(self, message: str, body: bytes):
        super().__init__(message)
        self.body = body
