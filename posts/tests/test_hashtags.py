import importlib
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from posts import services
from posts.models import Post, PostHashtag
from posts.tests.factories import PostFactory
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def tags_of(post) -> set[str]:
    return set(PostHashtag.objects.filter(post=post).values_list("tag", flat=True))


def ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


def post(content: str, *, author=None, created_at=None) -> Post:
    created = services.create_post(author=author or UserFactory(), content=content)
    if created_at is not None:
        Post.objects.filter(pk=created.pk).update(created_at=created_at)
        PostHashtag.objects.filter(post=created).update(created_at=created_at)
        created.refresh_from_db()
    return created


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("#Puppies and #puppies and #PUPPIES", ["puppies"]),
        ("walk #1 #good_boy, #Corgi!", ["1", "good_boy", "corgi"]),
        ("no tags here, a#b, ##double, mail#x, # alone, #café, é#x", []),
        ("(#paren) #end.", ["paren", "end"]),
        ("#" + "a" * 100, ["a" * 100]),
        ("#" + "a" * 101, []),
        (" ".join(f"#t{n}" for n in range(25)), [f"t{n}" for n in range(20)]),
    ],
)
def test_hashtags_in(text, tags):
    assert services.hashtags_in(text) == tags


def test_create_and_edit_set_the_posts_tags(as_user):
    created = as_user.post("/v1/posts", {"content": "Hello #Pup #park"}, format="json").json()
    row = Post.objects.get(pk=created["id"])
    assert tags_of(row) == {"pup", "park"}
    assert set(PostHashtag.objects.values_list("created_at", flat=True)) == {row.created_at}

    as_user.patch(f"/v1/posts/{row.id}", {"content": "Now #park #beach"}, format="json")
    assert tags_of(row) == {"park", "beach"}

    as_user.patch(f"/v1/posts/{row.id}", {"content": "no tags at all"}, format="json")
    assert tags_of(row) == set()


def test_hashtag_posts_newest_first_any_case(api):
    old = post("first #Corgi")
    new = post("second #corgi")
    post("other #husky")

    response = api.get("/v1/hashtags/CORGI/posts")

    assert response.status_code == 200
    assert ids(response) == [new.id, old.id]
    assert response.json()["results"][0]["content"] == "second #corgi"
    assert api.get("/v1/hashtags/nothing/posts").json() == {"results": [], "next_cursor": None}


def test_hidden_and_deleted_posts_leave_the_hashtag_page(api):
    author = UserFactory()
    shown = post("#beagle shown")
    hidden = post("#beagle hidden")
    deleted = post("#beagle deleted", author=author)

    Post.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())
    services.delete_post(deleted, actor=author)

    assert ids(api.get("/v1/hashtags/beagle/posts")) == [shown.id]


@pytest.mark.parametrize("tag", ["bad-tag", "x" * 101, "caf%C3%A9"])
def test_invalid_tag_is_400(api, tag):
    response = api.get(f"/v1/hashtags/{tag}/posts")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["tag"]


def test_hashtag_pages_stay_stable_while_posts_arrive(api):
    start = timezone.now() - timedelta(hours=1)
    posts = [post(f"#pug {n}", created_at=start + timedelta(minutes=n)) for n in range(5)]

    first = api.get("/v1/hashtags/pug/posts", {"limit": 2}).json()
    post("#pug newcomer")
    second = api.get("/v1/hashtags/pug/posts", {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/v1/hashtags/pug/posts", {"limit": 2, "cursor": second["next_cursor"]}).json()

    seen = [item["id"] for page in (first, second, third) for item in page["results"]]
    assert seen == [p.id for p in reversed(posts)]
    assert third["next_cursor"] is None


def test_hashtag_posts_query_count_is_constant(as_user, page_queries):
    post("#collie")

    def grow():
        for _ in range(15):
            post("#collie again")

    small, large, response = page_queries(as_user, "/v1/hashtags/collie/posts", grow)

    assert len(response.json()["results"]) == 16
    assert small == large


def test_trending_counts_visible_posts_in_the_window(api, settings):
    settings.TRENDING_WINDOW_HOURS = 24
    for _ in range(3):
        post("#top #second")
    post("#second #third")
    post("#old", created_at=timezone.now() - timedelta(hours=25))
    hidden = post("#third #hiddenonly")
    Post.objects.filter(pk=hidden.pk).update(hidden_at=timezone.now())

    response = api.get("/v1/trending/hashtags")

    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"tag": "second", "post_count": 4},
            {"tag": "top", "post_count": 3},
            {"tag": "third", "post_count": 1},
        ]
    }


def test_trending_is_top_ten(api):
    for n in range(12):
        post(f"#tag{n} #many" if n < 5 else f"#tag{n}")

    results = api.get("/v1/trending/hashtags").json()["results"]

    assert len(results) == 10
    assert results[0] == {"tag": "many", "post_count": 5}


def test_trending_is_cached(api, count_queries, settings):
    settings.TRENDING_CACHE_S = 60
    post("#cached")
    first = api.get("/v1/trending/hashtags").json()
    post("#cached #fresh")

    queries, response = count_queries(lambda: api.get("/v1/trending/hashtags"))

    assert queries == 0
    assert response.json() == first

    cache.clear()
    assert api.get("/v1/trending/hashtags").json()["results"][0] == {
        "tag": "cached",
        "post_count": 2,
    }


def test_stale_trending_is_recounted_once_by_whoever_takes_the_lock(api, count_queries, settings):
    settings.TRENDING_CACHE_S = 1
    post("#stale")
    api.get("/v1/trending/hashtags")
    post("#stale")
    with time_machine.travel(time.time() + 2):  # the entry went stale: no sleeping
        cache.add("posts:trending_hashtags:lock", 1, 60)  # another reader is recounting

        queries, response = count_queries(lambda: api.get("/v1/trending/hashtags"))
        assert queries == 0
        assert response.json()["results"] == [{"tag": "stale", "post_count": 1}]

        cache.delete("posts:trending_hashtags:lock")
        recounted = api.get("/v1/trending/hashtags").json()["results"]
        assert recounted == [{"tag": "stale", "post_count": 2}]


def test_migration_backfills_the_tags_of_older_posts():
    backfill = importlib.import_module("posts.migrations.0003_backfill_hashtags").BACKFILL_SQL
    texts = [
        "#Old #old #dogs a#b ##x #" + "y" * 101,
        " ".join(f"#t{n}" for n in range(25)),
        "no tags",
        "(#paren) mail#x #end. #café #ok",
    ]
    older = [PostFactory(content=text) for text in texts]  # written without the service
    already = post("#new")

    with connection.cursor() as cursor:
        cursor.execute(backfill)
        cursor.execute(backfill)  # safe to run twice

    for row in [*older, already]:
        assert tags_of(row) == set(services.hashtags_in(row.content)), row.content
    assert tags_of(older[1]) == {f"t{n}" for n in range(20)}
    assert set(PostHashtag.objects.filter(post=older[0]).values_list("created_at", flat=True)) == {
        older[0].created_at
    }
