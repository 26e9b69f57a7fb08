"""API4 Unrestricted Resource Consumption: page sizes, body sizes, rate limits (429)."""

import json

import pytest

from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def assert_rate_limited(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"


# --- sizes --------------------------------------------------------------------


def test_page_size_over_the_cap_is_400(api, member):
    response = api.get(f"/v1/users/{member.pk}/posts?limit=101")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_oversized_json_body_is_413_in_the_error_format(client_for, member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"content": "a" * 20_000})

    response = client_for(member).post("/v1/posts", body, content_type="application/json")

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_body_lying_about_its_length_is_still_cut_off(client_for, member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"content": "a" * 20_000}).encode()

    response = client_for(member).generic(
        "POST", "/v1/posts", body, content_type="application/json", CONTENT_LENGTH="100"
    )

    # Django trims the stream to the declared length, so the JSON is cut: a 400, never a 500
    assert response.status_code in (400, 413)


def test_oversized_content_is_400_naming_the_field(client_for, member):
    response = client_for(member).post("/v1/posts", {"content": "a" * 2001}, format="json")
    assert response.status_code == 400
    assert "content" in response.json()["error"]["fields"]


# --- rate limits --------------------------------------------------------------


def test_post_creation_is_limited_per_user(client_for, member, settings):
    settings.RATELIMIT_POST_CREATE = "3/m"
    writer = client_for(member)
    for n in range(3):
        assert writer.post("/v1/posts", {"content": f"post {n}"}, format="json").status_code == 201

    assert_rate_limited(writer.post("/v1/posts", {"content": "one more"}, format="json"))
    # another user is not affected
    assert (
        client_for(UserFactory()).post("/v1/posts", {"content": "hi"}, format="json").status_code
        == 201
    )


