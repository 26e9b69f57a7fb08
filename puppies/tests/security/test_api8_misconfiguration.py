"""API8 Security Misconfiguration: deploy checks, headers, no HTML or stack traces."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
    "DEBUG": "false",
    "ALLOWED_HOSTS": "api.puppies.example",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def check_deploy(*, deploy: bool = True, **overrides) -> subprocess.CompletedProcess:
    """`manage.py check [--deploy]` with only `overrides` on top of the non-security env."""
    unset = ("SECURE_COOKIES", "DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT")
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith("JWT_")}
    env.update(overrides)
    flags = ["--deploy", "--fail-level", "WARNING"] if deploy else []
    return subprocess.run(  # noqa: S603 - our manage.py, fixed arguments
        [sys.executable, "manage.py", "check", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = check_deploy(**PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


LONG = secrets.token_urlsafe(50)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        (
            {"SECRET_KEY": "change-me-in-production-please-0123456789abcdef"},
            "SECRET_KEY is a key published in the repository",
        ),
        (
            {"SECRET_KEY": "django-insecure-dev-only-key-change-me-in-production-0123456789"},
            "SECRET_KEY is a key published in the repository",
        ),
        ({"SECRET_KEY": "short-but-random-Zq8"}, "SECRET_KEY is shorter than 50"),
        ({"JWT_SIGNING_KEY": None}, "JWT_SIGNING_KEY is not set"),
        ({"SECRET_KEY": LONG, "JWT_SIGNING_KEY": LONG}, "JWT_SIGNING_KEY equals SECRET_KEY"),
        ({"JWT_VERIFYING_KEYS": "old-and-short"}, "JWT_VERIFYING_KEYS entry is shorter"),
    ],
    ids=["unset", "compose-key", "old-default", "short", "no-jwt-key", "same-keys", "short-old"],
)
def test_without_debug_the_app_refuses_to_start_with_a_public_or_short_key(overrides, reason):
    # a plain `check`: settings are refused on import, as gunicorn and Celery import them
    env = {**PRODUCTION_ENV, **overrides}
    result = check_deploy(deploy=False, **{k: v for k, v in env.items() if v is not None})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert reason in result.stderr


def test_with_debug_the_dev_keys_are_fine():
    result = check_deploy(deploy=False, DEBUG="true")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
def test_responses_carry_security_headers(api):
    response = api.get("/v1/users/999999")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_unknown_urls_and_bad_methods_answer_json_not_html(client):
    for response in (client.get("/v1/nope"), client.get("/nothing-here"), client.put("/v1/posts")):
        assert response["Content-Type"].startswith("application/json")
        assert "error" in response.json()
