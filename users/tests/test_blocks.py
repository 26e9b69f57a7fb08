"""Block and mute: what each side then sees, through every cache, on the very next request."""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import NotFound

from feed import services as feed_services
from feed.models import FeedEntry, VipAuthor
from feed.tests.factories import make_followers
from interactions.models import Notification
from interactions.services.likes import drain_like_buffer
from interactions.tests.factories import CommentFactory, NotificationFactory, ReportFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users import services
from users.models import Block, Follow, Mute, User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(client_for):
    """(me, my client, them, their client)."""
    me, them = UserFactory(), UserFactory()
    return me, client_for(me), them, client_for(them)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def feed_ids(client) -> list[int]:
    return ids(client.get("/v1/feed"))


# --- the endpoints -------------------------------------------------------------------


def test_block_is_201_then_200_and_unblock_204_idempotent(pair):
    me, client, them, _ = pair
    first = client.post(f"/v1/users/{them.id}/block")
    assert first.status_code == 201
    assert first.json()["id"] == them.id
    assert client.post(f"/v1/users/{them.id}/block").status_code == 200
    assert Block.objects.filter(blocker=me, blocked=them).count() == 1
    assert client.delete(f"/v1/users/{them.id}/block").status_code == 204
    assert client.delete(f"/v1/users/{them.id}/block").status_code == 204
    assert not Block.objects.exists()


def test_mute_is_201_then_200_and_unmute_204(pair):
    me, client, them, _ = pair
    assert client.post(f"/v1/users/{them.id}/mute").status_code == 201
    assert client.post(f"/v1/users/{them.id}/mute").status_code == 200
    assert Mute.objects.filter(muter=me, muted=them).count() == 1
    assert client.delete(f"/v1/users/{them.id}/mute").status_code == 204
    assert client.delete(f"/v1/users/{them.id}/mute").status_code == 204
    assert not Mute.objects.exists()


