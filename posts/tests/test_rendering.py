"""Posts are rendered from versioned Redis entries, yet the very next read after any change
that shows is fresh: edit, delete, hide, unhide, media published, the author's profile,
comment and like counts. Reads of cached posts cost no SQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from interactions.services.likes import drain_like_buffer
from posts import rendering
from posts.models import Post
from posts.tests.factories import PostFactory
from posts.tests.support import create, image_bytes, upload
from puppies import redis as puppies_redis
from users import moderation
from users.models import User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def moderator(db):
    return UserFactory(role=User.Role.MODERATOR)


def detail(client, post_id: int) -> dict | None:
    response = client.get(f"/v1/posts/{post_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.content
    return response.json()


def timeline(client, author_id: int) -> list[dict]:
    return client.get(f"/v1/users/{author_id}/posts").json()["results"]


def test_a_cached_post_is_read_without_sql_and_matches_the_serializer(as_user):
    post = PostFactory(like_count=3, comment_count=2)
    first = detail(as_user, post.id)  # caches the post
    detail(as_user, post.id)  # caches its author's summary (its version is known now)

    with CaptureQueriesContext(connection) as queries:
        again = detail(as_user, post.id)

    assert len(queries) == 1  # the viewer's likes: their liked set is not built yet
    drain_like_buffer()  # builds it, as the beat job does
    with CaptureQueriesContext(connection) as queries:
        assert detail(as_user, post.id) == first
    assert len(queries) == 0
    assert again == first
    assert set(first) == {
        "id", "author", "content", "media", "media_error", "status", "like_count", "comment_count",
        "liked_by_me", "bookmarked_by_me", "reposted_by_me", "repost_count", "created_at",
        "updated_at", "edited_at",
    }  # fmt: skip
    assert (first["like_count"], first["comment_count"], first["liked_by_me"]) == (3, 2, False)
    assert first["author"] == {
        "id": post.author.id,
        "username": post.author.username,
        "display_name": post.author.display_name,
        "avatar_url": post.author.avatar_url,
    }


def test_a_new_post_is_answered_and_cached_as_any_read_renders_it(
    as_user, client_for, drain_outbox
):
    reader = client_for(UserFactory())
    detail(reader, PostFactory().id)
    drain_like_buffer()  # the reader's liked set, so that a cached read costs no SQL
    created = as_user.post("/v1/posts", {"content": "Fresh #walk"}, format="json").json()
    drain_outbox()  # the fan-out worker

    with CaptureQueriesContext(connection) as queries:
        read = detail(reader, created["id"])

    assert len(queries) == 0  # its fan-out cached it
    assert read == created
    assert (created["like_count"], created["liked_by_me"]) == (0, False)
    Post.objects.filter(pk=created["id"]).update(content="changed behind the cache")
    rendering.invalidate_posts([created["id"]])
    assert detail(reader, created["id"])["content"] == "changed behind the cache"


def test_a_new_post_is_cached_by_its_fan_out_not_its_201_and_an_edit_before_wins(as_user, user):
    post = Post.objects.create(author=user, content="v1")
    rendering.invalidate_posts([post.pk])  # an edit that committed before the worker ran
    stale = Post.objects.get(pk=post.pk)
    Post.objects.filter(pk=post.pk).update(content="v2")
    rendering.invalidate_posts([post.pk])

    rendering.cache_posts([stale])  # the worker, holding the row from before the edit

    assert detail(as_user, post.id)["content"] == "v2"


def test_with_redis_down_a_new_post_is_answered_from_the_row(as_user, user, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = as_user.post("/v1/posts", {"content": "no cache today"}, format="json")

    assert response.status_code == 201
    assert response.json()["content"] == "no cache today"
    assert response.json()["author"]["username"] == user.username


def test_an_edit_shows_on_the_next_read(client_for):
    post = PostFactory()
    author = client_for(post.author)
    detail(author, post.id), timeline(author, post.author_id)

    response = author.patch(f"/v1/posts/{post.id}", {"content": "new words"}, format="json")
    assert response.status_code == 200

    assert detail(author, post.id)["content"] == "new words"
    assert timeline(author, post.author_id)[0]["content"] == "new words"


def test_delete_hide_and_unhide_show_on_the_next_read(client_for, api, moderator):
    post = PostFactory()
    assert detail(api, post.id)
    from posts import services

    services.hide_post(post, actor=moderator, reason="spam")
    assert detail(api, post.id) is None
    assert timeline(api, post.author_id) == []
    assert detail(client_for(post.author), post.id)["id"] == post.id  # its author still sees it

    services.unhide_post(post, actor=moderator, reason="appeal")
    assert detail(api, post.id)["id"] == post.id

    assert client_for(post.author).delete(f"/v1/posts/{post.id}").status_code == 204
    assert detail(api, post.id) is None
    assert detail(client_for(post.author), post.id) is None


def test_media_published_shows_on_the_next_read(as_user, api, tmp_path, settings, eager_tasks):
    settings.MEDIA_ROOT = tmp_path
    data = image_bytes()
    body = create(as_user, data)
    assert detail(as_user, body["id"])["status"] == "pending_media"

    assert upload(api, body, data).status_code == 202  # the check publishes it

    post = detail(as_user, body["id"])
    assert (post["status"], post["media"]["width"]) == ("published", 640)


def test_a_profile_change_shows_in_every_post_at_once(client_for, api):
    author = UserFactory(display_name="Rex")
    posts = PostFactory.create_batch(2, author=author)
    assert {p["author"]["display_name"] for p in timeline(api, author.id)} == {"Rex"}

    response = client_for(author).patch("/v1/users/me", {"display_name": "Sir Rex"}, format="json")

    assert response.status_code == 200
    assert {p["author"]["display_name"] for p in timeline(api, author.id)} == {"Sir Rex"}
    assert detail(api, posts[0].id)["author"]["display_name"] == "Sir Rex"


def test_comment_counts_show_on_the_next_read(as_user, client_for, moderator):
    post = PostFactory()
    assert detail(as_user, post.id)["comment_count"] == 0

    comment = as_user.post(f"/v1/posts/{post.id}/comments", {"content": "good dog"}, format="json")
    assert detail(as_user, post.id)["comment_count"] == 1

    assert as_user.delete(f"/v1/comments/{comment.json()['id']}").status_code == 204
    assert detail(as_user, post.id)["comment_count"] == 0


def test_likes_are_exact_before_during_and_after_a_flush(client_for, api):
    post = PostFactory()
    fans = [client_for(UserFactory()) for _ in range(3)]
    assert detail(api, post.id)["like_count"] == 0

    for fan in fans:
        assert fan.post(f"/v1/posts/{post.id}/likes").status_code == 201
    assert detail(api, post.id)["like_count"] == 3  # pending in Redis
    assert detail(fans[0], post.id)["liked_by_me"] is True

    drain_like_buffer()  # lands them; the cached stored count goes stale in the same step
    assert Post.objects.get(pk=post.id).like_count == 3
    assert detail(api, post.id)["like_count"] == 3
    assert detail(fans[0], post.id)["liked_by_me"] is True  # now from the liked set

    assert fans[0].delete(f"/v1/posts/{post.id}/likes").status_code == 204
    assert detail(fans[0], post.id)["liked_by_me"] is False
    drain_like_buffer()
    assert (detail(fans[0], post.id)["liked_by_me"], detail(api, post.id)["like_count"]) == (
        False,
        2,
    )


def test_a_render_that_read_the_database_before_a_change_is_not_cached(as_user):
    post = PostFactory(content="before")
    stale = Post.objects.select_related("author").get(pk=post.pk)
    entries = rendering._entries(  # a render reads the version ...
        [post.id], rendering._READ([], ["", 0, "", "0", post.id])
    )
    Post.objects.filter(pk=post.pk).update(content="after")
    rendering.invalidate_posts([post.id])  # ... a change commits and bumps it ...
    rendering._fill_misses(  # ... and the slow render tries to cache what it read
        [post.id], entries, {post.id: stale}, only_visible=True, viewer_id=None
    )

    assert detail(as_user, post.id)["content"] == "after"


def test_with_redis_down_posts_are_rendered_from_postgresql(as_user, settings):
    post = PostFactory(content="still here")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    assert detail(as_user, post.id)["content"] == "still here"
    assert timeline(as_user, post.author_id)[0]["id"] == post.id


def test_suspended_author_profile_summary_does_not_block_rendering(api, moderator):
    author = UserFactory()
    post = PostFactory(author=author)
    moderation.suspend_user(author, actor=moderator, reason="spam")

    assert detail(api, post.id)["id"] == post.id  # posts stay up, judged one by one


def test_a_connection_redis_dropped_is_made_again_without_falling_back(as_user):
    """A Redis restart (or its idle timeout) closes the connection each process keeps for
    the hot scripts; the next read reconnects and is still served from the cache."""
    post = PostFactory(content="cached")
    detail(as_user, post.id), detail(as_user, post.id)  # the post, then its author's card
    drain_like_buffer()  # builds the viewer's liked set
    detail(as_user, post.id)  # over this thread's connection
    own_id = puppies_redis.execute([("CLIENT", "ID")])[0]
    puppies_redis.client().execute_command("CLIENT", "KILL", "ID", own_id)

    with CaptureQueriesContext(connection) as queries:
        assert detail(as_user, post.id)["content"] == "cached"

    assert not queries.captured_queries
    assert puppies_redis.execute([("CLIENT", "ID")])[0] != own_id
