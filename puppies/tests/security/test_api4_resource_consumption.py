"""API4 Unrestricted Resource Consumption: page sizes, body sizes, rate limits (429)."""

import json
from pathlib import Path

import pytest
from django.utils import timezone

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


class EndlessBody:
    """A client's request body that never ends: it counts what the server reads of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        assert size is not None and size >= 0, "the whole of an endless body was asked for"
        self.read_bytes += size
        return b"a" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


@pytest.mark.parametrize("declared", ["100000000", "5000"], ids=["over-limit", "under-limit"])
def test_a_body_longer_than_the_limit_is_read_no_further_than_it(
    client_for, member, settings, declared
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = EndlessBody()

    response = client_for(member).generic(
        "POST",
        "/v1/posts",
        b"",
        content_type="application/json",
        CONTENT_LENGTH=declared,
        **{"wsgi.input": body},
    )

    # a huge declared length is refused unread; a small one is read only that far (its
    # bytes are no JSON: 400); neither ever reads past the limit
    assert response.status_code == (413 if int(declared) > 10_000 else 400)
    assert body.read_bytes <= min(int(declared), 10_000 + 1)


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
    # a verified address: only those name accounts at login (finding 7)
    victim = UserFactory(email="Victim.Pup@example.com", email_verified_at=timezone.now())
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
    staff = UserFactory(is_staff=True, email_verified_at=timezone.now())
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


# --- one named limit per costly write or read (finding 4) -----------------------------


def _refresh_of(user) -> str:
    from users.auth import RefreshToken

    return str(RefreshToken.for_user(user))


# name, its setting, and a request `(client, member, post) -> response` counted by it
NAMED_LIMITS = [
    ("like", lambda c, m, p: c.post(f"/v1/posts/{p.pk}/likes")),
    ("unlike", lambda c, m, p: c.delete(f"/v1/posts/{p.pk}/likes")),
    ("comment", lambda c, m, p: c.post(f"/v1/posts/{p.pk}/comments", {"content": "hi"})),
    ("post_edit", lambda c, m, p: c.patch(f"/v1/posts/{p.pk}", {"content": "edited"})),
    ("follow", lambda c, m, p: c.post(f"/v1/users/{p.author_id}/follow")),
    ("unfollow", lambda c, m, p: c.delete(f"/v1/users/{p.author_id}/follow")),
    ("report", lambda c, m, p: c.post(f"/v1/posts/{p.pk}/reports", {"reason": "spam"})),
    (
        "password_change",
        lambda c, m, p: c.post("/v1/auth/password", {"old_password": "wrong", "new_password": "x"}),
    ),
    ("token_refresh", lambda c, m, p: c.post("/v1/auth/token/refresh", {"refresh": "junk"})),
    ("logout", lambda c, m, p: c.post("/v1/auth/logout", {"refresh": _refresh_of(m)})),
    ("search", lambda c, m, p: c.get("/v1/search/posts", {"q": "puppies"})),
    ("search_users", lambda c, m, p: c.get("/v1/search/users", {"q": "puppies"})),
]
SETTING = {"unlike": "LIKE", "unfollow": "FOLLOW", "search_users": "SEARCH"}


@pytest.mark.parametrize(("name", "send"), NAMED_LIMITS, ids=[n for n, _ in NAMED_LIMITS])
def test_each_costly_request_has_a_named_limit(client_for, member, settings, name, send):
    from posts.tests.factories import PostFactory

    setattr(settings, f"RATELIMIT_{SETTING.get(name, name.upper())}", "2/m")
    post = PostFactory(author=UserFactory() if name != "post_edit" else member)
    client = client_for(member)
    client.default_format = "json"
    for _ in range(2):
        assert send(client, member, post).status_code != 429

    assert_rate_limited(send(client, member, post))


def test_the_limits_are_per_user_not_global(client_for, member, settings):
    from posts.tests.factories import PostFactory

    settings.RATELIMIT_COMMENT = "1/m"
    post = PostFactory()
    url = f"/v1/posts/{post.pk}/comments"
    mine, other = client_for(member), client_for(UserFactory())

    assert mine.post(url, {"content": "a"}, format="json").status_code == 201
    assert_rate_limited(mine.post(url, {"content": "b"}, format="json"))
    assert other.post(url, {"content": "c"}, format="json").status_code == 201


def test_every_named_limit_is_a_setting_with_a_readme_default():
    from django.conf import settings

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for name in {SETTING.get(n, n.upper()) for n, _ in NAMED_LIMITS}:
        rate = getattr(settings, f"RATELIMIT_{name}")
        assert f"| `RATELIMIT_{name}` | `{rate}` |" in readme


# --- the hot paths pay no round trip for their limit ---------------------------------


@pytest.fixture
def round_trips(monkeypatch):
    """round_trips(fn) -> Redis round trips fn made (commands sent at once count as one),
    besides those of the site-wide per-IP limit (its own cache, in the middleware)."""
    from django_redis import get_redis_connection
    from redis.connection import AbstractConnection

    sent = []
    original = AbstractConnection.send_packed_command
    global_limit = get_redis_connection("ratelimit").connection_pool

    def spy(self, command, check_health=True):
        if self not in global_limit._in_use_connections:
            sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", spy)

    def run(fn):
        sent.clear()
        result = fn()
        return len(sent), result

    return run


def _warm_like_path(client, post):
    from interactions.services.likes import drain_like_buffer

    client.post(f"/v1/posts/{post.pk}/likes")  # caches the rendering path's keys
    client.delete(f"/v1/posts/{post.pk}/likes")
    client.get(f"/v1/posts/{post.pk}")  # caches the post's rendering
    drain_like_buffer()  # builds the liker's liked set


@pytest.mark.parametrize("enabled", [True, False])
def test_a_like_costs_one_redis_round_trip_with_or_without_its_limit(
    client_for, member, settings, round_trips, enabled
):
    from django_redis import get_redis_connection

    from posts.tests.factories import PostFactory

    settings.RATELIMIT_ENABLE = enabled
    post = PostFactory()
    client = client_for(member)
    _warm_like_path(client, post)

    trips, response = round_trips(lambda: client.post(f"/v1/posts/{post.pk}/likes"))

    assert response.status_code == 201
    assert trips == 1
    counters = list(get_redis_connection("default").scan_iter("rl:like:*"))
    assert bool(counters) is enabled  # limits off: no counter, no command


@pytest.mark.parametrize("enabled", [True, False])
def test_a_comment_pays_no_round_trip_for_its_limit(
    client_for, member, settings, round_trips, enabled
):
    from posts.tests.factories import PostFactory

    post = PostFactory()
    client = client_for(member)
    client.get("/v1/users/me")  # the activity stamp of this interval is done
    settings.RATELIMIT_ENABLE = False
    baseline, _ = round_trips(
        lambda: client.post(f"/v1/posts/{post.pk}/comments", {"content": "a"}, format="json")
    )
    settings.RATELIMIT_ENABLE = enabled

    trips, response = round_trips(
        lambda: client.post(f"/v1/posts/{post.pk}/comments", {"content": "b"}, format="json")
    )

    assert response.status_code == 201
    assert trips == baseline


def test_a_revoked_token_is_refused_before_its_comment_counts(client_for, member, settings):
    from django_redis import get_redis_connection

    from posts.tests.factories import PostFactory
    from users import revocations

    settings.RATELIMIT_COMMENT = "1/m"
    post = PostFactory()
    client = client_for(member)
    client.get("/v1/users/me")
    revocations.revoke_tokens(member)
    revocations.publish(member)

    response = client.post(f"/v1/posts/{post.pk}/comments", {"content": "a"}, format="json")

    assert response.status_code == 401
    assert not list(get_redis_connection("default").scan_iter("rl:comment:*"))


def test_editing_a_mention_in_and_out_notifies_the_user_once(client_for, member):
    victim = UserFactory()
    author = client_for(member)
    post = author.post("/v1/posts", {"content": f"hi @{victim.username}"}, format="json").json()
    for n in range(3):
        plain = {"content": f"plain {n}"}
        assert author.patch(f"/v1/posts/{post['id']}", plain, format="json").status_code == 200
        again = {"content": f"hi again @{victim.username}"}
        assert author.patch(f"/v1/posts/{post['id']}", again, format="json").status_code == 200

    inbox = client_for(victim).get("/v1/notifications").json()["results"]
    assert [(n["type"], n["post_id"]) for n in inbox] == [("mention", post["id"])]


def test_a_like_over_its_limit_records_nothing_on_the_cached_path(client_for, member, settings):
    from posts.tests.factories import PostFactory

    settings.RATELIMIT_LIKE = "3/m"
    post = PostFactory()
    client = client_for(member)
    _warm_like_path(client, post)  # a like and an unlike: 2 of the 3
    assert client.post(f"/v1/posts/{post.pk}/likes").status_code == 201

    assert_rate_limited(client.delete(f"/v1/posts/{post.pk}/likes"))
    assert client.get(f"/v1/posts/{post.pk}").json()["liked_by_me"] is True
