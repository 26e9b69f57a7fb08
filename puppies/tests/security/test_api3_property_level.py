"""API3 Broken Object Property Level Authorization: mass assignment and over-sharing."""

import pytest

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db


def test_profile_update_ignores_privileged_fields(client_for, member):
    response = client_for(member).patch(
        "/v1/users/me",
        {
            "bio": "good dog",
            "role": "admin",
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "follower_count": 1_000_000,
            "username": "renamed",
            "email": "stolen@example.com",
            "id": 1,
        },
        format="json",
    )

    assert response.status_code == 200
    member.refresh_from_db()
    assert member.bio == "good dog"
    assert (member.role, member.is_staff, member.is_superuser, member.is_active) == (
        User.Role.MEMBER,
        False,
        False,
        True,
    )
    assert member.follower_count == 0
    assert member.username != "renamed"
    assert member.email != "stolen@example.com"


def test_registration_cannot_choose_a_role(api):
    response = api.post(
        "/v1/auth/register",
        {
            "username": "sneaky",
            "email": "sneaky@example.com",
            "password": "a-long-enough-password",
            "role": "admin",
            "is_staff": True,
            "is_superuser": True,
        },
        format="json",
    )

    assert response.status_code == 201
    user = User.objects.get(username="sneaky")
    assert (user.role, user.is_staff, user.is_superuser) == (User.Role.MEMBER, False, False)
    assert "password" not in response.json()


def test_post_creation_ignores_author_counters_and_moderation_fields(client_for, member):
    other = User.objects.create_user("other_pup", "o@example.com", "x-password-1")
    response = client_for(member).post(
        "/v1/posts",
        {
            "content": "hello",
            "author": other.pk,
            "author_id": other.pk,
            "like_count": 999,
            "hidden_at": None,
            "deleted_at": "2020-01-01T00:00:00Z",
            "status": "published",
        },
        format="json",
    )

    assert response.status_code == 201
    post = Post.objects.get(pk=response.json()["id"])
    assert post.author_id == member.pk
    assert post.like_count == 0
    assert post.deleted_at is None


def test_post_edit_changes_only_the_content(client_for, post):
    response = client_for(post.author).patch(
        f"/v1/posts/{post.pk}",
        {"content": "edited", "like_count": 50, "created_at": "2000-01-01T00:00:00Z"},
        format="json",
    )

    assert response.status_code == 200
    post.refresh_from_db()
    assert (post.content, post.like_count) == ("edited", 0)
    assert post.created_at.year != 2000
