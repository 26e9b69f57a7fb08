import itertools
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from interactions.models import LIVE_COMMENT_SQL, Comment, Notification, live_comment_q
from interactions.tests.factories import CommentFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def comment_count(post) -> int:
    return Post.objects.get(pk=post.pk).comment_count


def test_comment_is_created_counted_and_listed(as_user, user, api):
    post = PostFactory()

    response = as_user.post(
        f"/v1/posts/{post.id}/comments", {"content": "Who's a good boy"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "post_id": post.id,
        "author": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "avatar_url": "",
        },
        "content": "Who's a good boy",
        "created_at": body["created_at"],
    }
    assert body["created_at"].endswith("Z")
    listed = api.get(f"/v1/posts/{post.id}/comments").json()
    assert listed == {"results": [body], "next_cursor": None}
    assert api.get(f"/v1/posts/{post.id}").json()["comment_count"] == 1


def test_comments_are_oldest_first_and_page_without_duplicates(api, client_for):
    post = PostFactory()
    commenters = UserFactory.create_batch(5)
    for n, commenter in enumerate(commenters):
        client_for(commenter).post(
            f"/v1/posts/{post.id}/comments", {"content": f"c{n}"}, format="json"
        )

    first = api.get(f"/v1/posts/{post.id}/comments?limit=2").json()
    second = api.get(f"/v1/posts/{post.id}/comments?limit=2&cursor={first['next_cursor']}").json()
    client_for(commenters[0]).post(
        f"/v1/posts/{post.id}/comments", {"content": "late"}, format="json"
    )
    third = api.get(f"/v1/posts/{post.id}/comments?limit=2&cursor={second['next_cursor']}").json()

    contents = [c["content"] for page in (first, second, third) for c in page["results"]]
    assert contents == ["c0", "c1", "c2", "c3", "c4", "late"]
    assert third["next_cursor"] is None


def test_comment_list_ignores_other_posts_and_tampered_cursor_is_400(api):
    post = PostFactory()
    CommentFactory.create_batch(3, post=post)
    CommentFactory()  # on another post

    page = api.get(f"/v1/posts/{post.id}/comments?limit=1").json()
    bad = api.get(f"/v1/posts/{post.id}/comments?cursor={page['next_cursor'][:-3]}zzz")

    assert len(api.get(f"/v1/posts/{post.id}/comments").json()["results"]) == 3
    assert bad.status_code == 400
    assert list(bad.json()["error"]["fields"]) == ["cursor"]


@pytest.mark.parametrize("content", ["", "   ", "x" * 1001, None, 5])
def test_comment_content_limits(as_user, content):
    post = PostFactory()
    body = {} if content is None else {"content": content}

    response = as_user.post(f"/v1/posts/{post.id}/comments", body, format="json")

    # 5: a number is not text; the schema says string (issue 12, schemathesis).
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["content"]
    assert comment_count(post) == 0


def test_comment_of_exactly_the_maximum_length_is_accepted(as_user):
    post = PostFactory()
    response = as_user.post(f"/v1/posts/{post.id}/comments", {"content": "x" * 1000}, format="json")
    assert response.status_code == 201


def test_commenting_needs_a_token(api):
    post = PostFactory()
    assert (
        api.post(f"/v1/posts/{post.id}/comments", {"content": "hi"}, format="json").status_code
        == 401
    )
    assert Comment.objects.count() == 0


