"""Imports through real HTTP from the local upstream: what is stored, what reruns do."""

from ingestion import services
from ingestion.models import DeadLetter, ImportedItem, IngestionRun
from ingestion.tests.support import run_now
from interactions.models import Comment
from posts.models import Post, PostHashtag
from users.models import User


def bot_posts(source):
    return Post.objects.filter(author_id=source.bot_id)


def test_jsonplaceholder_posts_and_comments_become_the_bots(make_source, upstream, api):
    source = make_source()
    run = run_now(source)

    assert run.status == IngestionRun.Status.SUCCEEDED
    assert (run.fetched, run.created, run.updated, run.failed) == (80, 80, 0, 0)
    assert bot_posts(source).count() == 20
    assert Comment.objects.filter(author_id=source.bot_id).count() == 60
    assert User.objects.get(pk=source.bot_id).post_count == 20
    assert set(bot_posts(source).values_list("comment_count", flat=True)) == {3}
    first = bot_posts(source).get(pk=ImportedItem.objects.get(external_id="post:1").post_id)
    assert first.content.startswith("post 1: ")

    # The REST over ingested data: the bot's timeline, a post, its comments, search.
    timeline = api.get(f"/v1/users/{source.bot_id}/posts", {"limit": 100})
    assert timeline.status_code == 200
    assert len(timeline.json()["results"]) == 20
    detail = api.get(f"/v1/posts/{first.pk}").json()
    assert detail["author"]["username"].startswith("bot_")
    assert detail["comment_count"] == 3
    assert len(api.get(f"/v1/posts/{first.pk}/comments").json()["results"]) == 3
    found = api.get("/v1/search/posts", {"q": '"post 1"'}).json()["results"]
    assert first.pk in [post["id"] for post in found]
    assert source.checkpoint == {}  # finished: the next run starts over


def test_rerun_duplicates_nothing_and_updates_what_changed(make_source, upstream, api):
    source = make_source()
    run_now(source)
    post_id = ImportedItem.objects.get(source=source, external_id="post:2").post_id
    comment_id = ImportedItem.objects.get(source=source, external_id="comment:4").comment_id
    assert api.get(f"/v1/posts/{post_id}").status_code == 200  # its rendering is cached now

    upstream.edits["posts:2"] = {"title": "renamed", "body": "now about #fetch"}
    upstream.edits["comments:4"] = {"body": "edited comment"}
    rerun = run_now(source)

    assert (rerun.created, rerun.updated, rerun.failed) == (0, 2, 0)
    assert bot_posts(source).count() == 20
    assert Comment.objects.filter(author_id=source.bot_id).count() == 60
    assert User.objects.get(pk=source.bot_id).post_count == 20
    assert api.get(f"/v1/posts/{post_id}").json()["content"] == "renamed\n\nnow about #fetch"
    assert list(PostHashtag.objects.filter(post_id=post_id).values_list("tag", flat=True)) == [
        "fetch"
    ]
    assert Comment.objects.get(pk=comment_id).content == "edited comment"

    third = run_now(source)
    assert (third.created, third.updated) == (0, 0)


def test_a_batch_costs_the_same_queries_whatever_its_size(make_source, upstream, count_queries):
    small, large = make_source(page_size=100), make_source(page_size=100)
    upstream.dataset.posts = 10  # post 10 has a hashtag, as some of the 90 have
    small_queries, _ = count_queries(lambda: run_now(small))
    upstream.dataset.posts = 90  # still one page of posts and one of comments (< 100)
    upstream.dataset.comments_per_post = 1
    large_queries, run = count_queries(lambda: run_now(large))
    assert run.created == 180
    assert large_queries == small_queries


def test_duplicate_ids_in_a_page_are_imported_once(make_source, upstream):
    upstream.faults.duplicates = True
    source = make_source()
    run = run_now(source)
    assert run.status == IngestionRun.Status.SUCCEEDED
    assert bot_posts(source).count() == 20
    assert Comment.objects.filter(author_id=source.bot_id).count() == 60


