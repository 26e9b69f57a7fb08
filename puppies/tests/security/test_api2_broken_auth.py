"""API2 Broken Authentication: forged, expired, blacklisted tokens and suspended users."""

import base64
import json
import secrets
import time
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from users import moderation
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
ME = "/v1/users/me"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def login(api, username: str, password: str = PASSWORD):
    return api.post("/v1/auth/token", {"username": username, "password": password}, format="json")


@pytest.mark.parametrize(
    "make_token",
    [
        # signature from another key
        lambda user: str(AccessToken.for_user(user))[:-6] + "AAAAAA",
        # "alg": "none" with the signature stripped
        lambda user: (
            _b64({"alg": "none", "typ": "JWT"})
            + "."
            + str(AccessToken.for_user(user)).split(".")[1]
            + "."
        ),
        # another, existing user's id in a payload the attacker re-encoded
        lambda user: ".".join(
            [
                str(AccessToken.for_user(user)).split(".")[0],
                _b64({**AccessToken.for_user(user).payload, "user_id": str(UserFactory().pk)}),
                str(AccessToken.for_user(user)).split(".")[2],
            ]
        ),
        lambda user: "not-a-jwt",
    ],
    ids=["bad-signature", "alg-none", "tampered-payload", "garbage"],
)
def test_forged_tokens_are_401_in_the_error_format(api, member, make_token):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(member)}")

    response = api.get(ME)

    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"code", "message"}


def test_expired_token_is_401(api, member):
    token = AccessToken.for_user(member)
    token.set_exp(lifetime=-timedelta(seconds=1))
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get(ME).status_code == 401


def test_blacklisted_refresh_token_cannot_be_refreshed(api, member):
    refresh = login(api, member.username).json()["refresh"]
    assert api.post("/v1/auth/logout", {"refresh": refresh}, format="json").status_code == 204

    response = api.post("/v1/auth/token/refresh", {"refresh": refresh}, format="json")

    assert response.status_code == 401


def test_suspended_user_is_locked_out_everywhere_at_once(api, client_for, member, moderator):
    tokens = login(api, member.username).json()
    writer = client_for(member)
    assert writer.get(ME).status_code == 200

    moderation.suspend_user(member, actor=moderator, reason="spam wave")

    # the access token in hand stops working on its very next request
    assert writer.get(ME).status_code == 401
    assert writer.post("/v1/posts", {"content": "still here?"}, format="json").status_code == 401
    # the refresh token is blacklisted, and logging in again fails
    refreshed = api.post("/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert login(api, member.username).status_code == 401
    # and their public profile is gone while suspended
    assert api.get(f"/v1/users/{member.pk}").status_code == 404


def test_unsuspended_user_can_log_in_again(api, member, moderator):
    moderation.suspend_user(member, actor=moderator, reason="mistake")
    moderation.unsuspend_user(member, actor=moderator, reason="appeal accepted")

    assert login(api, member.username).status_code == 200


def test_suspended_moderator_loses_the_admin_too(admin_client_for, moderator, site_admin):
    session = admin_client_for(moderator)
    assert session.get("/admin/posts/post/").status_code == 200

    moderation.suspend_user(moderator, actor=site_admin, reason="compromised account")

    assert session.get("/admin/posts/post/").status_code == 302


def test_refresh_token_of_a_deleted_session_user_id_does_not_work(api):
    user = UserFactory()
    refresh = str(RefreshToken.for_user(user))
    user.delete()
    assert (
        api.post("/v1/auth/token/refresh", {"refresh": refresh}, format="json").status_code == 401
    )


# --- signing keys, issuer and audience (finding 1) ------------------------------------


def _mint(claims: dict, key: str) -> str:
    """A token as an attacker (or another service) would sign it by hand."""
    now = int(time.time())
    payload = {"token_type": "access", "exp": now + 300, "iat": now, "jti": "x", **claims}
    return jwt.encode(payload, key, algorithm="HS256")


def test_a_token_signed_with_the_secret_key_is_refused(api, member, settings):
    # SECRET_KEY signs sessions, cursors and upload links: it must not mint API tokens
    api.credentials(
        HTTP_AUTHORIZATION=f"Bearer {_mint({'user_id': member.pk}, settings.SECRET_KEY)}"
    )

    response = api.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"iss": "puppies"},
        {"aud": "puppies-api"},
        {"iss": "someone-else", "aud": "puppies-api"},
        {"iss": "puppies", "aud": "another-service"},
    ],
    ids=["neither", "no-aud", "no-iss", "wrong-iss", "wrong-aud"],
)
def test_a_token_without_our_issuer_and_audience_is_refused(api, member, settings, claims):
    token = _mint({"user_id": member.pk, **claims}, settings.JWT_SIGNING_KEY)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert api.get(ME).status_code == 401