@pytest.mark.parametrize("state", ["missing", "deleted", "hidden", "pending_media"])
def test_commenting_on_a_post_nobody_may_see_is_404(as_user, state):
    post = PostFactory()
    if state == "deleted":
        Post.objects.filter(pk=post.pk).update(deleted_at=timezone.now())
    elif state == "hidden":
        Post.objects.filter(pk=post.pk).update(hidden_at=timezone.now())
    elif state == "pending_media":
        Post.objects.filter(pk=post.pk).update(status=Post.Status.PENDING_MEDIA)
    post_id = 987654 if state == "missing" else post.id

    response = as_user.post(f"/v1/posts/{post_id}/comments", {"content": "hi"}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Comment.objects.count() == 0
    assert comment_count(post) == 0


@pytest.mark.parametrize("state", ["deleted", "hidden"])
def test_comments_of_a_deleted_or_hidden_post_disappear(api, state):
    post = PostFactory()
    CommentFactory(post=post)
    Post.objects.filter(pk=post.pk).update(**{f"{state}_at": timezone.now()})

    assert api.get(f"/v1/posts/{post.id}/comments").status_code == 404


def test_clients_cannot_set_author_post_time_or_deleted(as_user, user):
    post, elsewhere = PostFactory(), PostFactory()
    other = UserFactory()

    response = as_user.post(
        f"/v1/posts/{post.id}/comments",
        {
            "content": "mine",
            "author": other.id,
            "author_id": other.id,
            "post": elsewhere.id,
            "post_id": elsewhere.id,
            "created_at": "2000-01-01T00:00:00Z",
            "deleted_at": "2000-01-01T00:00:00Z",
            "id": 424242,
        },
        format="json",
    )

    assert response.status_code == 201
    comment = Comment.objects.get()
    assert (comment.author_id, comment.post_id) == (user.id, post.id)
    assert comment.id != 424242
    assert comment.created_at.year > 2000
    assert comment.deleted_at is None
    assert response.json()["post_id"] == post.id


def test_comment_author_deletes_once_then_404(as_user, api):
    post = PostFactory()
    comment_id = as_user.post(
        f"/v1/posts/{post.id}/comments", {"content": "oops"}, format="json"
    ).json()["id"]

    assert as_user.delete(f"/v1/comments/{comment_id}").status_code == 204
    again = as_user.delete(f"/v1/comments/{comment_id}")

    assert again.status_code == 404
    assert again.json()["error"]["message"] == "Comment not found."
    assert api.get(f"/v1/posts/{post.id}/comments").json()["results"] == []
    assert comment_count(post) == 0
    assert Comment.objects.filter(pk=comment_id, deleted_at__isnull=False).exists()  # soft


def comment_by_someone(client_for, post) -> int:
    """The id of a comment a new user wrote on `post`."""
    commenter = client_for(UserFactory())
    response = commenter.post(f"/v1/posts/{post.id}/comments", {"content": "hi"}, format="json")
    return response.json()["id"]


def test_the_post_author_may_delete_any_comment_on_it(client_for):
    post_author = UserFactory()
    post = PostFactory(author=post_author)
    comment_id = comment_by_someone(client_for, post)

    assert client_for(post_author).delete(f"/v1/comments/{comment_id}").status_code == 204
    assert comment_count(post) == 0


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_moderators_hide_others_comments_rather_than_delete_them(client_for, role):
    post = PostFactory()
    comment_id = comment_by_someone(client_for, post)

    response = client_for(UserFactory(role=role)).delete(f"/v1/comments/{comment_id}")

    assert response.status_code == 403
    assert comment_count(post) == 1


def test_others_cannot_delete_a_comment(client_for, api):
    post = PostFactory()
    comment_id = comment_by_someone(client_for, post)

    denied = client_for(UserFactory()).delete(f"/v1/comments/{comment_id}")

    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    assert api.delete(f"/v1/comments/{comment_id}").status_code == 401
    assert len(api.get(f"/v1/posts/{post.id}/comments").json()["results"]) == 1
    assert comment_count(post) == 1


def test_deleting_a_missing_comment_is_404(as_user):
    assert as_user.delete("/v1/comments/987654").status_code == 404


def test_comment_count_is_exact_over_creates_and_deletes(client_for, api):
    post = PostFactory()
    clients = [client_for(UserFactory()) for _ in range(3)]
    ids = [
        c.post(f"/v1/posts/{post.id}/comments", {"content": "hi"}, format="json").json()["id"]
        for c in clients
    ]
    clients[1].delete(f"/v1/comments/{ids[1]}")
    clients[1].delete(f"/v1/comments/{ids[1]}")

    assert api.get(f"/v1/posts/{post.id}").json()["comment_count"] == 2
    assert [c["id"] for c in api.get(f"/v1/posts/{post.id}/comments").json()["results"]] == [
        ids[0],
        ids[2],
    ]


def test_comment_notifies_the_post_author_and_mentioned_users(client_for):
    post_author, mentioned, commenter = UserFactory(), UserFactory(), UserFactory()
    post = PostFactory(author=post_author)

    response = client_for(commenter).post(
        f"/v1/posts/{post.id}/comments",
        {"content": f"@{mentioned.username.upper()} look! cc @{post_author.username} @nobody_x"},
        format="json",
    )

    comment_id = response.json()["id"]
    author_inbox = client_for(post_author).get("/v1/notifications").json()["results"]
    mentioned_inbox = client_for(mentioned).get("/v1/notifications").json()["results"]
    # the post author hears of the comment once, not also as a mention
    assert [(n["type"], n["post_id"], n["comment_id"]) for n in author_inbox] == [
        ("comment", post.id, comment_id)
    ]
    assert author_inbox[0]["actor"]["id"] == commenter.id
    assert [(n["type"], n["post_id"], n["comment_id"]) for n in mentioned_inbox] == [
        ("mention", post.id, comment_id)
    ]
    assert Notification.objects.count() == 2


def test_commenting_on_your_own_post_notifies_nobody(as_user, user):
    post = PostFactory(author=user)
    as_user.post(
        f"/v1/posts/{post.id}/comments", {"content": f"me, @{user.username}"}, format="json"
    )
    assert Notification.objects.count() == 0


def test_comment_list_query_count_does_not_grow_with_the_page(client_for, page_queries):
    post = PostFactory()
    viewer = client_for(UserFactory())
    url = f"/v1/posts/{post.id}/comments?limit=40"
    CommentFactory.create_batch(2, post=post)
    small, large, response = page_queries(
        viewer, url, lambda: CommentFactory.create_batch(40, post=post)
    )

    assert len(response.json()["results"]) == 40
    # the post, the page with its authors
    assert small == large == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_deletes_of_one_comment_count_once():
    from rest_framework.test import APIClient

    from conftest import bearer

    post = PostFactory(comment_count=1)
    comment = CommentFactory(post=post)
    deleters = [comment.author, post.author]
    barrier = threading.Barrier(2)
    statuses = []

    def delete(deleter):
        client = APIClient()
        client.credentials(**bearer(deleter))
        barrier.wait()
        statuses.append(client.delete(f"/v1/comments/{comment.id}").status_code)
        connection.close()

    threads = [threading.Thread(target=delete, args=(d,)) for d in deleters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(statuses) == [204, 404]
    assert comment_count(post) == 0


def test_a_comment_costs_a_fixed_number_of_queries(as_user, user):
    """The comment endpoint is benchmarked (bench/http_load.py): its budget is exact."""
    post = PostFactory()
    as_user.post(f"/v1/posts/{post.id}/comments", {"content": "warm"}, format="json")

    with CaptureQueriesContext(connection) as queries:
        response = as_user.post(
            f"/v1/posts/{post.id}/comments", {"content": "Good dog!"}, format="json"
        )

    assert response.status_code == 201
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    # One statement, a transaction of its own (interactions.sql.CREATE_COMMENT): the post's
    # comment_count, the comment, the notification, the commenter's summary for the answer.
    assert statements == ["WITH"], statements


def test_the_live_comment_rule_agrees_in_sql_and_orm_for_deleted_and_hidden():
    now = timezone.now()
    post = PostFactory()
    comments = {
        (deleted, hidden): CommentFactory(
            post=post, deleted_at=now if deleted else None, hidden_at=now if hidden else None
        )
        for deleted, hidden in itertools.product((0, 1), (0, 1))
    }

    by_orm = set(Comment.objects.filter(live_comment_q(), post=post).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM {Comment._meta.db_table} c"  # noqa: S608
            f" WHERE c.post_id = %s AND {LIVE_COMMENT_SQL}",
            [post.pk],
        )
        by_sql = {pk for (pk,) in cursor.fetchall()}

    assert by_orm == by_sql == {comments[(0, 0)].pk}
