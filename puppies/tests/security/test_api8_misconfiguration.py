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
    return run_here(["manage.py", "check", *flags], env)


def run_here(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    """This Python running `argv` in the project root with exactly `env`."""
    return subprocess.run(  # noqa: S603 - our own scripts, fixed arguments
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
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


# --- /metrics and /readyz are for the monitoring system (finding 3) -------------------

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer wrong-token"}, {"REMOTE_ADDR": "192.0.2.10"}],
    ids=["anonymous", "wrong-token", "outside-network"],
)
def test_metrics_refuse_anyone_but_the_monitoring_system(client, settings, headers):
    settings.METRICS_TOKEN = "s" * 40
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    response = client.get("/metrics", **headers)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert b"puppies_" not in response.content


@pytest.mark.django_db
def test_metrics_answer_the_configured_token_or_network(client, settings):
    settings.METRICS_TOKEN = "s" * 40
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]

    for headers in (
        {"HTTP_AUTHORIZATION": f"Bearer {'s' * 40}"},
        {"REMOTE_ADDR": "10.20.30.40"},
        {"REMOTE_ADDR": "fd00::1"},
    ):
        response = client.get("/metrics", **headers)
        assert response.status_code == 200, headers
        assert b"puppies_http_request_duration_seconds" in response.content


@pytest.mark.django_db
def test_metrics_are_closed_when_nothing_is_configured(client):
    assert client.get("/metrics").status_code == 403  # 127.0.0.1 included


@pytest.mark.django_db
def test_readyz_names_what_is_down_only_to_the_monitoring_system(client, monitor, settings):
    settings.REDIS_URL = DEAD_REDIS

    public = client.get("/readyz")
    assert public.status_code == 503
    assert "checks" not in public.json()
    assert public.json()["error"] == {"code": "service_unavailable", "message": "Not ready."}

    detailed = monitor.get("/readyz")
    assert detailed.status_code == 503
    assert detailed.json()["checks"]["redis"].startswith("down")
    assert "redis" in detailed.json()["error"]["message"]


@pytest.mark.django_db
def test_healthz_stays_open(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_probes_count_against_the_global_limit_except_for_the_monitor(client, monitor, settings):
    settings.RATELIMIT_GLOBAL = "2/m"
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 403

    for path in ("/readyz", "/metrics"):
        limited = client.get(path)
        assert limited.status_code == 429
        assert int(limited["Retry-After"]) >= 1
    # the monitor and liveness probes are never limited
    for _ in range(3):
        assert monitor.get("/metrics").status_code == 200
        assert monitor.get("/readyz").status_code == 200
        assert client.get("/healthz").status_code == 200


# --- deployment files (finding 10) ---------------------------------------------------


def test_the_docker_build_context_leaves_out_secrets_media_and_local_state():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", "media", ".local", ".venv", ".git"} <= ignored


def test_compose_neither_answers_every_host_nor_sends_cookies_in_clear():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["x-app"]["environment"]
    assert "*" not in str(environment.get("ALLOWED_HOSTS", "")).split(",")
    assert str(environment.get("SECURE_COOKIES", "true")).lower() != "false"


@pytest.mark.parametrize("path", ["Procfile", "Dockerfile"])
def test_gunicorn_runs_threaded_workers_with_a_timeout(path):
    # A sync worker is held by one slow client for the whole request (README, "Slow clients").
    text = (ROOT / path).read_text()
    assert "--worker-class gthread" in text
    assert "--timeout" in text


def test_hsts_is_sent_over_https_without_debug(api, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = api.get("/healthz", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


# --- CI runs the browser test where it can, rather than skipping it ---------------------


@pytest.mark.parametrize(("required", "fails"), [("1", True), ("", False)])
def test_a_required_browser_test_fails_without_chromium_instead_of_skipping(required, fails):
    env = {**os.environ, "REQUIRE_BROWSER_TEST": required, "CHROMIUM": "/nonexistent/chromium"}
    argv = ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    result = run_here([*argv, "puppies/tests/security/test_admin_browser.py"], env)

    assert (result.returncode != 0) is fails, result.stdout + result.stderr
    assert ("REQUIRE_BROWSER_TEST=1 but headless Chromium" in result.stdout) is fails


def test_ci_fails_when_it_cannot_install_chromium_as_root():
    script = (ROOT / ".ci" / "run").read_text()
    install = script[script.index("apt-get install -y -qq chromium") :]
    assert install.index("exit 1") < install.index("make lint")
    assert "export REQUIRE_BROWSER_TEST=1" in script