def test_issued_tokens_carry_issuer_and_audience(api, member, settings):
    tokens = login(api, member.username).json()
    for token in tokens.values():
        claims = jwt.decode(
            token, settings.JWT_SIGNING_KEY, algorithms=["HS256"], audience="puppies-api"
        )
        assert claims["iss"] == "puppies"


def test_signing_key_rotation_keeps_earlier_tokens_until_their_key_is_dropped(
    api, member, settings
):
    old_key, new_key = settings.JWT_SIGNING_KEY, "n" + secrets.token_urlsafe(50)
    before = login(api, member.username).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {before['access']}")
    assert api.get(ME).status_code == 200

    # rotated: new tokens are signed with the new key, the old one still verifies
    settings.JWT_SIGNING_KEY, settings.JWT_VERIFYING_KEYS = new_key, [old_key]
    assert api.get(ME).status_code == 200
    after = login(api, member.username).json()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(after["access"], old_key, algorithms=["HS256"], audience="puppies-api")
    refreshed = api.post("/v1/auth/token/refresh", {"refresh": before["refresh"]}, format="json")
    assert refreshed.status_code == 200

    # the old key dropped: its tokens stop working at once, even one this process remembers
    settings.JWT_VERIFYING_KEYS = []
    assert api.get(ME).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {after['access']}")
    assert api.get(ME).status_code == 200


# --- registration tells no one which addresses have accounts (finding 7) ---------------

REGISTER = "/v1/auth/register"


@pytest.fixture
def mail_sent(mailoutbox, django_capture_on_commit_callbacks):
    """run(fn) -> fn's result, with its commit hooks run and tasks run inline; the mails
    it sent are then in `mailoutbox`."""
    from puppies.celery import app

    def run(fn):
        eager = app.conf.task_always_eager
        app.conf.task_always_eager = True
        try:
            with django_capture_on_commit_callbacks(execute=True):
                return fn()
        finally:
            app.conf.task_always_eager = eager

    return run


def _register(api, username: str, email: str):
    body = {"username": username, "email": email, "password": PASSWORD}
    return api.post(REGISTER, body, format="json")


def _link_token(mail) -> str:
    from urllib.parse import parse_qs, urlparse

    url = next(word for word in mail.body.split() if "token=" in word)
    return parse_qs(urlparse(url).query)["token"][0]


def test_registering_a_taken_address_answers_like_a_free_one(api, member, mail_sent):
    member.email_verified_at = timezone.now()
    member.save()

    taken = mail_sent(lambda: _register(api, "probe_one", member.email.upper()))
    free = mail_sent(lambda: _register(api, "probe_two", "nobody-has-this@example.com"))

    assert taken.status_code == free.status_code == 201
    assert set(taken.json()) == set(free.json())
    assert taken.json()["email_verified"] is free.json()["email_verified"] is False
    # the prober's account works by username, but the address still names only its owner
    assert login(api, "probe_one").status_code == 200
    owner = login(api, member.email)
    assert owner.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {owner.json()['access']}")
    assert api.get(ME).json()["username"] == member.username


def test_an_address_names_an_account_at_login_only_once_its_link_is_followed(
    api, mail_sent, mailoutbox
):
    assert mail_sent(lambda: _register(api, "newpup", "newpup@example.com")).status_code == 201
    assert login(api, "newpup@example.com").status_code == 401
    assert login(api, "newpup").status_code == 200

    (mail,) = mailoutbox
    assert mail.to == ["newpup@example.com"]
    verified = api.get("/v1/auth/email/verify", {"token": _link_token(mail)})

    assert verified.status_code == 200
    assert verified.json()["email_verified"] is True
    assert login(api, "NEWPUP@example.com").status_code == 200


def test_a_verification_link_expires_and_cannot_be_altered(api, mail_sent, mailoutbox, settings):
    import time_machine

    mail_sent(lambda: _register(api, "latepup", "latepup@example.com"))
    token = _link_token(mailoutbox[0])

    altered = api.get("/v1/auth/email/verify", {"token": token[:-2] + "xx"})
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.EMAIL_VERIFICATION_TTL_S + 5)
    ):
        expired = api.get("/v1/auth/email/verify", {"token": token})

    for response in (altered, expired):
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["token"]
    assert login(api, "latepup@example.com").status_code == 401


