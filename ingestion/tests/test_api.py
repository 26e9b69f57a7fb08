"""The staff-only /v1/ingestion endpoints, and the dead letters' retry path."""

import pytest
from django.core.management import CommandError, call_command

from ingestion import services
from ingestion.models import DeadLetter, ImportedItem, IngestionRun
from ingestion.tests.support import run_now
from posts.models import Post


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/ingestion/sources"),
        ("get", "/v1/ingestion/status"),
        ("post", "/v1/ingestion/sources/1/runs"),
        ("get", "/v1/ingestion/runs/1"),
        ("get", "/v1/ingestion/dead-letters"),
        ("post", "/v1/ingestion/dead-letters/1/retry"),
    ],
)
def test_staff_only(method, path, api, as_user):
    anonymous = getattr(api, method)(path)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    member = getattr(as_user, method)(path)
    assert member.status_code == 403
    assert member.json()["error"]["code"] == "permission_denied"


def test_sources_and_status(make_source, upstream, as_staff):
    source = make_source(enabled=True, schedule=600)
    assert as_staff.get("/v1/ingestion/sources").json() == [
        {
            "id": source.pk,
            "name": source.name,
            "kind": "jsonplaceholder",
            "base_url": upstream.url,
            "enabled": True,
            "schedule": 600,
        }
    ]
    [before] = as_staff.get("/v1/ingestion/status").json()
    assert before["status"] == "never_run"
    assert before["last_attempt_at"] is None

    upstream.faults.missing_fields = {"comments:5"}
    run_now(source)
    [after] = as_staff.get("/v1/ingestion/status").json()
    assert after["source"] == source.name
    assert after["status"] == "succeeded"
    assert after["last_attempt_at"] and after["last_success_at"]
    assert (after["records_ingested"], after["records_failed"], after["dead_letters"]) == (79, 1, 1)


def test_start_a_run_then_follow_it(make_source, as_staff):
    source = make_source()
    started = as_staff.post(f"/v1/ingestion/sources/{source.pk}/runs")
    assert started.status_code == 202
    assert started.json() == {"id": started.json()["id"], "status": "queued"}
    # a second request answers the run already queued or running
    again = as_staff.post(f"/v1/ingestion/sources/{source.pk}/runs")
    assert again.status_code == 202
    assert again.json()["id"] == started.json()["id"]

    services.execute_run(started.json()["id"])  # what the worker does with the task
    run = as_staff.get(f"/v1/ingestion/runs/{started.json()['id']}")
    assert run.status_code == 200
    body = run.json()
    assert body["source"] == source.name
    assert body["status"] == "succeeded"
    assert (body["fetched"], body["created"], body["updated"], body["failed"]) == (80, 80, 0, 0)
    assert body["started_at"] and body["finished_at"]


