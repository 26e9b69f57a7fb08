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
    "DEBUG": "false",
    "ALLOWED_HOSTS": "api.puppies.example",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def check_deploy(**overrides) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` with only `overrides` on top of the non-security env."""
    unset = ("SECURE_COOKIES", "DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
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


def test_check_deploy_refuses_the_dev_secret_key():
    env = {**PRODUCTION_ENV}
    env.pop("SECRET_KEY")
    result = check_deploy(**env)
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


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
