"""API5 Broken Function Level Authorization: members never reach moderator functions."""

import pytest

from interactions.tests.factories import CommentFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users.models import AuditLog, User
from users.tests.factories import UserFactory

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


# --- moderators remove others' content by hiding it, never by DELETE (finding 6) -------


@pytest.mark.parametrize("author_role", ["member", "admin"])
def test_a_moderator_cannot_delete_someone_elses_post_and_is_told_to_hide_it(
    client_for, moderator, author_role
):
    post = PostFactory(author=UserFactory(role=getattr(User.Role, author_role.upper())))

    response = client_for(moderator).delete(f"/v1/posts/{post.pk}")

    assert response.status_code == 403
    assert "hiding it in the moderation admin" in response.json()["error"]["message"]
    assert Post.objects.get(pk=post.pk).deleted_at is None
    assert client_for(UserFactory()).get(f"/v1/posts/{post.pk}").status_code == 200
    assert not AuditLog.objects.exists()


def test_a_moderator_cannot_delete_someone_elses_comment_either(client_for, moderator, post):
    comment = CommentFactory(post=post)

    response = client_for(moderator).delete(f"/v1/comments/{comment.pk}")

    assert response.status_code == 403
    assert "/admin/interactions/comment/" in response.json()["error"]["message"]
    assert client_for(UserFactory()).get(f"/v1/posts/{post.pk}/comments").json()["results"]


def test_hiding_respects_rank_a_moderator_cannot_hide_an_admins_post(moderator, site_admin):
    from rest_framework.exceptions import PermissionDenied

    from posts import services

    by_admin, by_member = PostFactory(author=site_admin), PostFactory()

    with pytest.raises(PermissionDenied):
        services.hide_post(by_admin, actor=moderator, reason="disagree")
    assert services.hide_post(by_member, actor=moderator, reason="spam") is True

    assert Post.objects.get(pk=by_admin.pk).hidden_at is None
    assert list(AuditLog.objects.values_list("action", "target_id", "reason")) == [
        ("hide_post", by_member.pk, "spam")
    ]