def test_the_one_who_verifies_an_address_first_keeps_it(api, mail_sent, mailoutbox):
    mail_sent(lambda: _register(api, "first_pup", "shared@example.com"))
    mail_sent(lambda: _register(api, "second_pup", "shared@example.com"))
    first, second = (_link_token(mail) for mail in mailoutbox)

    assert api.get("/v1/auth/email/verify", {"token": second}).status_code == 200
    late = api.get("/v1/auth/email/verify", {"token": first})

    assert late.status_code == 409
    assert list(late.json()["error"]["fields"]) == ["token"]


def test_registrations_per_address_are_limited_whether_or_not_it_has_accounts(api, settings):
    settings.RATELIMIT_REGISTER_EMAIL = "2/h"
    for n in range(2):
        assert _register(api, f"pup_rate{n}", "flooded@example.com").status_code == 201

    response = _register(api, "pup_rate9", "FLOODED@example.com")

    assert response.status_code == 429


def test_a_new_link_can_be_asked_for(client_for, member, mail_sent, mailoutbox):
    response = mail_sent(lambda: client_for(member).post("/v1/auth/email/verification"))

    assert response.status_code == 202
    assert [mail.to for mail in mailoutbox] == [[member.email]]


# --- refresh token families (finding 9) ---------------------------------------------------


def test_replaying_a_rotated_refresh_token_revokes_its_whole_family(api, member):
    stolen = login(api, member.username).json()
    owner = api.post("/v1/auth/token/refresh", {"refresh": stolen["refresh"]}, format="json")
    assert owner.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {owner.json()['access']}")
    assert api.get(ME).status_code == 200
    api.credentials()

    # the thief replays the token the owner's refresh rotated away
    replay = api.post("/v1/auth/token/refresh", {"refresh": stolen["refresh"]}, format="json")

    assert replay.status_code == 401
    # every token of the family is dead: the newest refresh token, and the access tokens
    newest = api.post("/v1/auth/token/refresh", {"refresh": owner.json()["refresh"]}, format="json")
    assert newest.status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {owner.json()['access']}")
    assert api.get(ME).status_code == 401
    # another login is another family, untouched by the revocation
    api.credentials()
    fresh = login(api, member.username).json()
    again = api.post("/v1/auth/token/refresh", {"refresh": fresh["refresh"]}, format="json")
    assert again.status_code == 200


def test_a_logged_out_session_replayed_later_ends_nothing_else(api, member):
    first = login(api, member.username).json()
    assert (
        api.post("/v1/auth/logout", {"refresh": first["refresh"]}, format="json").status_code == 204
    )
    second = login(api, member.username).json()

    replay = api.post("/v1/auth/token/refresh", {"refresh": first["refresh"]}, format="json")

    assert replay.status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {second['access']}")
    assert api.get(ME).status_code == 200


@pytest.mark.parametrize("how", ["logout", "password"])
def test_access_tokens_die_on_the_next_request_after_logout_or_password_change(api, member, how):
    tokens = login(api, member.username).json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get(ME).status_code == 200

    if how == "logout":
        ended = api.post("/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    else:
        new = {"old_password": PASSWORD, "new_password": "another-long-passphrase"}
        ended = api.post("/v1/auth/password", new, format="json")
    assert ended.status_code == 204

    assert api.get(ME).status_code == 401


def test_the_beat_job_flushes_expired_refresh_tokens_and_families(api, member, settings):
    import time_machine
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from users.models import RevokedTokenFamily
    from users.tasks import flush_expired_tokens

    tokens = login(api, member.username).json()
    api.post("/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert OutstandingToken.objects.count() == RevokedTokenFamily.objects.count() == 1
    assert "users.tasks.flush_expired_tokens" in {
        job["task"] for job in settings.CELERY_BEAT_SCHEDULE.values()
    }

    flush_expired_tokens()  # nothing has expired yet
    assert OutstandingToken.objects.count() == 1
    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now() + lifetime + timedelta(minutes=1)):
        flush_expired_tokens()

    assert OutstandingToken.objects.count() == RevokedTokenFamily.objects.count() == 0


def test_an_address_a_superuser_changes_is_unverified_again(admin_client_for, member, api):
    member.email_verified_at = timezone.now()
    member.save()
    superuser = UserFactory(is_superuser=True, is_staff=True)
    form = {
        "username": member.username,
        "email": "elsewhere@example.com",
        "display_name": member.display_name,
        "role": member.role,
        "is_active": "on",
        "follower_count": 0,
        "following_count": 0,
        "post_count": 0,
    }

    response = admin_client_for(superuser).post(f"/admin/users/user/{member.pk}/change/", form)

    assert response.status_code == 302, response.content[:2000]
    assert login(api, "elsewhere@example.com").status_code == 401
    assert login(api, member.username).status_code == 200
