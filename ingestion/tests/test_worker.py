"""A real Celery worker runs imports: SIGTERM mid-run stops cleanly, the next run resumes."""

import pytest

from ingestion.models import IngestionRun
from ingestion.tests.support import run_now
from posts.models import Post
from puppies.tests.support import WorkerProcess, wait_for, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ingestion_worker(transactional_db, tmp_path):
    worker = WorkerProcess(
        tmp_path,
        worker_env(INGEST_ALLOW_PRIVATE="true", INGEST_CONCURRENCY="1"),
        queues="ingestion",
    )
    worker.start()
    yield worker
    worker.stop()


def test_sigterm_mid_run_commits_whole_batches_and_the_next_run_resumes(
    ingestion_worker, upstream, make_source, as_staff
):
    upstream.dataset.posts, upstream.dataset.comments_per_post = 200, 0
    upstream.faults.slow, upstream.faults.slow_seconds = 1, 0.15  # each page takes a while
    source = make_source()

    run_id = as_staff.post(f"/v1/ingestion/sources/{source.pk}/runs").json()["id"]
    wait_for(lambda: IngestionRun.objects.get(pk=run_id).fetched >= 30)
    ingestion_worker.stop()  # SIGTERM to the worker and its pool, as a container stop does
    assert ingestion_worker.proc.returncode is not None

    run = IngestionRun.objects.get(pk=run_id)
    assert run.status == IngestionRun.Status.INTERRUPTED
    source.refresh_from_db()
    done = source.checkpoint["page"]
    assert 3 <= done < 20
    imported = Post.objects.filter(author_id=source.bot_id).count()
    assert imported == run.created == done * 10  # whole pages only, each with its checkpoint

    resumed = run_now(source)
    assert resumed.status == IngestionRun.Status.SUCCEEDED
    assert resumed.created == 200 - imported
    assert upstream.requests["/posts?_page=1&_limit=10"] == 1
    assert Post.objects.filter(author_id=source.bot_id).count() == 200


def test_a_run_requested_through_the_api_is_done_by_the_worker(
    ingestion_worker, upstream, make_source, as_staff
):
    source = make_source()
    run_id = as_staff.post(f"/v1/ingestion/sources/{source.pk}/runs").json()["id"]
    wait_for(lambda: as_staff.get(f"/v1/ingestion/runs/{run_id}").json()["status"] == "succeeded")
    assert as_staff.get(f"/v1/ingestion/runs/{run_id}").json()["created"] == 80
