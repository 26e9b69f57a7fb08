"""A feed that never ends early: past the entries stored for the owner (the cap, a
follow's backfill, a rebuild), pages continue from the followees' own posts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from feed import heads, services
from feed.models import FeedEntry, FeedFloor
from feed.tests.test_feed import make_vip, read_all, vip_threshold  # noqa: F401
from interactions.services.likes import drain_like_buffer
from posts.models import Post
from posts.tests.factories import PostFactory
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def history(authors: list[User], count: int, *, every: list[int] | None = None) -> list[Post]:
    """`count` posts in all, the i-th by authors[i % len], one a minute back from now; or,
    with `every`, each author's posts `every[k]` minutes apart: newest first."""
    now = timezone.now()
    if every is None:
        when = [(now - timedelta(minutes=i), authors[i % len(authors)]) for i in range(count)]
    else:
        when = [
            (now - timedelta(minutes=step * i + k), author)
            for k, (author, step) in enumerate(zip(authors, every, strict=True))
            for i in range(count // len(authors))
        ]
    posts = [PostFactory(author=author, created_at=at) for at, author in when]
    return sorted(posts, key=lambda p: (p.created_at, p.id), reverse=True)


def follow_all(client, authors: list[User]) -> None:
    for author in authors:
        assert client.post(f"/v1/users/{author.id}/follow").status_code == 201


def pushed_then_capped(settings, authors: list[User], posts: list[Post], cap: int) -> None:
    settings.FEED_MAX_ENTRIES = cap
    for post in reversed(posts):  # as they were published
        services.push_post(post)
    services.trim_feeds()


def test_scrolling_past_the_cap_gets_every_post_once_in_order(as_user, user, settings):
    pals = [UserFactory() for _ in range(10)]
    follow_all(as_user, pals)
    posts = history(pals, 1000)
    pushed_then_capped(settings, pals, posts, cap=50)
    assert FeedEntry.objects.filter(owner=user).count() == 50

    assert read_all(as_user, limit=20) == [p.id for p in posts]


def test_a_new_follower_scrolls_past_the_backfill_without_a_gap(as_user, user, settings):
    settings.FEED_BACKFILL_POSTS = 10
    # one posting every minute, one every 10, one every 20: the newest 10 of each are
    # not the newest 30 of the feed, so reading on through them would skip posts
    pals = [UserFactory() for _ in range(3)]
    posts = history(pals, 90, every=[1, 10, 20])
    follow_all(as_user, pals)
    assert FeedEntry.objects.filter(owner=user).count() == 30

    assert read_all(as_user, limit=3) == [p.id for p in posts]


@pytest.mark.usefixtures("vip_threshold")
def test_vip_posts_and_hidden_or_deleted_ones_past_the_stored_entries(as_user, user, settings):
    star = make_vip(UserFactory())
    pal = UserFactory()
    follow_all(as_user, [star, pal])
    posts = history([star, pal], 80)
    pushed_then_capped(settings, [pal], posts, cap=10)
    assert not FeedEntry.objects.filter(owner=user, author=star).exists()  # pulled
    now = timezone.now()
    gone = [posts[30].id, posts[45].id, posts[77].id]  # of both, below the stored entries
    Post.objects.filter(pk__in=gone[:2]).update(hidden_at=now)
    Post.objects.filter(pk=gone[2]).update(deleted_at=now)

    assert read_all(as_user, limit=7) == [p.id for p in posts if p.id not in gone]


def test_a_rebuilt_feed_continues_past_what_the_rebuild_wrote(client_for, settings):
    settings.FEED_BACKFILL_POSTS = 10
    settings.FEED_MAX_ENTRIES = 25
    pals = [UserFactory() for _ in range(3)]
    sleeper = UserFactory()
    follow_all(client_for(sleeper), pals)  # no posts yet: nothing backfilled
    posts = history(pals, 60, every=[1, 2, 5])
    FeedEntry.objects.filter(owner=sleeper).delete()

    assert services.rebuild_feed(sleeper.pk) == 25  # 10 of each pal's, then the cap
    assert read_all(client_for(sleeper), limit=3) == [p.id for p in posts]


@pytest.mark.usefixtures("vip_threshold")
def test_a_demoted_vips_older_posts_are_not_lost(as_user, user, drain_outbox):
    star = make_vip(UserFactory())
    pal = UserFactory()
    follow_all(as_user, [star, pal])
    posts = history([star, pal], 120, every=[3, 2])
    for post in posts:
        services.push_post(post)  # the pal's; the star's are pulled

    User.objects.filter(pk=star.pk).update(follower_count=1)
    services.refresh_vips()  # demoted: only its newest posts are pushed
    drain_outbox()
    assert FeedEntry.objects.filter(owner=user, author=star).count() == 20

    assert read_all(as_user, limit=8) == [p.id for p in posts]


def warm_up_first_page(client, limit: int) -> None:
    client.get("/v1/feed", {"limit": limit})  # caches the head and the posts
    client.get("/v1/feed", {"limit": limit})  # caches their authors' summaries
    drain_like_buffer()  # builds the reader's liked set, as the beat job does


def test_a_first_page_from_the_head_has_a_cursor_when_more_posts_follow(
    as_user, user, settings, count_queries
):
    pal = UserFactory()
    follow_all(as_user, [pal])
    size = settings.FEED_HEAD_SIZE
    posts = history([pal], size + 5)
    pushed_then_capped(settings, [pal], posts, cap=size + 20)  # all stored: no floor
    warm_up_first_page(as_user, size)

    queries, first = count_queries(lambda: as_user.get("/v1/feed", {"limit": size}))
    assert queries == 0  # served from the head
    assert [p["id"] for p in first.json()["results"]] == [p.id for p in posts[:size]]
    rest = as_user.get("/v1/feed", {"limit": size, "cursor": first.json()["next_cursor"]})
    assert [p["id"] for p in rest.json()["results"]] == [p.id for p in posts[size:]]

    FeedEntry.objects.filter(owner=user, post__in=posts[3:]).delete()
    FeedFloor.objects.create(owner=user, created_at=posts[3].created_at, post_id=posts[3].id)
    heads.invalidate([user.pk])  # as any change of the entries does
    warm_up_first_page(as_user, 3)  # the head: 3 entries, then the pal's own posts
    queries, first = count_queries(lambda: as_user.get("/v1/feed", {"limit": 3}))
    assert queries == 0
    assert first.json()["next_cursor"] is not None
    assert read_all(as_user, limit=size) == [p.id for p in posts]


def test_a_page_past_the_stored_entries_costs_the_same_however_many_followees(
    as_user, user, settings, page_queries, count_queries
):
    pals = [UserFactory() for _ in range(3)]
    follow_all(as_user, pals)
    posts = history(pals, 60)
    pushed_then_capped(settings, pals, posts, cap=5)
    first = as_user.get("/v1/feed", {"limit": 10}).json()
    url = f"/v1/feed?limit=10&cursor={first['next_cursor']}"

    def more_followees():
        more = [UserFactory() for _ in range(5)]
        follow_all(as_user, more)
        history(more, 50)

    small, large, response = page_queries(as_user, url, more_followees)

    assert len(response.json()["results"]) == 10
    assert small == large
    as_user.get(url)  # caches the new posts' authors' summaries
    cached, _ = count_queries(lambda: as_user.get(url))
    assert cached == 2  # the page query, which finds the floor, then the one pulling
