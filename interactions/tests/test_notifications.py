import pytest
from django.utils import timezone

from interactions.models import Notification
from interactions.tests.factories import CommentFactory, NotificationFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def inbox(client, query: str = "") -> dict:
    response = client.get(f"/v1/notifications{query}")
    assert response.status_code == 200
    return response.json()


def test_notifications_need_a_token(api):
    assert api.get("/v1/notifications").status_code == 401
    assert api.post("/v1/notifications/read", {}, format="json").status_code == 401


def test_follow_comment_and_mention_arrive_newest_first(as_user, user, client_for):
    fan = UserFactory()
    fan_client = client_for(fan)
    post = PostFactory(author=user)

    fan_client.post(f"/v1/users/{user.id}/follow")
    comment_id = fan_client.post(
        f"/v1/posts/{post.id}/comments", {"content": "cute"}, format="json"
    ).json()["id"]
    mention_id = fan_client.post(
        "/v1/posts", {"content": f"Say hi to @{user.username}!"}, format="json"
    ).json()["id"]

    results = inbox(as_user)["results"]
    assert [(n["type"], n["post_id"], n["comment_id"], n["read"]) for n in results] == [
        ("mention", mention_id, None, False),
        ("comment", post.id, comment_id, False),
        ("follow", None, None, False),
    ]
    assert results[0]["actor"] == {
        "id": fan.id,
        "username": fan.username,
        "display_name": fan.display_name,
        "avatar_url": "",
    }
    assert set(results[0]) == {"id", "type", "actor", "post_id", "comment_id", "created_at", "read"}
    assert inbox(client_for(fan))["results"] == []  # own actions notify nobody


def test_notifications_page_with_a_cursor_and_stay_private(as_user, user, client_for):
    made = NotificationFactory.create_batch(5, recipient=user)
    NotificationFactory()  # someone else's

    first = inbox(as_user, "?limit=3")
    NotificationFactory(recipient=user)  # arrives while paging
    second = inbox(as_user, f"?limit=3&cursor={first['next_cursor']}")

    ids = [n["id"] for n in first["results"] + second["results"]]
    assert ids == [n.id for n in reversed(made)]
    assert second["next_cursor"] is None


def test_mentions_only_existing_users_and_at_most_ten_per_text(as_user):
    users = UserFactory.create_batch(12)
    names = " ".join(f"@{u.username}" for u in users)

    as_user.post(
        "/v1/posts", {"content": f"@ghost_pup {names} @{users[0].username}"}, format="json"
    )

    mentioned = set(
        Notification.objects.filter(type="mention").values_list("recipient_id", flat=True)
    )
    assert mentioned == {u.id for u in users[:9]}  # @ghost_pup takes one of the ten slots


def test_email_addresses_and_own_name_do_not_mention(as_user, user):
    other = UserFactory()
    as_user.post(
        "/v1/posts",
        {"content": f"mail x@{other.username} or {other.username}@pups.example @{user.username}"},
        format="json",
    )
    assert Notification.objects.count() == 0


def test_mark_all_read(as_user, user):
    NotificationFactory.create_batch(3, recipient=user)
    theirs = NotificationFactory()

    response = as_user.post("/v1/notifications/read", {}, format="json")

    assert response.status_code == 204
    assert all(n["read"] for n in inbox(as_user)["results"])
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_read_up_to_an_id(as_user, user):
    older, middle, newer = NotificationFactory.create_batch(3, recipient=user)

    response = as_user.post("/v1/notifications/read", {"up_to_id": middle.id}, format="json")

    assert response.status_code == 204
    read = {n["id"]: n["read"] for n in inbox(as_user)["results"]}
    assert read == {older.id: True, middle.id: True, newer.id: False}


@pytest.mark.parametrize("up_to_id", ["x", 0, -1, None])
def test_mark_read_rejects_a_bad_up_to_id(as_user, user, up_to_id):
    NotificationFactory(recipient=user)
    response = as_user.post("/v1/notifications/read", {"up_to_id": up_to_id}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["up_to_id"]
    assert not inbox(as_user)["results"][0]["read"]


@pytest.mark.parametrize("state", ["deleted_at", "hidden_at"])
def test_notifications_about_gone_posts_and_comments_disappear(as_user, user, state):
    about_post = NotificationFactory(recipient=user)
    comment = CommentFactory()
    about_comment = NotificationFactory(recipient=user, post=comment.post, comment=comment)
    kept = NotificationFactory(recipient=user)

    Post.objects.filter(pk=about_post.post_id).update(**{state: timezone.now()})
    type(comment).objects.filter(pk=comment.pk).update(**{state: timezone.now()})

    assert [n["id"] for n in inbox(as_user)["results"]] == [kept.id]
    assert about_comment.pk  # still stored, just not shown


def test_notification_list_query_count_does_not_grow_with_the_page(as_user, user, page_queries):
    url = "/v1/notifications?limit=40"
    NotificationFactory.create_batch(2, recipient=user)

    def grow():
        for actor in UserFactory.create_batch(4):
            NotificationFactory.create_batch(10, recipient=user, actor=actor)

    small, large, response = page_queries(as_user, url, grow)

    assert len(response.json()["results"]) == 40
    # viewer, the page with actors
    assert small == large == 2
