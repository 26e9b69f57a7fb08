import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from feed.models import FeedEntry
from feed.tests.test_feed import make_vip, vip_threshold  # noqa: F401 (a fixture)
from interactions.services.likes import drain_like_buffer
from posts import services as post_services
from posts.tests.factories import PostFactory
from posts.tests.test_rendering import moderator  # noqa: F401 (a fixture)
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def feed(client, **params) -> list[dict]:
    response = client.get("/v1/feed", params)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def shown(client) -> list[tuple[int, str | None]]:
    """(post id, reposter's username or None) of the first feed page."""
    return [(p["id"], p["reposted_by"] and p["reposted_by"]["username"]) for p in feed(client)]


def follow(client, *users) -> None:
    for someone in users:
        assert client.post(f"/v1/users/{someone.id}/follow").status_code == 201


def repost(client_for, reposter, post) -> None:
    assert client_for(reposter).post(f"/v1/posts/{post.id}/reposts").status_code == 201


def test_a_repost_reaches_the_reposters_followers_with_reposted_by(
    as_user, client_for, drain_outbox
):
    rex = UserFactory()
    follow(as_user, rex)
    post = PostFactory()  # by someone the reader does not follow
    assert shown(as_user) == []  # caches the (empty) head

    repost(client_for, rex, post)
    assert shown(as_user) == []  # pushed by a worker after commit
    drain_outbox()

    assert shown(as_user) == [(post.id, rex.username)]  # read from PostgreSQL, head cached
    with CaptureQueriesContext(connection) as queries:
        again = feed(as_user)
    assert again[0]["reposted_by"]["id"] == rex.id  # the cached head carries the reposter
    assert again[0]["author"]["id"] == post.author_id
    assert not any("feed" in q["sql"] for q in queries.captured_queries)  # from the head
    assert "reposted_by" not in client_for(rex).get(f"/v1/posts/{post.id}").json()


def test_a_post_is_shown_once_however_many_followees_reposted_it(as_user, client_for, drain_outbox):
    author, rex, pip = UserFactory(), UserFactory(), UserFactory()
    post = PostFactory(author=author)
    follow(as_user, rex, pip, author)  # backfills the author's post
    for reposter in (rex, pip):
        repost(client_for, reposter, post)
    drain_outbox()

    assert shown(as_user) == [(post.id, None)]  # the author's own entry came first
    as_user.delete(f"/v1/users/{author.id}/follow")
    other = PostFactory()
    repost(client_for, rex, other)
    repost(client_for, pip, other)
    drain_outbox()

    (only,) = shown(as_user)
    assert only[0] == other.id and only[1] in (rex.username, pip.username)


def test_unrepost_delete_and_hide_take_reposts_out_of_feeds(
    as_user,
    client_for,
    drain_outbox,
    moderator,  # noqa: F811
):
    rex = UserFactory()
    follow(as_user, rex)
    undone, deleted, hidden = PostFactory(), PostFactory(), PostFactory()
    for post in (undone, deleted, hidden):
        repost(client_for, rex, post)
    drain_outbox()
    assert {p for p, _ in shown(as_user)} == {undone.id, deleted.id, hidden.id}

    assert client_for(rex).delete(f"/v1/posts/{undone.id}/reposts").status_code == 204
    assert client_for(deleted.author).delete(f"/v1/posts/{deleted.id}").status_code == 204
    post_services.hide_post(hidden, actor=moderator, reason="spam")
    drain_outbox()

    assert shown(as_user) == []
    assert not FeedEntry.objects.filter(post_id__in=[undone.id, deleted.id, hidden.id]).exists()


def test_a_post_another_followee_still_reposts_stays_after_one_unreposts(
    as_user, client_for, drain_outbox
):
    rex, pip = UserFactory(), UserFactory()
    follow(as_user, rex, pip)
    post = PostFactory()  # by someone the reader does not follow
    repost(client_for, rex, post)
    drain_outbox()
    repost(client_for, pip, post)  # the feed has the post already: rex's entry stays
    drain_outbox()
    assert shown(as_user) == [(post.id, rex.username)]

    assert client_for(rex).delete(f"/v1/posts/{post.id}/reposts").status_code == 204
    drain_outbox()

    assert shown(as_user) == [(post.id, pip.username)]  # it was gone from the feed
    assert client_for(pip).delete(f"/v1/posts/{post.id}/reposts").status_code == 204
    drain_outbox()
    assert shown(as_user) == []


