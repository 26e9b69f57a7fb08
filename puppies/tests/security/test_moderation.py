"""Moderation through the admin: actions, their audit trail, and what API clients then see."""

import pytest
from django.contrib.messages import get_messages

from interactions.models import Comment, Report
from interactions.tests.factories import CommentFactory, ReportFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users import moderation
from users.models import AuditLog, User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run_action(session, changelist: str, action: str, ids, reason="breaks the rules"):
    return session.post(
        changelist, {"action": action, "_selected_action": ids, "reason": reason}, follow=True
    )


def test_hiding_a_post_removes_it_everywhere_but_for_its_author(
    admin_client_for, client_for, api, moderator, post
):
    reader = UserFactory()
    as_reader = client_for(reader)
    as_reader.post(f"/v1/users/{post.author_id}/follow")
    assert [p["id"] for p in as_reader.get("/v1/feed").json()["results"]] == [post.pk]

    run_action(admin_client_for(moderator), "/admin/posts/post/", "hide", [post.pk])

    assert as_reader.get("/v1/feed").json()["results"] == []
    assert api.get(f"/v1/users/{post.author_id}/posts").json()["results"] == []
    assert api.get(f"/v1/posts/{post.pk}").status_code == 404
    assert api.get(f"/v1/posts/{post.pk}/comments").status_code == 404
    assert client_for(post.author).get(f"/v1/posts/{post.pk}").status_code == 200
    log = AuditLog.objects.get()
    assert (log.actor, log.action, log.target_type, log.target_id, log.reason) == (
        moderator,
        "hide_post",
        "post",
        post.pk,
        "breaks the rules",
    )


def test_unhiding_brings_it_back(admin_client_for, api, moderator, post):
    session = admin_client_for(moderator)
    run_action(session, "/admin/posts/post/", "hide", [post.pk])
    run_action(session, "/admin/posts/post/", "unhide", [post.pk], reason="appeal")

    assert api.get(f"/v1/posts/{post.pk}").status_code == 200
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "hide_post",
        "unhide_post",
    ]


def test_an_action_without_a_reason_does_nothing(admin_client_for, moderator, post):
    response = run_action(admin_client_for(moderator), "/admin/posts/post/", "hide", [post.pk], "")

    assert "Give a reason" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert Post.objects.get(pk=post.pk).hidden_at is None
    assert not AuditLog.objects.exists()


def test_hiding_a_comment_hides_it_from_the_thread_and_the_count(
    admin_client_for, api, client_for, moderator, post
):
    commenter = client_for(UserFactory())
    comment_id = commenter.post(
        f"/v1/posts/{post.pk}/comments", {"content": "rude"}, format="json"
    ).json()["id"]

    run_action(admin_client_for(moderator), "/admin/interactions/comment/", "hide", [comment_id])

    assert api.get(f"/v1/posts/{post.pk}/comments").json()["results"] == []
    assert api.get(f"/v1/posts/{post.pk}").json()["comment_count"] == 0
    assert Comment.objects.get(pk=comment_id).hidden_at is not None
    assert AuditLog.objects.get().action == "hide_comment"

    run_action(admin_client_for(moderator), "/admin/interactions/comment/", "unhide", [comment_id])
    assert api.get(f"/v1/posts/{post.pk}").json()["comment_count"] == 1


def test_suspend_and_unsuspend_from_the_admin(admin_client_for, client_for, moderator, member):
    as_member = client_for(member)
    session = admin_client_for(moderator)

    run_action(session, "/admin/users/user/", "suspend", [member.pk])
    assert as_member.get("/v1/users/me").status_code == 401

    run_action(session, "/admin/users/user/", "unsuspend", [member.pk], reason="appeal")
    assert as_member.get("/v1/users/me").status_code == 200
    assert list(AuditLog.objects.order_by("id").values_list("action", "reason")) == [
        ("suspend_user", "breaks the rules"),
        ("unsuspend_user", "appeal"),
    ]


def test_admins_grant_roles_and_staff_access_follows(admin_client_for, site_admin, member):
    session = admin_client_for(site_admin)

    run_action(session, "/admin/users/user/", "make_moderator", [member.pk], reason="trusted")
    member.refresh_from_db()
    assert (member.role, member.is_staff) == (User.Role.MODERATOR, True)
    assert admin_client_for(member).get("/admin/interactions/report/").status_code == 200

    run_action(session, "/admin/users/user/", "make_member", [member.pk], reason="stepped down")
    member.refresh_from_db()
    assert (member.role, member.is_staff) == (User.Role.MEMBER, False)
    assert admin_client_for(member).get("/admin/interactions/report/").status_code == 302