def test_an_invalid_item_goes_to_a_dead_letter_and_the_batch_goes_on(make_source, upstream):
    upstream.faults.missing_fields = {"posts:3", "comments:1"}
    source = make_source()
    run = run_now(source)

    assert run.status == IngestionRun.Status.SUCCEEDED
    assert bot_posts(source).count() == 19
    letters = {letter.external_id: letter for letter in DeadLetter.objects.filter(source=source)}
    # post 3 is invalid; comment 1 too; comments 7-9 are on post 3, which is not imported
    assert set(letters) == {"post:3", "comment:1", "comment:7", "comment:8", "comment:9"}
    assert "'title' is missing" in letters["post:3"].error
    assert letters["comment:7"].error == "Its post post:3 is not imported."
    assert letters["post:3"].attempts == 1
    assert letters["post:3"].next_attempt_at is not None
    assert run.failed == 5


def test_pokemon_are_posts_tagged_by_type_and_counted(make_source, upstream, api, capsys):
    from django.core.management import call_command

    source = make_source("pokeapi-pokemon", name="pokemon")
    run = run_now(source)
    assert run.created == 12
    call_command("ingestion_counts", "pokemon", "--json")
    counts = __import__("json").loads(capsys.readouterr().out)
    expected: dict[str, int] = {}
    for n in range(1, 13):
        for entry in upstream.pokemon(n)["types"]:
            expected[entry["type"]["name"]] = expected.get(entry["type"]["name"], 0) + 1
    assert counts == expected
    fire = api.get("/v1/hashtags/fire/posts", {"limit": 100}).json()["results"]
    assert len(fire) == expected["fire"]


def test_berries_are_posts_and_their_flavors_comments(make_source, upstream):
    source = make_source("pokeapi-berries")
    run_now(source)
    post = bot_posts(source).get(pk=ImportedItem.objects.get(external_id="berry:berry1").post_id)
    assert post.content.startswith("Berry1 berry")
    flavors = [f for f in upstream.berry(1, "")["flavors"] if f["potency"] > 0]
    assert post.comment_count == len(flavors)
    assert sorted(Comment.objects.filter(post=post).values_list("content", flat=True)) == sorted(
        f"{f['flavor']['name'].title()} flavor, potency {f['potency']}." for f in flavors
    )


def test_a_stopped_run_resumes_from_its_checkpoint(make_source, upstream):
    source = make_source()
    pages = []

    def stop_after_two_pages():
        pages.append(1)
        return len(pages) == 2

    stopped = run_now(source, should_stop=stop_after_two_pages)
    assert stopped.status == IngestionRun.Status.INTERRUPTED
    source.refresh_from_db()
    assert source.checkpoint == {"stream": 0, "page": 2}
    assert bot_posts(source).count() == 20  # two whole pages of ten

    resumed = run_now(source)
    assert resumed.status == IngestionRun.Status.SUCCEEDED
    assert upstream.requests["/posts?_page=1&_limit=10"] == 1  # not fetched again
    assert resumed.created == 60  # the comments; nothing twice
    assert Comment.objects.filter(author_id=source.bot_id).count() == 60


def test_one_run_per_source_at_a_time_and_a_dead_workers_run_is_taken_over(make_source, settings):
    source = make_source()
    first, started = services.start_run(source, trigger="api", dispatch=False)
    again, started_again = services.start_run(source, trigger="api", dispatch=False)
    assert started and not started_again
    assert again.pk == first.pk

    settings.INGEST_RUN_STALE_S = 0  # its worker is gone: no heartbeat since
    taken, took_over = services.start_run(source, trigger="api", dispatch=False)
    assert took_over and taken.pk != first.pk
    first.refresh_from_db()
    assert first.status == IngestionRun.Status.INTERRUPTED


def test_beat_starts_due_enabled_sources_only(make_source):
    due = make_source(enabled=True, schedule=60)
    make_source(enabled=False)
    started = services.start_due_runs()
    assert [IngestionRun.objects.get(pk=pk).source_id for pk in started] == [due.pk]
    assert services.start_due_runs() == []  # not due again yet


def test_default_sources_are_seeded_disabled_once(db):
    from ingestion.models import Source

    assert services.seed_default_sources() == [
        "jsonplaceholder",
        "pokeapi-berries",
        "pokeapi-pokemon",
    ]
    assert services.seed_default_sources() == []
    assert not Source.objects.filter(enabled=True).exists()