def test_a_post_of_a_followed_author_stays_after_the_repost_that_brought_it_goes(
    as_user, client_for, drain_outbox
):
    rex, author = UserFactory(), UserFactory()
    follow(as_user, rex)
    post = PostFactory(author=author)
    repost(client_for, rex, post)
    drain_outbox()
    follow(as_user, author)  # its backfill finds the post in the feed already
    assert shown(as_user) == [(post.id, rex.username)]

    assert client_for(rex).delete(f"/v1/posts/{post.id}/reposts").status_code == 204
    drain_outbox()

    assert shown(as_user) == [(post.id, None)]


def test_unfollowing_the_reposter_takes_the_repost_away(as_user, client_for, drain_outbox):
    rex = UserFactory()
    follow(as_user, rex)
    repost(client_for, rex, PostFactory())
    drain_outbox()
    assert len(shown(as_user)) == 1

    as_user.delete(f"/v1/users/{rex.id}/follow")

    assert shown(as_user) == []


def test_a_vip_reposter_is_pulled_at_read_time_once_per_post(
    vip_threshold,  # noqa: F811
    as_user,
    client_for,
):
    star, other_star = make_vip(UserFactory()), make_vip(UserFactory())
    famous = make_vip(UserFactory())
    follow(as_user, star, other_star, famous)
    post, theirs = PostFactory(), PostFactory(author=famous)

    repost(client_for, star, post)  # no fan-out: pulled
    repost(client_for, other_star, post)
    repost(client_for, star, theirs)

    got = shown(as_user)
    assert sorted(p for p, _ in got) == sorted([post.id, theirs.id])  # each once
    assert dict(got)[post.id] in (star.username, other_star.username)
    assert dict(got)[theirs.id] == star.username  # the newest occurrence: the repost

    client_for(star).delete(f"/v1/posts/{post.id}/reposts")
    client_for(other_star).delete(f"/v1/posts/{post.id}/reposts")
    assert [p for p, _ in shown(as_user)] == [theirs.id]


def test_a_cached_feed_with_reposts_is_read_without_sql(as_user, client_for, drain_outbox):
    rex, pal = UserFactory(), UserFactory()
    PostFactory(author=pal)
    follow(as_user, rex, pal)  # backfills pal's post
    repost(client_for, rex, PostFactory())
    drain_outbox()
    feed(as_user)  # caches the head, the posts, the reader's saved set
    feed(as_user)  # caches the summaries
    drain_like_buffer()  # builds the reader's liked set, as the beat job does

    with CaptureQueriesContext(connection) as queries:
        got = shown(as_user)

    assert len(queries) == 0
    assert [by for _, by in got] == [rex.username, None]


def test_blocked_and_muted_users_stay_out_as_authors_and_as_reposters(
    as_user,
    client_for,
    drain_outbox,
    vip_threshold,  # noqa: F811
):
    rex, blocked, muted, vip = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    make_vip(vip)
    follow(as_user, rex, muted, vip)
    by_blocked, by_stranger, by_other = PostFactory(author=blocked), PostFactory(), PostFactory()
    repost(client_for, rex, by_blocked)  # a followee reposts someone the reader blocks
    repost(client_for, muted, by_stranger)  # a muted followee reposts
    repost(client_for, vip, by_blocked)  # a pulled reposter, same blocked author
    repost(client_for, rex, by_other)
    drain_outbox()
    assert {post_id for post_id, _ in shown(as_user)} == {
        by_blocked.id,
        by_stranger.id,
        by_other.id,
    }

    assert as_user.post(f"/v1/users/{blocked.id}/block").status_code == 201
    assert as_user.post(f"/v1/users/{muted.id}/mute").status_code == 201

    assert shown(as_user) == [(by_other.id, rex.username)]  # the very next read
    assert feed(as_user) == feed(as_user)  # and the head cached from it
    assert as_user.post(f"/v1/posts/{by_blocked.id}/bookmark").status_code == 404
    assert as_user.delete(f"/v1/users/{muted.id}/mute").status_code == 204
    assert {post_id for post_id, _ in shown(as_user)} == {by_stranger.id, by_other.id}


def test_a_bookmarked_post_leaves_the_list_when_its_author_blocks_the_reader(
    user, as_user, client_for
):
    author = UserFactory()
    post = PostFactory(author=author)
    assert as_user.post(f"/v1/posts/{post.id}/bookmark").status_code == 201
    listed = as_user.get("/v1/users/me/bookmarks").json()["results"]
    assert [p["id"] for p in listed] == [post.id]

    assert client_for(author).post(f"/v1/users/{user.id}/block").status_code == 201

    assert as_user.get("/v1/users/me/bookmarks").json()["results"] == []
    assert as_user.get(f"/v1/posts/{post.id}").status_code == 404
