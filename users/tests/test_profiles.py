import pytest

from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_anonymous_reads_a_public_profile_by_id_and_by_username(api):
    bella = UserFactory(username="Bella", bio="Good girl")

    by_id = api.get(f"/v1/users/{bella.id}")
    by_name = api.get("/v1/users/@bella")

    assert by_id.status_code == by_name.status_code == 200
    assert by_id.json() == by_name.json()
    body = by_id.json()
    assert set(body) == {
        "id",
        "username",
        "display_name",
        "bio",
        "avatar_url",
        "follower_count",
        "following_count",
        "post_count",
        "is_following",
        "created_at",
    }
    assert body["bio"] == "Good girl"
    assert body["is_following"] is False
    assert body["created_at"].endswith("Z")


def test_public_profile_never_shows_email(api):
    bella = UserFactory()
    assert bella.email not in api.get(f"/v1/users/{bella.id}").content.decode()


def test_unknown_user_is_404_in_the_error_format(api):
    response = api.get("/v1/users/999999")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "User not found."}}
    assert api.get("/v1/users/@nobody").status_code == 404


def test_me_needs_a_token(api):
    response = api.get("/v1/users/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_patch_me_updates_the_profile_others_then_see(as_user, user, api):
    user.avatar_url = "https://img.example/a.png"
    user.save(update_fields=["avatar_url"])
    changes = {"display_name": "Sir Barks", "bio": "Woof", "avatar_url": ""}
    response = as_user.patch("/v1/users/me", changes, format="json")

    assert response.status_code == 200
    assert response.json()["display_name"] == "Sir Barks"
    public = api.get(f"/v1/users/{user.id}").json()
    assert public["display_name"] == "Sir Barks"
    assert public["bio"] == "Woof"
    assert public["avatar_url"] == ""  # removed


def test_patch_me_cannot_set_counters_role_or_username(as_user, user):
    response = as_user.patch(
        "/v1/users/me",
        {"follower_count": 10**6, "role": "admin", "username": "hijack", "is_staff": True},
        format="json",
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.follower_count == 0
    assert user.role == "member"
    assert user.username != "hijack"
    assert not user.is_staff


def test_bio_over_the_limit_is_400_and_nothing_changes(as_user, user):
    response = as_user.patch("/v1/users/me", {"bio": "x" * 301}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["bio"]
    user.refresh_from_db()
    assert user.bio == ""
