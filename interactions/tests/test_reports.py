import pytest
from django.utils import timezone

from interactions.models import Report
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_report_is_stored_for_moderators(as_user, user):
    post = PostFactory()

    response = as_user.post(
        f"/v1/posts/{post.id}/reports",
        {"reason": "animal_welfare", "details": "That dog looks cold."},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "post_id": post.id,
        "reason": "animal_welfare",
        "details": "That dog looks cold.",
        "status": "open",
        "created_at": body["created_at"],
    }
    report = Report.objects.get()
    assert (report.reporter_id, report.post_id, report.status) == (user.id, post.id, "open")


def test_a_repeat_open_report_answers_the_existing_one(as_user):
    post = PostFactory()
    first = as_user.post(f"/v1/posts/{post.id}/reports", {"reason": "spam"}, format="json")

    again = as_user.post(
        f"/v1/posts/{post.id}/reports", {"reason": "abuse", "details": "x"}, format="json"
    )

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Report.objects.count() == 1


def test_a_new_report_is_filed_once_the_old_one_is_resolved(as_user):
    post = PostFactory()
    as_user.post(f"/v1/posts/{post.id}/reports", {"reason": "spam"}, format="json")
    Report.objects.update(status=Report.Status.DISMISSED)

    again = as_user.post(f"/v1/posts/{post.id}/reports", {"reason": "spam"}, format="json")

    assert again.status_code == 201
    assert Report.objects.count() == 2


def test_different_reporters_each_file_one(client_for):
    post = PostFactory()
    for reporter in UserFactory.create_batch(2):
        response = client_for(reporter).post(
            f"/v1/posts/{post.id}/reports", {"reason": "nsfw"}, format="json"
        )
        assert response.status_code == 201
    assert Report.objects.count() == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "reason"),
        ({"reason": "boring"}, "reason"),
        ({"reason": "spam", "details": "x" * 2001}, "details"),
    ],
)
def test_bad_report_is_400(as_user, body, field):
    post = PostFactory()
    response = as_user.post(f"/v1/posts/{post.id}/reports", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert Report.objects.count() == 0


def test_clients_cannot_set_status_or_reporter(as_user, user):
    post = PostFactory()
    response = as_user.post(
        f"/v1/posts/{post.id}/reports",
        {"reason": "spam", "status": "resolved", "reporter": UserFactory().id, "post_id": 1},
        format="json",
    )
    assert response.status_code == 201
    report = Report.objects.get()
    assert (report.status, report.reporter_id, report.post_id) == ("open", user.id, post.id)


def test_reporting_needs_a_token_and_a_visible_post(as_user, api):
    post = PostFactory()
    gone = PostFactory()
    Post.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    assert (
        api.post(f"/v1/posts/{post.id}/reports", {"reason": "spam"}, format="json").status_code
        == 401
    )
    assert (
        as_user.post("/v1/posts/987654/reports", {"reason": "spam"}, format="json").status_code
        == 404
    )
    assert (
        as_user.post(f"/v1/posts/{gone.id}/reports", {"reason": "spam"}, format="json").status_code
        == 404
    )
    assert Report.objects.count() == 0
