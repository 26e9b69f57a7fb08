import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from interactions.tests.factories import CommentFactory, LikeFactory
from posts.models import Post
from posts.tests.factories import PostFactory
from users.models import Follow, User
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def repair(**options) -> str:
    out = StringIO()
    call_command("repair_counters", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def counts(user) -> tuple[int, int, int]:
    user = User.objects.get(pk=user.pk)
    return user.follower_count, user.following_count, user.post_count


def post_counts(post) -> tuple[int, int]:
    post = Post.objects.get(pk=post.pk)
    return post.like_count, post.comment_count


def build_world():
    """Rows of every kind, with counters as the API would have left them."""
    star, fan, lurker = UserFactory(), UserFactory(), UserFactory()
    Follow.objects.create(follower=fan, followee=star)
    Follow.objects.create(follower=lurker, followee=star)
    Follow.objects.create(follower=star, followee=fan)
    post = PostFactory(author=star)
    PostFactory(author=star, deleted_at=timezone.now())
    PostFactory(author=star, hidden_at=timezone.now())
    PostFactory(author=fan, status=Post.Status.PENDING_MEDIA)
    LikeFactory(user=fan, post=post)
    LikeFactory(user=lurker, post=post)
    CommentFactory(post=post)
    CommentFactory(post=post, deleted_at=timezone.now())
    CommentFactory(post=post, hidden_at=timezone.now())
    quiet = PostFactory(author=lurker)
    return star, fan, lurker, post, quiet


def test_repair_fixes_drift_in_every_counter():
    star, fan, lurker, post, quiet = build_world()
    # drift both ways, including on rows that have nothing to count
    User.objects.filter(pk=star.pk).update(follower_count=7, following_count=0, post_count=9)
    User.objects.filter(pk=fan.pk).update(follower_count=0, following_count=5, post_count=3)
    User.objects.filter(pk=lurker.pk).update(follower_count=4, following_count=0, post_count=0)
    Post.objects.filter(pk=post.pk).update(like_count=0, comment_count=42)
    Post.objects.filter(pk=quiet.pk).update(like_count=3, comment_count=1)

    output = repair(batch_size=2, no_progress=True)

    assert counts(star) == (2, 1, 1)  # deleted, hidden posts do not count
    assert counts(fan) == (1, 1, 0)  # a post still waiting for its media does not count
    assert counts(lurker) == (0, 1, 1)
    assert post_counts(post) == (2, 1)  # deleted and hidden comments do not count
    assert post_counts(quiet) == (0, 0)
    assert "users: 6 checked, 3 repaired" in output  # the commenters were right already
    assert "posts: 5 checked, 2 repaired" in output


def test_repair_agrees_with_what_the_api_keeps(client_for, api):
    author, fan = UserFactory(), UserFactory()
    as_author, as_fan = client_for(author), client_for(fan)
    as_fan.post(f"/v1/users/{author.id}/follow")
    post_id = as_author.post("/v1/posts", {"content": "pup"}, format="json").json()["id"]
    gone_id = as_author.post("/v1/posts", {"content": "oops"}, format="json").json()["id"]
    as_author.delete(f"/v1/posts/{gone_id}")
    for text in ("a", "b"):
        as_fan.post(f"/v1/posts/{post_id}/comments", {"content": text}, format="json")
    first = api.get(f"/v1/posts/{post_id}/comments").json()["results"][0]["id"]
    as_fan.delete(f"/v1/comments/{first}")
    before = (counts(author), counts(fan), post_counts(Post(pk=post_id)))

    output = repair(no_progress=True)

    assert (counts(author), counts(fan), post_counts(Post(pk=post_id))) == before
    assert "0 repaired" in output
    assert before == ((1, 0, 1), (0, 1, 0), (0, 1))


def test_repair_recounts_reposts_as_the_api_keeps_them(client_for):
    post = PostFactory()
    fans = UserFactory.create_batch(3)
    for fan in fans:
        client_for(fan).post(f"/v1/posts/{post.id}/reposts")
    client_for(fans[0]).delete(f"/v1/posts/{post.id}/reposts")
    assert "posts: 1 checked, 0 repaired" in repair(no_progress=True)

    Post.objects.filter(pk=post.pk).update(repost_count=9)
    assert "posts: 1 checked, 1 repaired" in repair(no_progress=True)
    assert Post.objects.get(pk=post.pk).repost_count == 2


def test_repair_draws_a_progress_bar(capsys):
    build_world()

    call_command("repair_counters", "--batch-size", "1", stdout=StringIO())

    bar = capsys.readouterr().err
    assert "users: 100%" in bar
    assert "posts: 100%" in bar


def test_repair_of_an_empty_database_is_a_no_op():
    assert "users: 0 checked, 0 repaired" in repair(no_progress=True)


def test_bad_batch_size_is_refused():
    with pytest.raises(CommandError):
        repair(batch_size=0)


@pytest.mark.django_db(transaction=True)
def test_repair_during_concurrent_follows_loses_nothing():
    from rest_framework.test import APIClient

    from conftest import bearer

    star = UserFactory()
    fans = UserFactory.create_batch(8)
    barrier = threading.Barrier(len(fans) + 1)
    errors = []

    def follow(fan):
        client = APIClient()
        client.credentials(**bearer(fan))
        barrier.wait()
        if client.post(f"/v1/users/{star.id}/follow").status_code != 201:
            errors.append(fan.pk)
        connection.close()

    def run_repair():
        barrier.wait()
        for _ in range(3):
            repair(batch_size=1, no_progress=True)
        connection.close()

    threads = [threading.Thread(target=follow, args=(fan,)) for fan in fans]
    threads.append(threading.Thread(target=run_repair))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert counts(star)[0] == len(fans)
    assert all(counts(fan)[1] == 1 for fan in fans)


def test_post_count_follows_hide_unhide_and_delete_as_repair_computes_it(api):
    from posts import services

    moderator = UserFactory(role="moderator")
    author = UserFactory()
    _kept, hidden, hidden_then_deleted = (
        services.create_post(author=author, content=f"post {n}") for n in range(3)
    )

    services.hide_post(hidden, actor=moderator, reason="spam")
    services.hide_post(hidden_then_deleted, actor=moderator, reason="spam")
    services.delete_post(hidden_then_deleted, actor=author)
    assert api.get(f"/v1/users/{author.id}").json()["post_count"] == 1

    services.unhide_post(hidden, actor=moderator, reason="appeal upheld")
    assert api.get(f"/v1/users/{author.id}").json()["post_count"] == 2

    repair()
    assert api.get(f"/v1/users/{author.id}").json()["post_count"] == 2