@pytest.mark.parametrize("missing", ["999", str(2**70)])
def test_unknown_ids_are_json_404s(missing, db, as_staff):
    for response in (
        as_staff.post(f"/v1/ingestion/sources/{missing}/runs"),
        as_staff.get(f"/v1/ingestion/runs/{missing}"),
        as_staff.post(f"/v1/ingestion/dead-letters/{missing}/retry"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_dead_letters_are_paged_and_filtered_by_source(make_source, upstream, as_staff):
    upstream.faults.missing_fields = {f"comments:{n}" for n in range(1, 6)}
    one, other = make_source(), make_source()
    run_now(one)
    run_now(other)

    first = as_staff.get("/v1/ingestion/dead-letters", {"source": one.pk, "limit": 3}).json()
    assert [letter["external_id"] for letter in first["results"]] == [
        "comment:5",
        "comment:4",
        "comment:3",
    ]
    letter = first["results"][0]
    assert set(letter) == {"id", "source", "external_id", "error", "attempts", "next_attempt_at"}
    assert letter["source"] == one.name
    rest = as_staff.get(
        "/v1/ingestion/dead-letters", {"source": one.pk, "cursor": first["next_cursor"]}
    ).json()
    assert len(rest["results"]) == 2 and rest["next_cursor"] is None
    assert len(as_staff.get("/v1/ingestion/dead-letters", {"limit": 100}).json()["results"]) == 10


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"source": "abc"}, "source"),
        ({"source": str(2**64)}, "source"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "forged"}, "cursor"),
    ],
)
def test_bad_dead_letter_queries_are_400s(params, field, db, as_staff):
    response = as_staff.get("/v1/ingestion/dead-letters", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_retry_endpoint_resolves_a_fixed_item(make_source, upstream, as_staff, api):
    upstream.faults.missing_fields = {"posts:4"}
    source = make_source()
    run_now(source)
    letter = DeadLetter.objects.get(source=source, external_id="post:4")
    comments_of_4 = DeadLetter.objects.filter(external_id__in=["comment:10", "comment:11"])
    assert comments_of_4.count() == 2

    # still broken upstream: an attempt is counted and the next one backs off
    response = as_staff.post(f"/v1/ingestion/dead-letters/{letter.pk}/retry")
    assert response.status_code == 202
    assert response.json()["id"] == letter.pk
    assert services.retry_dead_letter(letter.pk) is False  # the task the endpoint queued
    letter.refresh_from_db()
    assert letter.attempts == 2
    assert "'title' is missing" in letter.error

    upstream.faults.missing_fields = set()
    as_staff.post(f"/v1/ingestion/dead-letters/{letter.pk}/retry")
    assert services.retry_dead_letter(letter.pk) is True
    letter.refresh_from_db()
    assert letter.resolved_at is not None
    post_id = ImportedItem.objects.get(source=source, external_id="post:4").post_id
    assert api.get(f"/v1/posts/{post_id}").json()["content"].startswith("post 4: ")

    # its comments now have their post: the reprocess job (beat, or the command) places them
    call_command("reprocess_dead_letters", "--all")
    assert Post.objects.get(pk=post_id).comment_count == 3
    assert not DeadLetter.objects.filter(source=source, resolved_at__isnull=True).exists()
    [status] = as_staff.get("/v1/ingestion/status").json()
    assert (status["records_ingested"], status["dead_letters"]) == (80, 0)

    again = as_staff.post(f"/v1/ingestion/dead-letters/{letter.pk}/retry")
    assert again.status_code == 409


def test_dead_letters_give_up_after_max_attempts(make_source, upstream, settings):
    settings.INGEST_MAX_ATTEMPTS = 3
    settings.INGEST_DEAD_LETTER_BACKOFF_S = 0
    upstream.faults.missing_fields = {"posts:1"}
    source = make_source()
    run_now(source)
    letter = DeadLetter.objects.get(source=source, external_id="post:1")

    assert services.reprocess_dead_letters()["failed"] == 4  # post 1 and its 3 comments
    letter.refresh_from_db()
    assert (letter.attempts, letter.next_attempt_at is not None) == (2, True)
    services.reprocess_dead_letters()
    letter.refresh_from_db()
    assert (letter.attempts, letter.next_attempt_at) == (3, None)  # given up
    assert services.reprocess_dead_letters() == {"resolved": 0, "failed": 0}


def test_a_failed_page_is_refetched_by_its_retry(make_source, upstream):
    upstream.faults.malformed = {"/posts?_page=2&_limit=10"}
    source = make_source()
    run_now(source)
    page = DeadLetter.objects.get(source=source, external_id="page:posts:1")
    upstream.faults.malformed = set()
    assert services.retry_dead_letter(page.pk) is True
    assert Post.objects.filter(author_id=source.bot_id).count() == 20
    services.reprocess_dead_letters(due_only=False)  # the comments of posts 11-20
    assert not DeadLetter.objects.filter(source=source, resolved_at__isnull=True).exists()
    assert IngestionRun.objects.get(source=source).status == "succeeded"


def test_metrics_count_records_and_dead_letters(make_source, upstream, monitor):
    upstream.faults.missing_fields = {"comments:2"}
    source = make_source(name="metered")
    run_now(source)
    body = monitor.get("/metrics").content.decode()
    assert 'puppies_ingestion_records_total{outcome="created",source="metered"} 79.0' in body
    assert 'puppies_ingestion_records_failed_total{source="metered"} 1.0' in body
    assert "puppies_ingestion_dead_letters 1.0" in body
    assert (
        'puppies_ingestion_run_duration_seconds_count{source="metered",status="succeeded"}' in body
    )


def test_a_pokeapi_detail_that_failed_is_refetched_by_its_retry(make_source, upstream):
    upstream.faults.malformed = {"/api/v2/berry/3/"}
    source = make_source("pokeapi-berries")
    run = run_now(source)
    assert run.status == IngestionRun.Status.SUCCEEDED
    letter = DeadLetter.objects.get(source=source, external_id="berry:berry3")
    assert letter.error.startswith("Invalid JSON from")
    assert letter.payload["url"].endswith("/api/v2/berry/3/")
    assert not ImportedItem.objects.filter(source=source, external_id="berry:berry3").exists()

    upstream.faults.malformed = set()
    assert services.retry_dead_letter(letter.pk) is True
    post_id = ImportedItem.objects.get(source=source, external_id="berry:berry3").post_id
    flavors = [f for f in upstream.berry(3, "")["flavors"] if f["potency"] > 0]
    assert Post.objects.get(pk=post_id).comment_count == len(flavors)


def test_the_ingest_command_runs_a_source_with_a_progress_bar(make_source, upstream, capsys):
    source = make_source(name="cli")
    call_command("ingest", "cli")
    out = capsys.readouterr()
    assert "succeeded: fetched 80, created 80, updated 0, failed 0" in out.out
    assert "records" in out.err  # tqdm's bar
    assert Post.objects.filter(author_id=source.bot_id).count() == 20
    with pytest.raises(CommandError, match="No source"):
        call_command("ingest", "nope")