def test_failed_logins_are_limited_per_username_and_only_failures_count(api, settings):
    settings.RATELIMIT_LOGIN_FAILED = "3/m"
    victim = UserFactory()
    for _ in range(3):
        # successful logins do not use up the allowance
        ok = api.post(
            "/v1/auth/token", {"username": victim.username, "password": PASSWORD}, format="json"
        )
        assert ok.status_code == 200
    for _ in range(3):
        bad = api.post(
            "/v1/auth/token", {"username": victim.username, "password": "guess"}, format="json"
        )
        assert bad.status_code == 401

    # from now on even the right password waits: the guesser cannot tell which one was right
    blocked = api.post(
        "/v1/auth/token", {"username": victim.username.upper(), "password": PASSWORD}, format="json"
    )
    assert_rate_limited(blocked)
    other = UserFactory()
    assert (
        api.post(
            "/v1/auth/token", {"username": other.username, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )


def test_login_attempts_are_limited_per_ip(api, settings):
    settings.RATELIMIT_LOGIN = "4/m"
    for n in range(4):
        api.post("/v1/auth/token", {"username": f"nobody{n}", "password": "x"})

    assert_rate_limited(
        api.post("/v1/auth/token", {"username": "nobody9", "password": "x"}, format="json")
    )


def test_registration_is_limited_per_ip(api, settings):
    settings.RATELIMIT_REGISTER = "2/h"

    def register(n):
        return api.post(
            "/v1/auth/register",
            {"username": f"newpup{n}", "email": f"n{n}@example.com", "password": "long-password-1"},
            format="json",
        )

    assert register(1).status_code == 201
    assert register(2).status_code == 201
    response = register(3)
    assert_rate_limited(response)
    assert int(response["Retry-After"]) <= 3600


def test_global_limit_per_ip_answers_429_json_and_spares_probes(client, settings):
    settings.RATELIMIT_GLOBAL = "3/m"
    for _ in range(3):
        assert client.get("/v1/users/999999").status_code == 404

    assert_rate_limited(client.get("/v1/users/999999"))
    assert client.get("/healthz").status_code == 200
    # another address has its own allowance
    assert client.get("/v1/users/999999", REMOTE_ADDR="10.0.0.2").status_code == 404


def test_forwarded_for_is_ignored_unless_a_trusted_header_is_configured(client, settings):
    settings.RATELIMIT_GLOBAL = "2/m"
    for n in range(2):
        client.get("/v1/users/999999", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    # spoofing a new X-Forwarded-For per request does not buy a fresh allowance
    assert_rate_limited(client.get("/v1/users/999999", HTTP_X_FORWARDED_FOR="203.0.113.77"))


def test_behind_a_trusted_proxy_the_proxys_entry_is_the_client(client, settings):
    settings.RATELIMIT_GLOBAL = "2/m"
    settings.RATELIMIT_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    settings.RATELIMIT_TRUSTED_PROXY_DEPTH = 1

    def get(chain):
        return client.get("/v1/users/999999", HTTP_X_FORWARDED_FOR=chain)

    # what the client prepends is not believed: the last entry is what our proxy saw
    assert get("1.1.1.1, 198.51.100.7").status_code == 404
    assert get("2.2.2.2, 198.51.100.7").status_code == 404
    assert_rate_limited(get("3.3.3.3, 198.51.100.7"))
    assert get("198.51.100.8").status_code == 404


def test_global_and_post_limits_fail_open_when_redis_is_down(
    client_for, member, settings, redis_down
):
    settings.RATELIMIT_POST_CREATE = "1/m"
    settings.RATELIMIT_GLOBAL = "1/m"
    writer = client_for(member)
    for n in range(3):
        response = writer.post("/v1/posts", {"content": f"p{n}"}, format="json")
        assert response.status_code == 201


# --- login and registration limits hold while Redis is down (finding 11) ---------------


def test_login_limits_count_in_process_when_redis_is_down(api, settings, redis_down):
    settings.RATELIMIT_LOGIN_FAILED = "2/m"
    settings.RATELIMIT_LOGIN = "5/m"
    victim = UserFactory()

    def attempt(tried="guess", username=victim.username):
        return api.post("/v1/auth/token", {"username": username, "password": tried}, format="json")

    assert attempt().status_code == 401
    assert attempt().status_code == 401
    assert_rate_limited(attempt(tried=PASSWORD))  # locked, not failing open
    assert attempt(username="someone_else").status_code == 401
    assert attempt(username="someone_else").status_code == 401
    assert_rate_limited(attempt(username="third_one"))  # the per-IP limit holds too


def test_registration_limit_counts_in_process_when_redis_is_down(api, settings, redis_down):
    settings.RATELIMIT_REGISTER = "1/h"

    def register(n):
        return api.post(
            "/v1/auth/register",
            {"username": f"down{n}", "email": f"d{n}@example.com", "password": "long-password-1"},
            format="json",
        )

    assert register(1).status_code == 201
    assert_rate_limited(register(2))


# --- one per-account failure limit, API and admin alike (finding 2) ---------------------


def test_failures_count_against_the_account_however_it_is_named(api, settings):
    settings.RATELIMIT_LOGIN_FAILED = "3/m"
    victim = UserFactory(email="Victim.Pup@example.com")
    for name in (victim.username.upper(), victim.username.lower(), "victim.pup@EXAMPLE.com"):
        bad = api.post("/v1/auth/token", {"username": name, "password": "guess"}, format="json")
        assert bad.status_code == 401

    blocked = api.post(
        "/v1/auth/token", {"username": victim.email, "password": PASSWORD}, format="json"
    )
    assert_rate_limited(blocked)
    assert "locked" in blocked.json()["error"]["message"]


def test_a_locked_account_stays_locked_for_the_lockout(api, settings):
    settings.RATELIMIT_LOGIN_FAILED = "2/m"
    settings.RATELIMIT_LOGIN_LOCKOUT_S = 900
    victim = UserFactory()
    for _ in range(2):
        api.post("/v1/auth/token", {"username": victim.username, "password": "x"}, format="json")

    blocked = api.post(
        "/v1/auth/token", {"username": victim.username, "password": PASSWORD}, format="json"
    )

    assert_rate_limited(blocked)
    assert 800 < int(blocked["Retry-After"]) <= 900  # the lockout, not the minute's window


def test_admin_and_api_failures_share_the_account_limit(api, client, settings):
    settings.RATELIMIT_LOGIN_FAILED = "4/m"
    staff = UserFactory(is_staff=True)
    for _ in range(2):
        form = client.post("/admin/login/", {"username": staff.username, "password": "guess"})
        assert form.status_code == 200  # the form again, with an error
    for _ in range(2):
        bad = api.post(
            "/v1/auth/token", {"username": staff.email, "password": "guess"}, format="json"
        )
        assert bad.status_code == 401

    # locked in both places, even with the right password, named either way
    assert_rate_limited(
        client.post("/admin/login/", {"username": staff.email.upper(), "password": PASSWORD})
    )
    assert_rate_limited(
        api.post(
            "/v1/auth/token", {"username": staff.username, "password": PASSWORD}, format="json"
        )
    )


def test_admin_login_form_shares_the_login_limit_per_ip(client, settings):
    settings.RATELIMIT_LOGIN = "2/m"
    for _ in range(2):
        response = client.post("/admin/login/", {"username": "root", "password": "guess"})
        assert response.status_code == 200  # the form again, with an error

    assert_rate_limited(client.post("/admin/login/", {"username": "root", "password": "guess"}))


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "{"])
def test_odd_json_bodies_on_login_are_400_not_500(api, body):
    response = api.post("/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("username", ["pup\x00py", "pup\ud969py"])
def test_a_login_naming_no_possible_account_is_400_not_500(api, username):
    """The per-account limit looks the name up before the password is tried: a NUL or a
    lone surrogate (which neither PostgreSQL nor Redis takes) must not break it."""
    body = json.dumps({"username": username, "password": "whatever"}).encode()
    response = api.post("/v1/auth/token", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"]