def test_reports_queue_is_open_first_then_most_reported_then_newest(admin_client_for, moderator):
    quiet, busy = PostFactory(), PostFactory()
    closed = ReportFactory(status=Report.Status.DISMISSED)
    ReportFactory(post=busy)
    ReportFactory(post=busy)
    single = ReportFactory(post=quiet)
    newest_busy = ReportFactory(post=busy)

    response = admin_client_for(moderator).get("/admin/interactions/report/?status=all")

    ids = [report.pk for report in response.context["cl"].result_list]
    assert ids[0] == newest_busy.pk
    assert ids[-2:] == [single.pk, closed.pk]
    # the default view is the open queue only
    response = admin_client_for(moderator).get("/admin/interactions/report/")
    assert closed.pk not in [r.pk for r in response.context["cl"].result_list]


def test_hiding_from_the_queue_resolves_the_posts_reports(admin_client_for, moderator, post):
    first, second = ReportFactory(post=post), ReportFactory(post=post)
    other = ReportFactory()

    run_action(admin_client_for(moderator), "/admin/interactions/report/", "hide_posts", [first.pk])

    assert Post.objects.get(pk=post.pk).hidden_at is not None
    statuses = dict(Report.objects.values_list("pk", "status"))
    assert statuses[first.pk] == statuses[second.pk] == "resolved"
    assert statuses[other.pk] == "open"


def test_dismissing_closes_reports_and_leaves_the_post(admin_client_for, api, moderator, post):
    report = ReportFactory(post=post)

    run_action(admin_client_for(moderator), "/admin/interactions/report/", "dismiss", [report.pk])

    assert Report.objects.get(pk=report.pk).status == "dismissed"
    assert api.get(f"/v1/posts/{post.pk}").status_code == 200
    assert AuditLog.objects.get().action == "dismiss_report"


def test_audit_log_is_read_only_even_for_superusers(admin_client_for, moderator, post):
    from posts import services as post_services

    post_services.hide_post(post, actor=moderator, reason="spam")
    root = User.objects.create_superuser("root", "root@example.com", "x-password-1")
    log = AuditLog.objects.get()

    session = admin_client_for(root)
    assert session.get("/admin/users/auditlog/").status_code == 200
    session.post(f"/admin/users/auditlog/{log.pk}/change/", {"reason": "nothing happened"})
    assert session.get(f"/admin/users/auditlog/{log.pk}/delete/").status_code == 403
    assert AuditLog.objects.get().reason == "spam"


@pytest.mark.parametrize(
    ("path", "make_rows"),
    [
        ("/admin/posts/post/", lambda n: PostFactory.create_batch(n)),
        ("/admin/interactions/comment/", lambda n: CommentFactory.create_batch(n)),
        ("/admin/interactions/report/", lambda n: ReportFactory.create_batch(n)),
        ("/admin/users/user/", lambda n: UserFactory.create_batch(n)),
        ("/admin/users/auditlog/", None),
    ],
)
def test_admin_lists_run_a_fixed_number_of_queries(
    admin_client_for, count_queries, moderator, path, make_rows
):
    def make(n):
        if make_rows is None:
            for post in PostFactory.create_batch(n):
                moderation.record_action(
                    moderator, action=AuditLog.Action.HIDE_POST, target=post, reason="spam"
                )
        else:
            make_rows(n)

    session = admin_client_for(moderator)
    session.get(path)  # warm the session and content types
    make(3)
    few, response = count_queries(lambda: session.get(path))
    assert response.status_code == 200
    make(20)
    many, _ = count_queries(lambda: session.get(path))

    assert few == many, f"{path}: {few} queries for 3 rows, {many} for 23"


@pytest.mark.parametrize(
    ("path", "term"),
    [
        ("/admin/users/user/", "@{username}"),
        ("/admin/users/user/", "{email}"),
        ("/admin/posts/post/", "{username}"),
        ("/admin/interactions/comment/", "{username}"),
    ],
)
def test_admin_search_finds_by_exact_indexed_keys(admin_client_for, moderator, path, term):
    target = UserFactory(username="Findme_Pup")
    CommentFactory(author=target, post=PostFactory(author=target))
    UserFactory.create_batch(2)

    query = term.format(username="findme_pup", email=target.email.upper())
    response = admin_client_for(moderator).get(path, {"q": query})

    rows = response.context["cl"].result_list
    assert len(rows) == 1
