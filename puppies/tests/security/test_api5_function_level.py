"""API5 Broken Function Level Authorization: members never reach moderator functions."""

import pytest

from posts.models import Post
from users.models import AuditLog, User

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "/admin/",
    "/admin/posts/post/",
    "/admin/interactions/report/",
    "/admin/interactions/comment/",
    "/admin/users/user/",
    "/admin/users/auditlog/",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_and_members_are_sent_to_the_admin_login(client, admin_client_for, member, path):
    assert client.get(path).status_code == 302
    response = admin_client_for(member).get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_moderators_reach_every_moderation_page(admin_client_for, moderator, path):
    assert admin_client_for(moderator).get(path).status_code == 200


def test_a_member_with_a_stray_staff_flag_still_cannot_moderate(admin_client_for, post):
    staff_member = User.objects.create_user("staffpup", "s@example.com", "x-password-1")
    User.objects.filter(pk=staff_member.pk).update(is_staff=True)

    session = admin_client_for(User.objects.get(pk=staff_member.pk))
    assert session.get("/admin/posts/post/").status_code == 403
    response = session.post(
        "/admin/posts/post/",
        {"action": "hide", "_selected_action": [post.pk], "reason": "because"},
    )
    assert response.status_code == 403
    assert Post.objects.get(pk=post.pk).hidden_at is None


def test_members_cannot_post_admin_actions(admin_client_for, member, post):
    response = admin_client_for(member).post(
        "/admin/posts/post/",
        {"action": "hide", "_selected_action": [post.pk], "reason": "because"},
    )

    assert response.status_code == 302  # to the login page
    assert Post.objects.get(pk=post.pk).hidden_at is None
    assert not AuditLog.objects.exists()


def test_moderators_cannot_edit_rows_or_change_roles(admin_client_for, moderator, member):
    session = admin_client_for(moderator)

    response = session.post(f"/admin/users/user/{member.pk}/change/", {"role": "admin"})
    assert response.status_code == 403
    session.post(
        "/admin/users/user/",
        {"action": "make_admin", "_selected_action": [member.pk], "reason": "promote"},
    )
    member.refresh_from_db()
    assert member.role == User.Role.MEMBER
    assert session.get("/admin/posts/post/add/").status_code == 403


def test_moderators_cannot_suspend_other_moderators(admin_client_for, moderator):
    peer = User.objects.create_user("peer", "p@example.com", "x-password-1", role="moderator")

    admin_client_for(moderator).post(
        "/admin/users/user/",
        {"action": "suspend", "_selected_action": [peer.pk], "reason": "coup"},
    )

    peer.refresh_from_db()
    assert peer.is_active


def test_a_member_cannot_read_reports_through_the_api(client_for, member, post):
    # reports are write-only for members: there is no endpoint listing them
    assert client_for(member).get(f"/v1/posts/{post.pk}/reports").status_code == 405
