"""The cross-cutting contract: error format, request ids, docs, health."""

import pytest
from django.urls import path
from rest_framework.views import APIView

from puppies import urls as root_urls


class Boom(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError("kaboom: secret internals")


class DatabaseDown(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        from django.db import OperationalError

        raise OperationalError("connection to server at 127.0.0.1 failed")


urlpatterns = [
    path("boom", Boom.as_view()),
    path("db-down", DatabaseDown.as_view()),
    *root_urls.urlpatterns,
]
handler500 = root_urls.handler500
handler404 = root_urls.handler404


@pytest.fixture
def boom_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.mark.django_db
def test_unknown_url_is_json_404(api):
    response = api.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_crash_is_json_500_without_a_stack_trace(boom_urls):
    from rest_framework.test import APIClient

    client = APIClient(raise_request_exception=False)
    response = client.get("/boom")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "kaboom" not in response.content.decode()
    assert "Traceback" not in response.content.decode()


@pytest.mark.django_db
def test_database_outage_is_a_retryable_503_not_a_500(boom_urls, api):
    response = api.get("/db-down")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_wrong_method_is_json_405(api):
    response = api.delete("/v1/auth/register")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_malformed_json_is_400(api):
    response = api.post(
        "/v1/auth/register", data='{"username": "rex",', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
def test_request_id_is_echoed_when_valid_and_generated_otherwise(api):
    echoed = api.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    generated = api.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    missing = api.get("/healthz")

    assert echoed["X-Request-ID"] == "abc-123"
    assert generated["X-Request-ID"] not in ("", "bad id\nwith newline")
    assert len(missing["X-Request-ID"]) == 32
    assert missing["X-Request-ID"] != generated["X-Request-ID"]


@pytest.mark.django_db
def test_request_id_appears_in_json_logs(api, capsys):
    import logging

    from pythonjsonlogger.json import JsonFormatter

    from puppies.request_id import RequestIdLogFilter

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(JsonFormatter("%(message)s %(request_id)s"))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        api.get("/v1/users/999999", HTTP_X_REQUEST_ID="trace-me-42")
    finally:
        logger.removeHandler(handler)

    assert any('"request_id": "trace-me-42"' in line for line in records)


@pytest.mark.django_db
def test_schema_docs_and_redoc_are_served_without_a_cdn(api):
    schema = api.get("/v1/schema")
    docs = api.get("/v1/docs")
    redoc = api.get("/v1/redoc")

    assert schema.status_code == docs.status_code == redoc.status_code == 200
    assert b"/v1/auth/register" in schema.content
    for page in (docs, redoc):
        html = page.content.decode()
        assert "cdn" not in html.lower() and "unpkg" not in html.lower()
        assert "/static/drf_spectacular_sidecar/" in html


@pytest.mark.django_db
def test_sidecar_assets_are_served(api):
    html = api.get("/v1/docs").content.decode()
    import re

    asset = re.search(r'src="(/static/drf_spectacular_sidecar/[^"]+\.js)"', html).group(1)
    response = api.get(asset)
    assert response.status_code == 200


@pytest.mark.django_db
def test_healthz_and_readyz_ok_when_everything_is_up(api, monitor):
    assert api.get("/healthz").status_code == 200
    ready = monitor.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_readyz_names_what_is_down(monitor, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    ready = monitor.get("/readyz")

    assert ready.status_code == 503
    body = ready.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down")
    assert "redis" in body["error"]["message"]


@pytest.mark.django_db
def test_metrics_are_exposed(api, monitor):
    api.get("/healthz")
    response = monitor.get("/metrics")
    assert response.status_code == 200
    assert (
        b'puppies_http_request_duration_seconds_count{method="GET",status="200",view="healthz"}'
        in (response.content)
    )


@pytest.mark.django_db
def test_scrape_gauges_are_read_on_every_scrape(monitor):
    from puppies.metrics import _scrape_gauges, scrape_gauge

    depth = iter([3, 7])
    scrape_gauge("puppies_test_depth", "A test gauge.")(lambda: next(depth))
    try:
        first = monitor.get("/metrics").content.decode()
        second = monitor.get("/metrics").content.decode()
    finally:
        del _scrape_gauges["puppies_test_depth"]

    assert "puppies_test_depth 3.0" in first
    assert "puppies_test_depth 7.0" in second


@pytest.mark.django_db
def test_openapi_schema_is_valid_and_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert "/v1/auth/token" in (tmp_path / "schema.yml").read_text()


@pytest.mark.django_db
def test_schema_documents_the_error_format(api):
    schema = api.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "Error" in schema["components"]["schemas"]
    get_post = schema["paths"]["/v1/posts/{post_id}"]["get"]["responses"]
    assert get_post["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
