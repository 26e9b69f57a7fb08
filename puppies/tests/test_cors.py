"""CORS for browser clients on other origins: only those CORS_ALLOWED_ORIGINS names."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from puppies.tests.support import ROOT

APP = "https://app.puppies.example"


@pytest.fixture
def cors(settings):
    """The settings CORS_ALLOWED_ORIGINS=<APP> makes (the middleware is chosen at startup)."""
    settings.CORS_ALLOWED_ORIGINS = [APP]
    middleware = list(settings.MIDDLEWARE)
    middleware.insert(
        middleware.index("puppies.ratelimit.GlobalRateLimitMiddleware"), settings.CORS_MIDDLEWARE
    )
    settings.MIDDLEWARE = middleware
    return APIClient()


def preflight(client, origin: str):
    return client.options(
        "/v1/posts",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=(
            "authorization, content-type, idempotency-key, x-request-id"
        ),
    )


def test_a_preflight_from_an_allowed_origin_may_send_the_headers_clients_need(cors):
    response = preflight(cors, APP)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed


@pytest.mark.django_db
def test_responses_to_an_allowed_origin_expose_the_request_id(cors, client_for, user):
    response = client_for(user).get("/v1/feed", HTTP_ORIGIN=APP)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "X-Request-ID" in response["Access-Control-Expose-Headers"]


def test_other_origins_get_no_cors_headers(cors):
    response = preflight(cors, "https://evil.example")

    assert "Access-Control-Allow-Origin" not in response


def middleware_with(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CORS_")}
    base.update(DJANGO_SETTINGS_MODULE="puppies.settings", DEBUG="true")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings;"
         " print('corsheaders.middleware.CorsMiddleware' in settings.MIDDLEWARE)"],
        cwd=ROOT, env={**base, **env},
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


def test_the_middleware_runs_only_when_origins_are_configured():
    assert "corsheaders.middleware.CorsMiddleware" not in settings.MIDDLEWARE
    assert middleware_with() == "False"
    assert middleware_with(CORS_ALLOWED_ORIGINS=APP) == "True"
