"""API2 Broken Authentication: forged, expired, blacklisted tokens and suspended users."""

import base64
import json
import secrets
import time
from datetime import timedelta

import jwt
import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from users import services
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
        # someone else's user id in a payload the attacker re-encoded
        lambda user: ".".join(
            [
                str(AccessToken.for_user(user)).split(".")[0],
                _b64({**AccessToken.for_user(user).payload, "user_id": str(user.pk + 1)}),
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

    services.suspend_user(member, actor=moderator, reason="spam wave")

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
    services.suspend_user(member, actor=moderator, reason="mistake")
    services.unsuspend_user(member, actor=moderator, reason="appeal accepted")

    assert login(api, member.username).status_code == 200


def test_suspended_moderator_loses_the_admin_too(admin_client_for, moderator, site_admin):
    session = admin_client_for(moderator)
    assert session.get("/admin/posts/post/").status_code == 200

    services.suspend_user(moderator, actor=site_admin, reason="compromised account")

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