@pytest.mark.parametrize("what", ["block", "mute"])
def test_blocking_or_muting_yourself_is_a_400_in_the_error_format(as_user, user, what):
    response = as_user.post(f"/v1/users/{user.id}/{what}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "user" in response.json()["error"]["fields"]


@pytest.mark.parametrize("what", ["block", "mute"])
def test_unknown_users_are_404_and_anonymous_callers_401(api, as_user, what):
    assert as_user.post(f"/v1/users/999999/{what}").status_code == 404
    assert api.post(f"/v1/users/999999/{what}").status_code == 401
    assert api.get(f"/v1/users/me/{what}s").status_code == 401


@pytest.mark.parametrize("what", ["block", "mute"])
def test_my_lists_newest_first_in_constant_queries(as_user, page_queries, what):
    targets = UserFactory.create_batch(3)
    for target in targets:
        assert as_user.post(f"/v1/users/{target.id}/{what}").status_code == 201

    def more():
        for target in UserFactory.create_batch(25):
            as_user.post(f"/v1/users/{target.id}/{what}")

    small, large, response = page_queries(as_user, f"/v1/users/me/{what}s?limit=30", more)
    assert small == large
    assert len(response.json()["results"]) == 28
    first_page = ids(as_user.get(f"/v1/users/me/{what}s?limit=2"))
    assert len(first_page) == 2 and first_page[0] > first_page[1]  # newest first


def test_my_mutes_show_whether_i_follow_them(as_user):
    followed, other = UserFactory(), UserFactory()
    as_user.post(f"/v1/users/{followed.id}/follow")
    for target in (followed, other):
        as_user.post(f"/v1/users/{target.id}/mute")
    listed = {
        u["id"]: u["is_following"] for u in as_user.get("/v1/users/me/mutes").json()["results"]
    }
    assert listed == {followed.id: True, other.id: False}


def test_concurrent_double_block_creates_one_row(transactional_db):
    me, them = UserFactory(), UserFactory()
    Follow.objects.create(follower=me, followee=them)
    User.objects.filter(pk=me.pk).update(following_count=1)
    User.objects.filter(pk=them.pk).update(follower_count=1)
    results, barrier = [], threading.Barrier(2)

    def block():
        barrier.wait()
        try:
            results.append(services.block_user(blocker=me, blocked=them))
        finally:
            connection.close()

    threads = [threading.Thread(target=block) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, True]
    assert Block.objects.count() == 1
    assert User.objects.get(pk=me.pk).following_count == 0
    assert User.objects.get(pk=them.pk).follower_count == 0


def test_a_follow_racing_a_block_never_outlives_it(transactional_db):
    me, them = UserFactory(), UserFactory()
    for _ in range(5):
        barrier = threading.Barrier(2)

        def run(action, barrier=barrier):
            barrier.wait()
            try:
                action()
            except NotFound:
                pass  # the follow saw the block
            finally:
                connection.close()

        threads = [
            threading.Thread(target=run, args=(lambda: services.follow(them, followee=me),)),
            threading.Thread(
                target=run, args=(lambda: services.block_user(blocker=me, blocked=them),)
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not Follow.objects.exists()
        them.refresh_from_db()
        assert them.following_count == 0
        services.unblock_user(blocker=me, blocked=them)


# --- what a block does ----------------------------------------------------------------


def test_block_removes_both_follows_with_counters_and_feed_entries(pair, drain_outbox):
    me, client, them, their_client = pair
    client.post(f"/v1/users/{them.id}/follow")
    their_client.post(f"/v1/users/{me.id}/follow")
    mine = PostFactory(author=me)
    theirs = PostFactory(author=them)
    for post in (mine, theirs):
        feed_services.push_post(post)
    assert feed_ids(client) == [theirs.id] and feed_ids(their_client) == [mine.id]  # cached

    assert client.post(f"/v1/users/{them.id}/block").status_code == 201

    assert not Follow.objects.exists()
    for user in (me, them):
        user.refresh_from_db()
        assert (user.follower_count, user.following_count) == (0, 0)
    assert not FeedEntry.objects.exists()
    assert feed_ids(client) == [] and feed_ids(their_client) == []
    assert client.get("/v1/users/me").json()["following_count"] == 0


@pytest.mark.parametrize("blocker_is_me", [True, False])
def test_each_is_hidden_from_the_other_everywhere_until_unblocked(pair, blocker_is_me):
    me, client, them, their_client = pair
    post_id = their_client.post("/v1/posts", {"content": "a #corgi named biscuit"}, format="json")
    post = Post.objects.get(pk=post_id.json()["id"])
    mine_id = client.post("/v1/posts", {"content": "my #corgi called biscuit"}, format="json")
    mine = Post.objects.get(pk=mine_id.json()["id"])
    their_client.post(f"/v1/posts/{post.id}/pin")
    CommentFactory(post=mine, author=them)
    paths = [
        f"/v1/users/{them.id}",
        f"/v1/users/@{them.username}",
        f"/v1/users/{them.id}/posts",
        f"/v1/users/{them.id}/pinned",
        f"/v1/users/{them.id}/likes",
        f"/v1/users/{them.id}/followers",
        f"/v1/posts/{post.id}",
        f"/v1/posts/{post.id}/comments",
    ]
    for path in paths:  # all seen (and cached) before
        assert client.get(path).status_code == 200, path
    assert post.id in ids(client.get("/v1/search/posts?q=biscuit"))
    assert them.id in ids(client.get(f"/v1/search/users?q={them.username}"))
    assert post.id in ids(client.get("/v1/hashtags/corgi/posts"))
    assert len(ids(client.get(f"/v1/posts/{mine.id}/comments"))) == 1

    blocker, blocked = (client, them) if blocker_is_me else (their_client, me)
    assert blocker.post(f"/v1/users/{blocked.id}/block").status_code == 201

    for path in paths:
        assert client.get(path).status_code == 404, path
    assert client.get(f"/v1/users/{me.id}").status_code == 200  # myself, of course
    assert their_client.get(f"/v1/users/{me.id}").status_code == 404
    assert their_client.get(f"/v1/posts/{mine.id}").status_code == 404
    assert ids(client.get("/v1/search/posts?q=biscuit")) == [mine.id]
    assert ids(their_client.get("/v1/search/posts?q=biscuit")) == [post.id]
    assert them.id not in ids(client.get(f"/v1/search/users?q={them.username}"))
    assert ids(client.get("/v1/hashtags/corgi/posts")) == [mine.id]
    assert ids(client.get(f"/v1/posts/{mine.id}/comments")) == []
    # no follow, like or comment between them
    assert client.post(f"/v1/users/{them.id}/follow").status_code == 404
    assert their_client.post(f"/v1/users/{me.id}/follow").status_code == 404
    assert client.post(f"/v1/posts/{post.id}/likes").status_code == 404
    assert their_client.post(f"/v1/posts/{mine.id}/likes").status_code == 404
    comment = {"content": "hi"}
    for commenter, target in ((client, post), (their_client, mine)):
        response = commenter.post(f"/v1/posts/{target.id}/comments", comment, format="json")
        assert response.status_code == 404
    assert not Follow.objects.exists()

    # the blocker can still list and lift it; everything is back on the next read
    if blocker_is_me:
        assert ids(client.get("/v1/users/me/blocks")) == [them.id]
    assert blocker.delete(f"/v1/users/{blocked.id}/block").status_code == 204
    for path in paths:
        assert client.get(path).status_code == 200, path
    assert client.post(f"/v1/posts/{post.id}/likes").status_code == 201


def test_a_cached_post_is_404_on_the_very_next_read_after_a_block(pair):
    me, client, them, _ = pair
    post = PostFactory(author=them)
    for _ in range(3):  # the post, its card, the viewer's sets: all cached
        assert client.get(f"/v1/posts/{post.id}").status_code == 200
    drain_like_buffer()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/v1/posts/{post.id}").status_code == 200
    assert len(queries) == 0  # a viewer with nothing hidden pays no SQL

    services.block_user(blocker=them, blocked=me)
    assert client.get(f"/v1/posts/{post.id}").status_code == 404
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/v1/posts/{post.id}").status_code == 404
    assert len(queries) == 0  # the rebuilt set answers from Redis again
    services.unblock_user(blocker=them, blocked=me)
    assert client.get(f"/v1/posts/{post.id}").status_code == 200


def test_with_redis_down_a_blocked_authors_post_is_still_404(pair, settings):
    me, client, them, _ = pair
    post, mine = PostFactory(author=them), PostFactory(author=me)
    services.block_user(blocker=them, blocked=me)
    settings.REDIS_URL = settings.LIKE_BUFFER_REDIS_URL = "redis://127.0.0.1:1/0"

    assert client.get(f"/v1/posts/{post.id}").status_code == 404
    assert client.get(f"/v1/posts/{mine.id}").status_code == 200
    assert client.post(f"/v1/posts/{post.id}/likes").status_code == 404


def test_likes_are_refused_through_the_cached_path_too(pair):
    me, client, them, _ = pair
    post = PostFactory(author=them)
    client.get(f"/v1/posts/{post.id}")
    client.get(f"/v1/posts/{post.id}")
    drain_like_buffer()
    assert client.post(f"/v1/posts/{post.id}/likes").status_code == 201
    services.block_user(blocker=me, blocked=them)
    assert client.get(f"/v1/posts/{post.id}").status_code == 404  # rebuilds the set
    assert client.post(f"/v1/posts/{post.id}/likes").status_code == 404
    assert client.delete(f"/v1/posts/{post.id}/likes").status_code == 404


def test_notifications_between_them_stop_and_old_ones_are_not_listed(pair):
    me, client, them, their_client = pair
    mine = PostFactory(author=me)
    NotificationFactory(recipient=me, actor=them, type=Notification.Type.FOLLOW)
    assert len(ids(client.get("/v1/notifications"))) == 1

    services.block_user(blocker=me, blocked=them)

    assert ids(client.get("/v1/notifications")) == []
    assert client.get("/v1/notifications?grouped=true").json()["results"] == []
    # a mention from them notifies no one
    their_post = their_client.post("/v1/posts", {"content": f"hi @{me.username}"}, format="json")
    assert their_post.status_code == 201
    assert not Notification.objects.filter(type=Notification.Type.MENTION).exists()
    assert (
        client.post(f"/v1/posts/{mine.id}/comments", {"content": "x"}, format="json").status_code
        == 201
    )


def test_block_of_a_vip_author_takes_their_pulled_posts_out_of_the_feed(
    settings, pair, drain_outbox
):
    settings.VIP_FOLLOWER_THRESHOLD, settings.VIP_EXIT_FOLLOWER_THRESHOLD = 3, 2
    me, client, star, _ = pair
    make_followers(star, 3)
    feed_services.refresh_vips()
    assert VipAuthor.objects.filter(user=star).exists()
    client.post(f"/v1/users/{star.id}/follow")
    post = PostFactory(author=star)
    assert feed_ids(client) == [post.id]

    services.block_user(blocker=star, blocked=me)

    assert feed_ids(client) == []
    assert client.get(f"/v1/posts/{post.id}").status_code == 404


# --- what a mute does -------------------------------------------------------------------


def test_mute_takes_a_followee_out_of_my_feed_at_once_and_unmute_brings_them_back(
    pair, drain_outbox
):
    me, client, them, _ = pair
    pal = UserFactory()
    for followee in (them, pal):
        client.post(f"/v1/users/{followee.id}/follow")
    theirs, pals = PostFactory(author=them), PostFactory(author=pal)
    for post in (theirs, pals):
        feed_services.push_post(post)
    assert feed_ids(client) == [pals.id, theirs.id]  # the head is cached now

    client.post(f"/v1/users/{them.id}/mute")
    assert feed_ids(client) == [pals.id]
    later = PostFactory(author=them)
    feed_services.push_post(later)  # still pushed: they are followed
    assert feed_ids(client) == [pals.id]
    assert Follow.objects.filter(follower=me, followee=them).exists()

    client.delete(f"/v1/users/{them.id}/mute")
    assert feed_ids(client) == [later.id, pals.id, theirs.id]


def test_mute_of_a_vip_followee_leaves_their_pulled_posts_out(settings, pair):
    settings.VIP_FOLLOWER_THRESHOLD, settings.VIP_EXIT_FOLLOWER_THRESHOLD = 3, 2
    _, client, star, _ = pair
    make_followers(star, 3)
    feed_services.refresh_vips()
    client.post(f"/v1/users/{star.id}/follow")
    post = PostFactory(author=star)
    assert feed_ids(client) == [post.id]
    client.post(f"/v1/users/{star.id}/mute")
    assert feed_ids(client) == []
    assert client.get(f"/v1/posts/{post.id}").status_code == 200  # a mute hides no post


def test_mute_hides_search_comments_and_notifications_and_they_are_not_told(pair):
    me, client, them, their_client = pair
    mine = PostFactory(author=me, content="biscuit the corgi")
    theirs = PostFactory(author=them, content="biscuit again")
    CommentFactory(post=mine, author=them)
    NotificationFactory(recipient=me, actor=them, type=Notification.Type.FOLLOW)

    client.post(f"/v1/users/{them.id}/mute")

    assert ids(client.get("/v1/search/posts?q=biscuit")) == [mine.id]
    assert ids(client.get(f"/v1/posts/{mine.id}/comments")) == []
    assert ids(client.get("/v1/notifications")) == []
    comment = {"content": f"hey @{me.username}"}
    assert (
        their_client.post(f"/v1/posts/{mine.id}/comments", comment, format="json").status_code
        == 201
    )
    their_client.post(f"/v1/users/{me.id}/follow")
    their_client.post(f"/v1/posts/{mine.id}/likes")
    drain_like_buffer()
    assert not Notification.objects.filter(recipient=me).exclude(type="follow").exists()
    assert Notification.objects.filter(recipient=me).count() == 1  # the old one, unlisted
    # they see nothing different
    assert their_client.get(f"/v1/users/{me.id}").status_code == 200
    assert their_client.get(f"/v1/posts/{mine.id}").status_code == 200
    assert theirs.id in ids(their_client.get("/v1/search/posts?q=biscuit"))
    assert ids(client.get("/v1/users/me/mutes")) == [them.id]


# --- moderators ---------------------------------------------------------------------


def test_the_admin_user_page_shows_blocks_and_reports(client, pair):
    me, _, them, _ = pair
    moderator = UserFactory(role=User.Role.MODERATOR, is_staff=True)
    services.block_user(blocker=me, blocked=them)
    other = UserFactory(username="pest_one")
    services.block_user(blocker=other, blocked=me)
    report = ReportFactory(reporter=me, post=PostFactory(author=them))
    received = ReportFactory(post=PostFactory(author=me))
    client.force_login(moderator)

    page = client.get(f"/admin/users/user/{me.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode().lower()
    for text in ("blocked (by them)", them.username, "blocked by", "pest_one"):
        assert text in html
    assert f"report {report.pk}" in html and f"report {received.pk}" in html


def test_a_viewer_with_blocks_and_mutes_reads_cached_pages_without_sql(pair, drain_outbox):
    me, client, them, _ = pair
    pal = UserFactory()
    client.post(f"/v1/users/{pal.id}/follow")
    for user in UserFactory.create_batch(5):
        services.block_user(blocker=me, blocked=user)
        services.mute_user(muter=me, muted=UserFactory())
    services.block_user(blocker=them, blocked=me)
    post = PostFactory(author=pal)
    feed_services.push_post(post)
    for _ in range(3):  # builds the feed head, the renderings, the hidden set
        assert feed_ids(client) == [post.id]
        client.get(f"/v1/posts/{post.id}")
    drain_like_buffer()  # the liked set, as the beat job builds it

    with CaptureQueriesContext(connection) as queries:
        assert feed_ids(client) == [post.id]
        assert client.get(f"/v1/posts/{post.id}").status_code == 200
    assert len(queries) == 0
