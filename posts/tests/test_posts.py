import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from interactions.services.likes import drain_like_buffer
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_create_post_returns_it_and_counts_it(as_user, user, api):
    response = as_user.post("/v1/posts", {"content": "Look at this pup!"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["content"] == "Look at this pup!"
    assert body["author"] == {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "avatar_url": "",
    }
    assert body["status"] == "published"
    assert body["media"] is None
    assert (body["like_count"], body["comment_count"], body["liked_by_me"]) == (0, 0, False)
    assert api.get(f"/v1/posts/{body['id']}").json()["content"] == "Look at this pup!"
    assert api.get(f"/v1/users/{user.id}").json()["post_count"] == 1


def test_create_post_needs_a_token(api):
    response = api.post("/v1/posts", {"content": "hi"}, format="json")
    assert response.status_code == 401
    assert Post.objects.count() == 0


@pytest.mark.parametrize("content", ["", "   ", "x" * 2001, None])
def test_content_limits(as_user, content):
    body = {} if content is None else {"content": content}
    response = as_user.post("/v1/posts", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["content"]
    assert Post.objects.count() == 0


def test_content_of_exactly_2000_characters_is_accepted(as_user):
    assert as_user.post("/v1/posts", {"content": "x" * 2000}, format="json").status_code == 201


def test_clients_cannot_set_author_counters_or_status(as_user, user):
    other = UserFactory()
    response = as_user.post(
        "/v1/posts",
        {
            "content": "hello",
            "author": other.id,
            "author_id": other.id,
            "like_count": 999,
            "comment_count": 5,
            "status": "pending_media",
            "created_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 201
    post = Post.objects.get()
    assert post.author_id == user.id
    assert (post.like_count, post.comment_count, post.status) == (0, 0, "published")
    assert post.created_at.year > 2000


def test_author_edits_and_others_cannot(as_user, user, client_for):
    post = PostFactory(author=user, content="old")
    intruder = client_for(UserFactory())

    denied = intruder.patch(f"/v1/posts/{post.id}", {"content": "pwned"}, format="json")
    edited = as_user.patch(f"/v1/posts/{post.id}", {"content": "new"}, format="json")

    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    assert edited.status_code == 200
    assert edited.json()["content"] == "new"
    post.refresh_from_db()
    assert post.content == "new"


def test_author_deletes_and_the_post_disappears(as_user, user, api):
    post = PostFactory(author=user)
    user.post_count = 1
    user.save()

    assert as_user.delete(f"/v1/posts/{post.id}").status_code == 204

    assert api.get(f"/v1/posts/{post.id}").status_code == 404
    assert api.get(f"/v1/users/{user.id}/posts").json()["results"] == []
    assert api.get(f"/v1/users/{user.id}").json()["post_count"] == 0
    assert as_user.delete(f"/v1/posts/{post.id}").status_code == 404
    assert Post.objects.filter(pk=post.pk).exists()  # soft delete keeps the row


def test_others_cannot_delete_and_moderators_are_sent_to_hide(client_for):
    post = PostFactory()
    member = client_for(UserFactory())
    moderator = client_for(UserFactory(role="moderator"))

    assert member.delete(f"/v1/posts/{post.id}").status_code == 403
    assert moderator.delete(f"/v1/posts/{post.id}").status_code == 403
    post.refresh_from_db()
    assert post.deleted_at is None


def test_missing_post_is_404(api):
    response = api.get("/v1/posts/424242")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Post not found."


def test_timeline_is_newest_first_and_pages_without_duplicates(api):
    author = UserFactory()
    posts = PostFactory.create_batch(5, author=author)
    PostFactory()  # someone else's

    first = api.get(f"/v1/users/{author.id}/posts?limit=2").json()
    second = api.get(f"/v1/users/{author.id}/posts?limit=2&cursor={first['next_cursor']}").json()
    PostFactory(author=author)  # arrives while paging
    third = api.get(f"/v1/users/{author.id}/posts?limit=2&cursor={second['next_cursor']}").json()

    ids = [p["id"] for p in first["results"] + second["results"] + third["results"]]
    assert ids == [p.id for p in reversed(posts)]
    assert third["next_cursor"] is None


def test_tampered_cursor_is_400(api):
    author = UserFactory()
    PostFactory.create_batch(3, author=author)
    cursor = api.get(f"/v1/users/{author.id}/posts?limit=1").json()["next_cursor"]

    for bad in (cursor[:-2] + "xx", "garbage", "eyJhIjoxfQ"):
        response = api.get(f"/v1/users/{author.id}/posts?cursor={bad}")
        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["cursor"]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-5"])
def test_out_of_range_limit_is_400(api, limit):
    author = UserFactory()
    response = api.get(f"/v1/users/{author.id}/posts?limit={limit}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["limit"]


def test_timeline_query_count_does_not_grow_with_the_page(client_for, page_queries):
    author = UserFactory()
    viewer = client_for(UserFactory())
    url = f"/v1/users/{author.id}/posts?limit=30"
    PostFactory.create_batch(3, author=author)
    small, large, response = page_queries(
        viewer, url, lambda: PostFactory.create_batch(30, author=author)
    )

    assert len(response.json()["results"]) == 30
    # author exists, the page's ids, the posts rendering lacks (likes: from Redis)
    assert small == large == 3


def test_hidden_post_leaves_the_timeline_and_only_its_author_still_sees_it(api, as_user, user):
    from django.utils import timezone

    kept, hidden = PostFactory(author=user), PostFactory(author=user)
    Post.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())

    assert [p["id"] for p in api.get(f"/v1/users/{user.id}/posts").json()["results"]] == [kept.id]
    assert api.get(f"/v1/posts/{hidden.id}").status_code == 404
    assert as_user.get(f"/v1/posts/{hidden.id}").status_code == 200


def test_edit_cannot_change_author_counters_or_status(as_user, user):
    post = PostFactory(author=user, content="old")

    response = as_user.patch(
        f"/v1/posts/{post.id}",
        {
            "content": "new",
            "author": UserFactory().id,
            "like_count": 50,
            "comment_count": 7,
            "status": "pending_media",
            "deleted_at": "2000-01-01T00:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 200
    post.refresh_from_db()
    assert (post.content, post.author_id, post.like_count, post.comment_count) == (
        "new",
        user.id,
        0,
        0,
    )
    assert (post.status, post.deleted_at) == ("published", None)


def test_editing_or_deleting_a_missing_or_deleted_post_is_404(as_user, user):
    from django.utils import timezone

    post = PostFactory(author=user, deleted_at=timezone.now())
    assert as_user.patch(f"/v1/posts/{post.id}", {"content": "x"}, format="json").status_code == 404
    assert as_user.delete(f"/v1/posts/{post.id}").status_code == 404
    assert as_user.delete("/v1/posts/987654").status_code == 404


def test_a_post_mentioning_users_notifies_them_once(as_user, user):
    from interactions.models import Notification

    bella = UserFactory()
    response = as_user.post(
        "/v1/posts", {"content": f"@{bella.username} and again @{bella.username}!"}, format="json"
    )

    assert response.status_code == 201
    assert list(Notification.objects.values_list("recipient_id", "type", "post_id")) == [
        (bella.id, "mention", response.json()["id"])
    ]


def test_an_edit_notifies_only_the_newly_mentioned(as_user, user):
    from interactions.models import Notification

    bella, max_ = UserFactory(), UserFactory()
    post_id = as_user.post("/v1/posts", {"content": f"hi @{bella.username}"}, format="json").json()[
        "id"
    ]

    as_user.patch(
        f"/v1/posts/{post_id}",
        {"content": f"hi @{bella.username} and @{max_.username}"},
        format="json",
    )

    assert sorted(Notification.objects.values_list("recipient_id", flat=True)) == [
        bella.id,
        max_.id,
    ]


def test_a_post_costs_a_fixed_number_of_queries(as_user):
    """Post creation is benchmarked (bench/http_load.py): its budget is exact."""
    as_user.post("/v1/posts", {"content": "warm"}, format="json")
    drain_like_buffer()  # builds the author's liked set, as the beat job does

    with CaptureQueriesContext(connection) as queries:
        response = as_user.post("/v1/posts", {"content": "Good dog!"}, format="json")

    assert response.status_code == 201
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    # One statement, a transaction of its own (posts.sql.PUBLISH_NEW): the post, its tags,
    # the author's post_count, the fan-out's outbox event with its notification. Nothing
    # to read: the answer is rendered from the row. No broker: the relay's.
    assert statements == ["WITH"], statements
