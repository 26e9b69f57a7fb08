"""Fetching over real HTTP: retries, Retry-After, timeouts, bad bodies, safety."""

import time

import pytest

from ingestion import client
from ingestion.models import DeadLetter, IngestionRun
from ingestion.tests.support import run_now
from posts.models import Post

FIRST_PAGE = "/posts?_page=1&_limit=10"


@pytest.fixture
def fetcher(settings):
    with client.Fetcher() as fetcher:
        yield fetcher


def test_429_is_retried_after_the_servers_retry_after(upstream, fetcher):
    upstream.faults.rate_limit, upstream.faults.retry_after = 1, 1
    started = time.monotonic()
    assert len(fetcher.get_json(upstream.url + FIRST_PAGE)) == 10
    assert time.monotonic() - started >= 1.0  # waited as told, not the 10 ms backoff
    assert upstream.requests[FIRST_PAGE] == 2


def test_5xx_is_retried_with_backoff_then_given_up(upstream, fetcher, settings):
    upstream.faults.server_errors = 2
    assert len(fetcher.get_json(upstream.url + FIRST_PAGE)) == 10
    assert upstream.requests[FIRST_PAGE] == 3

    upstream.faults.server_errors = 100
    with pytest.raises(client.FetchError, match=r"HTTP 500 .* \(after 3 attempts\)"):
        fetcher.get_json(upstream.url + "/posts/1")
    assert upstream.requests["/posts/1"] == settings.INGEST_HTTP_RETRIES + 1


def test_a_response_slower_than_the_timeout_is_retried(upstream, fetcher, settings):
    settings.INGEST_HTTP_TIMEOUT_S = 0.3
    with client.Fetcher() as quick:
        upstream.faults.slow, upstream.faults.slow_seconds = 1, 1.0
        assert len(quick.get_json(upstream.url + FIRST_PAGE)) == 10
    assert upstream.requests[FIRST_PAGE] == 2


def test_other_4xx_are_not_retried(upstream, fetcher):
    with pytest.raises(client.FetchError, match="HTTP 404"):
        fetcher.get_json(upstream.url + "/posts/999")
    assert upstream.requests["/posts/999"] == 1


def test_a_truncated_body_is_retried_then_dead_lettered(make_source, upstream):
    upstream.faults.truncated = {FIRST_PAGE}
    source = make_source()
    run = run_now(source)
    assert run.status == IngestionRun.Status.SUCCEEDED
    assert upstream.requests[FIRST_PAGE] == 3
    letter = DeadLetter.objects.get(source=source, external_id="page:posts:0")
    assert "RemoteProtocolError" in letter.error
    assert letter.payload["url"].endswith(FIRST_PAGE)
    assert Post.objects.filter(author_id=source.bot_id).count() == 10  # page 2 went on


def test_malformed_json_goes_to_a_dead_letter_and_the_run_goes_on(make_source, upstream):
    upstream.faults.malformed = {FIRST_PAGE}
    source = make_source()
    run = run_now(source)
    assert run.status == IngestionRun.Status.SUCCEEDED
    assert upstream.requests[FIRST_PAGE] == 1  # not retried
    letter = DeadLetter.objects.get(source=source, external_id="page:posts:0")
    assert letter.error.startswith("Invalid JSON from")
    assert letter.payload["body"].endswith("<html>oops")
    # the comments of posts 1-10 have no post yet: dead letters of their own
    assert run.failed == 1 + 30


def test_many_failed_pages_in_a_row_fail_the_run(make_source, upstream, settings):
    upstream.faults.server_errors = 1000
    run = run_now(make_source())
    assert run.status == IngestionRun.Status.FAILED
    assert f"{settings.INGEST_MAX_PAGE_FAILURES} pages in a row failed" in run.error


def test_private_addresses_are_refused_unless_allowed(make_source, upstream, settings):
    settings.INGEST_ALLOW_PRIVATE = False
    with pytest.raises(client.UnsafeURL, match="non-public address"):
        client.check_url(upstream.url + FIRST_PAGE)
    run = run_now(make_source())
    assert run.status == IngestionRun.Status.FAILED
    assert sum(upstream.requests.values()) == 0  # nothing was sent


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x", "http://"]
)
def test_only_http_urls_are_fetched(url, settings):
    settings.INGEST_ALLOW_PRIVATE = False
    with pytest.raises(client.UnsafeURL):
        client.check_url(url)


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "[::1]", "192.168.1.1"])
def test_internal_ranges_are_refused(address, settings):
    settings.INGEST_ALLOW_PRIVATE = False
    with pytest.raises(client.UnsafeURL):
        client.check_url(f"http://{address}/posts")


def test_response_bodies_are_capped(upstream, fetcher, settings):
    settings.INGEST_MAX_RESPONSE_BYTES = 200
    with pytest.raises(client.FetchError, match="over 200 bytes"):
        fetcher.get_json(upstream.url + FIRST_PAGE)
    assert upstream.requests[FIRST_PAGE] == 1


def test_the_connection_itself_goes_only_to_a_checked_address(upstream, settings):
    """Even past check_url (a name that resolved elsewhere a moment before), the socket is
    opened by a backend that checks the address it connects to."""
    settings.INGEST_ALLOW_PRIVATE = False
    port = int(upstream.url.rsplit(":", 1)[1])
    with pytest.raises(client.UnsafeURL, match="non-public address"):
        client._PublicOnlyBackend().connect_tcp("localhost", port)
    assert sum(upstream.requests.values()) == 0
