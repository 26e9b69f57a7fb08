"""API1 Broken Object Level Authorization: every object endpoint checks who may touch what."""

import pytest

from interactions.tests.factories import CommentFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_someone_else_cannot_edit_a_post(client_for, post):
    response = client_for(UserFactory()).patch(
        f"/v1/posts/{post.pk}", {"content": "mine now"}, format="json"
    )

    assert response.status_code == 403
    post.refresh_from_db()
    assert post.content != "mine now"


def test_a_moderator_cannot_edit_a_post_either(client_for, moderator, post):
    response = client_for(moderator).patch(
        f"/v1/posts/{post.pk}", {"content": "edited"}, format="json"
    )
    assert response.status_code == 403


def test_someone_else_cannot_delete_a_post(client_for, post):
    assert client_for(UserFactory()).delete(f"/v1/posts/{post.pk}").status_code == 403
    assert Post.objects.get(pk=post.pk).deleted_at is None


def test_the_author_can_delete_a_post(client_for):
    own = PostFactory()
    assert client_for(own.author).delete(f"/v1/posts/{own.pk}").status_code == 204


def test_someone_else_cannot_delete_a_comment(client_for, post):
    comment = CommentFactory(post=post)

    response = client_for(UserFactory()).delete(f"/v1/comments/{comment.pk}")

    assert response.status_code == 403
    assert client_for(post.author).delete(f"/v1/comments/{comment.pk}").status_code == 204


def test_a_hidden_post_is_404_for_others_and_visible_to_its_author(client_for, api, post):
    Post.objects.filter(pk=post.pk).update(hidden_at=post.created_at)

    assert api.get(f"/v1/posts/{post.pk}").status_code == 404
    assert client_for(UserFactory()).get(f"/v1/posts/{post.pk}").status_code == 404
    assert client_for(post.author).get(f"/v1/posts/{post.pk}").status_code == 200
    # acting on it is as impossible as reading it
    other = client_for(UserFactory())
    assert other.delete(f"/v1/posts/{post.pk}").status_code == 404
    comment = other.post(f"/v1/posts/{post.pk}/comments", {"content": "hi"}, format="json")
    assert comment.status_code == 404


def test_users_me_is_always_the_caller(client_for, member):
    other = UserFactory()

    response = client_for(member).get("/v1/users/me")

    assert response.json()["id"] == member.pk
    client_for(member).patch("/v1/users/me", {"bio": "changed"}, format="json")
    other.refresh_from_db()
    assert other.bio == ""


def test_an_email_is_never_on_someone_elses_profile(client_for, member):
    other = UserFactory()
    body = client_for(member).get(f"/v1/users/{other.pk}").json()
    assert "email" not in body