def test_bot_posts_are_pulled_into_followers_feeds_without_fan_out(make_source, user, as_user):
    from feed.models import OutboxEvent

    source = make_source()
    assert as_user.post(f"/v1/users/{source.bot_id}/follow").status_code == 201
    run_now(source)
    assert not OutboxEvent.objects.exists()  # pulled: nothing pushed per post
    feed = as_user.get("/v1/feed", {"limit": 5})
    assert feed.status_code == 200
    newest = bot_posts(source).order_by("-created_at", "-id").values_list("pk", flat=True)[:5]
    assert [post["id"] for post in feed.json()["results"]] == list(newest)


def test_imported_texts_mention_our_users_as_posts_do(make_source, upstream):
    from interactions.models import Notification
    from users.tests.factories import UserFactory

    rex = UserFactory(username="rex_the_dog")
    upstream.edits["posts:1"] = {"body": "say hi to @rex_the_dog"}
    upstream.edits["comments:2"] = {"body": "@Rex_The_Dog look"}
    source = make_source()
    run_now(source)
    mentions = Notification.objects.filter(recipient=rex, type=Notification.Type.MENTION)
    assert mentions.count() == 2
    assert not Notification.objects.exclude(type=Notification.Type.MENTION).exists()


def test_a_moderators_hide_holds_across_reruns(make_source, upstream, client_for):
    from posts import services as post_services
    from users.tests.factories import UserFactory

    source = make_source()
    run_now(source)
    post_id = ImportedItem.objects.get(source=source, external_id="post:5").post_id
    moderator = UserFactory(role=User.Role.MODERATOR)
    # moderators remove content by hiding it (the API's DELETE is for authors)
    assert post_services.hide_post(Post.objects.get(pk=post_id), actor=moderator, reason="spam")

    upstream.edits["posts:5"] = {"body": "changed upstream"}
    rerun = run_now(source)
    assert (rerun.created, rerun.updated) == (0, 0)
    hidden = Post.objects.get(pk=post_id)
    assert hidden.hidden_at is not None
    assert hidden.content != "changed upstream"
    assert User.objects.get(pk=source.bot_id).post_count == 19
    assert client_for(UserFactory()).get(f"/v1/posts/{post_id}").status_code == 404


def test_hard_deleting_posts_cascades_to_their_mapping(make_source, upstream):
    source = make_source()
    run_now(source)
    Post.objects.filter(author_id=source.bot_id).delete()
    assert not ImportedItem.objects.filter(source=source).exists()
    again = run_now(source)
    assert again.created == 80  # imported anew, as nothing maps to them any more


def test_a_pinned_bot_stays_pulled_and_an_ordinary_author_is_pushed(
    make_source, user, client_for, drain_outbox, settings
):
    from feed import services as feed
    from feed.models import OutboxEvent, VipAuthor
    from posts import services as posts
    from users.tests.factories import UserFactory

    source = make_source()
    settings.VIP_EXIT_FOLLOWER_THRESHOLD = 1  # the bot's 0 followers would demote any VIP
    feed.refresh_vips()
    assert feed.is_vip(source.bot_id)
    assert VipAuthor.objects.get(user_id=source.bot_id).pinned

    author = UserFactory()
    assert client_for(user).post(f"/v1/users/{author.pk}/follow").status_code == 201
    ids = posts.import_posts(author=author, contents=["one #a", "two #b"])
    assert OutboxEvent.objects.filter(post_id__in=ids).count() == 2
    assert drain_outbox() == 2
    feed_ids = [p["id"] for p in client_for(user).get("/v1/feed").json()["results"]]
    assert feed_ids == ids[::-1]
    assert User.objects.get(pk=author.pk).post_count == 2


def test_a_slow_worker_whose_run_was_taken_over_writes_no_more(make_source, settings):
    source = make_source()
    taken = []

    def taken_over_after_the_first_page():
        if not taken:  # meanwhile its heartbeat went stale and a new run took the source
            settings.INGEST_RUN_STALE_S = 0
            taken.append(services.start_run(source, trigger="api", dispatch=False)[0])
            settings.INGEST_RUN_STALE_S = 600
        return False

    slow = run_now(source, should_stop=taken_over_after_the_first_page)
    assert slow.status == IngestionRun.Status.INTERRUPTED
    assert (slow.fetched, slow.created) == (10, 10)  # its second page was rolled back
    source.refresh_from_db()
    assert source.checkpoint == {"stream": 0, "page": 1}

    resumed = services.execute_run(taken[0].pk)
    assert resumed.status == IngestionRun.Status.SUCCEEDED
    assert resumed.created == 70
    assert bot_posts(source).count() == 20
