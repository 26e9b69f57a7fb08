"""Every auth flow of API.md, as a client sees it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from users.models import User
from users.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/v1/auth/register"
TOKEN = "/v1/auth/token"
REFRESH = "/v1/auth/token/refresh"
LOGOUT = "/v1/auth/logout"
PASSWORD_URL = "/v1/auth/password"
ME = "/v1/users/me"


def register(api, **overrides):
    body = {"username": "rex", "email": "rex@example.com", "password": PASSWORD}
    return api.post(REGISTER, {**body, **overrides}, format="json")


def login(api, username, password=PASSWORD):
    return api.post(TOKEN, {"username": username, "password": password}, format="json")


def test_register_returns_the_user_with_email_and_no_password(api):
    response = register(api, display_name="Rex the Dog")

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "rex"
    assert body["email"] == "rex@example.com"
    assert body["display_name"] == "Rex the Dog"
    assert body["follower_count"] == 0
    assert body["is_following"] is False
    assert "password" not in response.content.decode()
    assert PASSWORD not in response.content.decode()


def test_registered_user_can_log_in_and_read_own_profile(api):
    register(api)
    tokens = login(api, "rex").json()

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api.get(ME)

    assert me.status_code == 200
    assert me.json()["username"] == "rex"
    assert me.json()["email"] == "rex@example.com"


def test_password_is_stored_with_real_argon2_in_production_settings(api, settings):
    # The suite hashes with MD5 for speed (conftest); this one test runs the real hasher.
    import puppies.settings as production

    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS
    assert register(api).status_code == 201

    stored = User.objects.get(username="rex").password
    assert stored.startswith("argon2$argon2id$")
    assert PASSWORD not in stored
    assert login(api, "rex").status_code == 200
    assert login(api, "rex", "not-the-password").status_code == 401


def test_duplicate_username_is_409_case_insensitively(api):
    assert register(api).status_code == 201

    response = register(api, username="REX", email="other@example.com")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert "username" in error["fields"]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "x" * 31}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"password": "123"}, "password"),
        ({"password": "password"}, "password"),
        ({"username": None}, "username"),
    ],
)
def test_invalid_registration_names_the_bad_field(api, overrides, field):
    body = {"username": "rex", "email": "rex@example.com", "password": PASSWORD, **overrides}
    body = {k: v for k, v in body.items() if v is not None}

    response = api.post(REGISTER, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]
    assert all(isinstance(m, str) for m in error["fields"][field])
    assert User.objects.count() == 0


def test_login_by_verified_email_and_by_username_in_any_case(api):
    UserFactory(username="Bella", email="bella@example.com", email_verified_at=timezone.now())

    assert login(api, "BELLA@example.com").status_code == 200
    assert login(api, "BELLA").status_code == 200


def test_wrong_password_is_401_with_the_error_format(api):
    UserFactory(username="bella")

    response = login(api, "bella", "wrong-password")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Wrong username or password."
    assert "access" not in response.json()


def test_unknown_user_is_401(api):
    assert login(api, "nobody").status_code == 401


def test_refresh_rotates_and_the_old_refresh_token_is_rejected(api):
    UserFactory(username="bella")
    first = login(api, "bella").json()

    rotated = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert rotated.json()["refresh"] != first["refresh"]

    replay = api.post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_not_valid"

    # the replay revoked the whole family: the rotated token is dead too (security tests)
    again = api.post(REFRESH, {"refresh": rotated.json()["refresh"]}, format="json")
    assert again.status_code == 401


def test_logout_blacklists_the_refresh_token(api):
    UserFactory(username="bella")
    tokens = login(api, "bella").json()

    assert api.post(LOGOUT, {"refresh": tokens["refresh"]}, format="json").status_code == 204

    response = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 401


def test_logout_with_garbage_token_is_401(api):
    response = api.post(LOGOUT, {"refresh": "garbage"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_password_change_needs_the_old_password_and_ends_other_sessions(api):
    user = UserFactory(username="bella")
    tokens = login(api, "bella").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    wrong = api.post(
        PASSWORD_URL, {"old_password": "nope", "new_password": "a-new-long-pass"}, format="json"
    )
    assert wrong.status_code == 400
    assert "old_password" in wrong.json()["error"]["fields"]

    weak = api.post(PASSWORD_URL, {"old_password": PASSWORD, "new_password": "123"}, format="json")
    assert weak.status_code == 400
    assert "new_password" in weak.json()["error"]["fields"]

    ok = api.post(
        PASSWORD_URL, {"old_password": PASSWORD, "new_password": "a-new-long-pass"}, format="json"
    )
    assert ok.status_code == 204
    assert api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    assert login(api, "bella", PASSWORD).status_code == 401
    assert login(api, "bella", "a-new-long-pass").status_code == 200
    user.refresh_from_db()
    assert user.check_password("a-new-long-pass")


def test_password_change_needs_a_token(api):
    response = api.post(PASSWORD_URL, {"old_password": "a", "new_password": "b"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_expired_access_token_is_401(api):
    token = AccessToken.for_user(UserFactory())
    token.set_exp(lifetime=-timedelta(seconds=1))

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_forged_access_token_is_401(api):
    user = UserFactory()
    header, payload, _ = str(AccessToken.for_user(user)).split(".")
    forged = f"{header}.{payload}.c2lnbmVkLWJ5LXNvbWVvbmUtZWxzZQ"

    api.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    response = api.get(ME)

    assert response.status_code == 401


def test_refresh_token_is_not_accepted_as_access_token(api):
    user = UserFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user)}")
    assert api.get(ME).status_code == 401


def test_deactivated_users_token_stops_working(api):
    user = UserFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    assert api.get(ME).status_code == 200

    User.objects.filter(pk=user.pk).update(is_active=False)

    assert api.get(ME).status_code == 401
    api.credentials()
    assert login(api, user.username).status_code == 401
