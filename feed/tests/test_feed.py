from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feed import selectors, services
from feed.models import DormantFeed, FeedEntry, OutboxEvent, VipAuthor
from feed.tests.factories import make_followers
from interactions.services.likes import drain_like_buffer
from posts.models import Post
from posts.tests.factories import PostFactory
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def post_as(client_for, author: User, content: str = "woof") -> int:
    response = client_for(author).post("/v1/posts", {"content": content}, format="json")
    assert response.status_code == 201
    return response.json()["id"]


def feed_ids(client, **params) -> list[int]:
    response = client.get("/v1/feed", params)
    assert response.status_code == 200, response.content
    return [post["id"] for post in response.json()["results"]]


def read_all(client, limit: int) -> list[int]:
    ids, cursor = [], None
    while True:
        page = client.get("/v1/feed", {"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200
        ids += [post["id"] for post in page.json()["results"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return ids


@pytest.fixture
def vip_threshold(settings):
    settings.VIP_FOLLOWER_THRESHOLD = 3
    settings.VIP_EXIT_FOLLOWER_THRESHOLD = 2
    return settings


def is_write(sql: str) -> bool:
    return sql.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}


def make_vip(author: User) -> User:
    make_followers(author, 3)
    services.refresh_vips()
    assert VipAuthor.objects.filter(user=author).exists()
    return author


def test_feed_needs_a_token(api):
    assert api.get("/v1/feed").status_code == 401


def test_follow_backfills_recent_posts_newest_first(as_user, user):
    bella = UserFactory()
    old, new = PostFactory(author=bella), PostFactory(author=bella)
    as_user.post(f"/v1/users/{bella.id}/follow")

    body = as_user.get("/v1/feed").json()

    assert [p["id"] for p in body["results"]] == [new.id, old.id]
    assert body["results"][0]["author"]["username"] == bella.username
    assert body["results"][0]["liked_by_me"] is False
    assert body["next_cursor"] is None


def test_new_post_reaches_followers_after_fan_out(client_for, as_user, user, drain_outbox):
    bella = UserFactory()
    as_user.post(f"/v1/users/{bella.id}/follow")
    assert feed_ids(as_user) == []
    post_id = post_as(client_for, bella)

    assert feed_ids(as_user) == []  # ordinary author: pushed by a worker after commit
    drain_outbox()
    assert feed_ids(as_user) == [post_id]
    assert drain_outbox() == 0  # acknowledged


@pytest.mark.parametrize(("chunk", "chunks"), [(100, 3), (50, 5)])
def test_fan_out_is_idempotent_and_set_based(count_queries, settings, chunk, chunks):
    settings.FEED_FANOUT_CHUNK = chunk
    author = UserFactory()
    fans = make_followers(author, 250)
    post = PostFactory(author=author)
    services.announce_new_post(post)
    event = OutboxEvent.objects.get(post=post)

    queries, _ = count_queries(lambda: services.process_event(event.pk))
    services.process_event(event.pk)
    services.push_post(post)  # a redelivery after the event was processed changes nothing

    # exactly: 5 for the event (one caches the post: rendering.cache_posts), then 3 per
    # chunk of followers, never one per follower
    assert queries == 5 + 3 * chunks
    assert FeedEntry.objects.filter(post=post).count() == len(fans)
    assert OutboxEvent.objects.get(pk=event.pk).processed_at is not None


def test_vip_posts_are_merged_at_read_time_in_order(vip_threshold, client_for, as_user):
    star = make_vip(UserFactory())
    pal = UserFactory()
    as_user.post(f"/v1/users/{star.id}/follow")
    as_user.post(f"/v1/users/{pal.id}/follow")
    now = timezone.now()
    posts = [
        PostFactory(author=author, created_at=now - timedelta(minutes=m))
        for m, author in enumerate([star, pal, star, pal, star])
    ]
    for post in posts:
        services.push_post(post)

    assert feed_ids(as_user) == [p.id for p in posts]
    assert not FeedEntry.objects.filter(author=star).exists()  # pulled, not pushed


def test_pages_never_duplicate_or_skip_while_posts_arrive(
    vip_threshold, client_for, as_user, user, drain_outbox
):
    star = make_vip(UserFactory())
    pal = UserFactory()
    as_user.post(f"/v1/users/{star.id}/follow")
    as_user.post(f"/v1/users/{pal.id}/follow")
    same_time = timezone.now() - timedelta(hours=1)
    before = [PostFactory(author=a, created_at=same_time) for a in [star, pal] * 4]
    before += [PostFactory(author=a) for a in [pal, star, pal]]
    for post in before:
        services.push_post(post)
    expected = feed_ids(as_user, limit=100)
    assert sorted(expected) == sorted(p.id for p in before)

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = as_user.get("/v1/feed", params).json()
        seen += [p["id"] for p in page["results"]]
        cursor = page["next_cursor"]
        post_as(client_for, star, "new from the star")  # arrives between pages
        post_as(client_for, pal, "new from a pal")
        drain_outbox()
        if cursor is None:
            break

    assert seen == expected


def test_pages_stay_whole_past_many_hidden_posts(as_user, user):
    bella = UserFactory()
    as_user.post(f"/v1/users/{bella.id}/follow")
    now = timezone.now()
    posts = [PostFactory(author=bella, created_at=now - timedelta(minutes=m)) for m in range(40)]
    for post in posts:
        services.push_post(post)
    # hidden, but still in feeds until the retraction is processed: more than a window
    hidden = [p.id for p in posts[2:30]]
    Post.objects.filter(pk__in=hidden).update(hidden_at=now)

    seen = read_all(as_user, limit=3)

    assert seen == [p.id for p in posts if p.id not in hidden]


def test_tampered_cursor_and_bad_limit_are_400(as_user):
    assert as_user.get("/v1/feed", {"cursor": "garbage"}).status_code == 400
    assert as_user.get("/v1/feed", {"limit": 0}).status_code == 400


def test_unfollow_removes_pushed_and_vip_posts(vip_threshold, as_user, drain_outbox):
    star = make_vip(UserFactory())
    pal, other = UserFactory(), UserFactory()
    for author in (star, pal, other):
        PostFactory(author=author)
        as_user.post(f"/v1/users/{author.id}/follow")
    kept = Post.objects.get(author=other).id
    assert len(feed_ids(as_user)) == 3

    as_user.delete(f"/v1/users/{star.id}/follow")
    as_user.delete(f"/v1/users/{pal.id}/follow")

    assert feed_ids(as_user) == [kept]


def test_deleted_and_hidden_posts_leave_feeds_and_unhidden_return(
    client_for, as_user, drain_outbox
):
    bella = UserFactory()
    as_user.post(f"/v1/users/{bella.id}/follow")
    gone, hidden = post_as(client_for, bella), post_as(client_for, bella)
    drain_outbox()

    assert client_for(bella).delete(f"/v1/posts/{gone}").status_code == 204
    post = Post.objects.get(pk=hidden)
    Post.objects.filter(pk=hidden).update(hidden_at=timezone.now())  # what moderation does
    services.retract_post(post)
    assert feed_ids(as_user) == []  # filtered at read time already
    drain_outbox()
    assert not FeedEntry.objects.filter(post_id__in=[gone, hidden]).exists()

    Post.objects.filter(pk=hidden).update(hidden_at=None)
    services.restore_post(post)
    drain_outbox()
    assert feed_ids(as_user) == [hidden]


def test_vip_status_has_hysteresis(vip_threshold, drain_outbox):
    author = UserFactory()
    fans = make_followers(author, 3)
    first = PostFactory(author=author)
    services.announce_new_post(first)
    drain_outbox()
    assert VipAuthor.objects.filter(user=author).exists()
    assert not FeedEntry.objects.filter(author=author).exists()

    User.objects.filter(pk=author.pk).update(follower_count=2)  # between the thresholds
    services.refresh_vips()
    assert VipAuthor.objects.filter(user=author).exists()

    User.objects.filter(pk=author.pk).update(follower_count=1)
    services.refresh_vips()
    drain_outbox()
    assert not VipAuthor.objects.filter(user=author).exists()
    # back to push: the post that was only pulled so far is now in every feed
    assert FeedEntry.objects.filter(post=first).count() == len(fans)


def test_inactive_owners_are_skipped_then_pulled_on_read_and_rebuilt_by_a_worker(
    client_for, drain_outbox, settings, count_queries
):
    bella = UserFactory()
    sleeper, awake = make_followers(bella, 2)
    User.objects.filter(pk=sleeper.pk).update(
        last_active_at=timezone.now() - timedelta(days=settings.FEED_INACTIVE_DAYS + 1)
    )
    services.mark_dormant_feeds()  # the beat job
    post_id = post_as(client_for, bella)
    drain_outbox()
    assert list(FeedEntry.objects.filter(post_id=post_id).values_list("owner", flat=True)) == [
        awake.pk
    ]

    reader = client_for(sleeper)
    with CaptureQueriesContext(connection) as read:
        assert feed_ids(reader) == [post_id]  # pulled from every followee
    assert not [q for q in read.captured_queries if is_write(q["sql"])]
    assert DormantFeed.objects.filter(owner=sleeper).exists()  # the GET wrote nothing

    services.wake_feed(sleeper.pk)  # the task that read asked for
    assert not DormantFeed.objects.filter(owner=sleeper).exists()
    assert FeedEntry.objects.filter(owner=sleeper, post_id=post_id).exists()
    assert feed_ids(reader) == [post_id]


def test_trim_keeps_the_newest_entries(settings):
    settings.FEED_MAX_ENTRIES = 5
    settings.FEED_TRIM_BATCH = 1
    bella = UserFactory()
    fan, other = make_followers(bella, 2)
    now = timezone.now()
    posts = [PostFactory(author=bella, created_at=now - timedelta(minutes=m)) for m in range(8)]
    for post in posts:
        services.push_post(post)
    FeedEntry.objects.filter(owner=other, post__in=posts[3:]).delete()

    removed = services.trim_feeds()

    assert removed == 3
    kept = FeedEntry.objects.filter(owner=fan).values_list("post_id", flat=True)
    assert sorted(kept) == sorted(p.id for p in posts[:5])
    assert FeedEntry.objects.filter(owner=other).count() == 3


def test_feed_read_is_a_fixed_number_of_queries(vip_threshold, as_user, user, count_queries):
    pals = [UserFactory() for _ in range(3)]
    for pal in pals:
        as_user.post(f"/v1/users/{pal.id}/follow")
        for _ in range(4):
            services.push_post(PostFactory(author=pal))
    first = as_user.get("/v1/feed", {"limit": 5})  # caches the head and the posts
    as_user.get("/v1/feed", {"limit": 5})  # caches their authors' summaries
    drain_like_buffer()  # builds the reader's liked set, as the beat job does

    second_page = {"limit": 5, "cursor": first.json()["next_cursor"]}
    as_user.get("/v1/feed", second_page)  # caches its posts ...
    as_user.get("/v1/feed", second_page)  # ... and the summaries of authors new to it

    cached, _ = count_queries(lambda: as_user.get("/v1/feed", {"limit": 5}))
    next_page, _ = count_queries(lambda: as_user.get("/v1/feed", second_page))
    for _ in range(3):
        star = make_vip(UserFactory())
        PostFactory.create_batch(3, author=star)
        as_user.post(f"/v1/users/{star.id}/follow")
    as_user.get("/v1/feed", {"limit": 20})
    as_user.get("/v1/feed", {"limit": 20})
    with_vips, response = count_queries(lambda: as_user.get("/v1/feed", {"limit": 20}))

    assert len(response.json()["results"]) == 20
    assert cached == 0  # token, head, posts, likes: all from Redis
    assert next_page == 1  # the merged page query
    assert with_vips == 1  # the same one query, however many VIPs are followed


def test_failing_feed_path_serves_popular_posts_not_500(as_user, monkeypatch):
    popular = PostFactory(like_count=7)
    PostFactory(like_count=1)

    def broken(*args, **kwargs):
        raise RuntimeError("feed store unavailable")

    monkeypatch.setattr(selectors, "feed_page", broken)
    response = as_user.get("/v1/feed")

    assert response.status_code == 200
    assert response["X-Feed-Degraded"] == "popular-posts"
    assert response.json()["results"][0]["id"] == popular.id
    assert response.json()["next_cursor"] is None
    monkeypatch.undo()
    # the breaker stays open for a while: no hammering a failing dependency
    assert as_user.get("/v1/feed")["X-Feed-Degraded"] == "popular-posts"


def test_relay_redispatches_unacknowledged_events(settings):
    settings.OUTBOX_REDISPATCH_AFTER_S = 30
    post = PostFactory()
    services.announce_new_post(post)
    stale = OutboxEvent.objects.get(post=post)
    OutboxEvent.objects.filter(pk=stale.pk).update(
        dispatched_at=timezone.now() - timedelta(minutes=1)
    )
    fresh = PostFactory()
    services.announce_new_post(fresh)

    assert services.relay_outbox() == 1
    stale.refresh_from_db()
    assert stale.attempts == 2
    assert OutboxEvent.objects.get(post=fresh).attempts == 1


def test_processed_events_are_purged_after_a_day(drain_outbox):
    old, new = PostFactory(), PostFactory()
    services.announce_new_post(old)
    services.announce_new_post(new)
    drain_outbox()
    OutboxEvent.objects.filter(post=old).update(created_at=timezone.now() - timedelta(days=2))

    assert services.purge_outbox() == 1
    assert list(OutboxEvent.objects.values_list("post", flat=True)) == [new.id]


def test_metrics_expose_backlog_and_fan_out_lag(monitor, drain_outbox):
    author = UserFactory()
    make_followers(author, 2)
    services.announce_new_post(PostFactory(author=author))
    before = monitor.get("/metrics").content.decode()
    drain_outbox()
    after = monitor.get("/metrics").content.decode()

    assert "puppies_feed_outbox_backlog 1.0" in before
    assert "puppies_feed_outbox_backlog 0.0" in after
    assert "puppies_feed_fanout_lag_seconds_bucket" in after


def test_popular_page_is_served_from_cache(db):
    post = PostFactory()
    services.refresh_popular_posts()
    Post.objects.filter(pk=post.pk).delete()

    assert [p["id"] for p in selectors.popular_posts()] == [post.id]


def test_a_head_read_before_a_fan_out_is_not_cached_after_it(as_user, user, drain_outbox):
    from feed import heads
    from users.auth import TokenUser

    bella = UserFactory()
    as_user.post(f"/v1/users/{bella.id}/follow")
    page, _, lease = heads.first_page(TokenUser(user.pk), 20)  # a reader misses: its lease
    assert page is None and lease is not None
    stale = list(
        FeedEntry.objects.filter(owner=user).values_list("post_id", "created_at", "reposted_by_id")
    )

    post = PostFactory(author=bella)
    services.push_post(post)  # fan-out commits, then drops the head (and the lease)
    heads.store(user.pk, lease, stale, complete=True)  # the slow reader tries to cache

    assert feed_ids(as_user)[0] == post.id
