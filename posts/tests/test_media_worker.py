"""The media check in a real Celery worker process: the web request only stores bytes."""

import io

import pytest
from PIL import Image
from prometheus_client import REGISTRY

from posts.tests.support import create, image_bytes, psd_bytes, served, upload
from puppies.tests.support import WorkerProcess, wait_for, worker_env
from users.tests.factories import UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def checks_in_this_process() -> float:
    labels = {"kind": "post"}
    return REGISTRY.get_sample_value("puppies_media_check_duration_seconds_count", labels) or 0


@pytest.fixture
def media_worker(transactional_db, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    worker = WorkerProcess(
        tmp_path, worker_env(MEDIA_ROOT=str(settings.MEDIA_ROOT)), queues="fanout,default,media"
    )
    worker.start()
    yield worker
    worker.stop()


def test_the_worker_checks_the_upload_and_publishes_into_a_followers_feed(
    media_worker, user, as_user, client_for, api
):
    follower = client_for(UserFactory())
    follower.post(f"/v1/users/{user.id}/follow")
    data = image_bytes(size=(800, 600))
    body = create(as_user, data)

    checks_here = checks_in_this_process()

    assert upload(api, body, data).status_code == 202  # no bearer token

    feed = wait_for(lambda: follower.get("/v1/feed").json()["results"])
    assert [p["id"] for p in feed] == [body["id"]]
    media = feed[0]["media"]
    assert (media["width"], media["height"]) == (800, 600)
    with Image.open(io.BytesIO(served(api, media["thumbnail_url"]))) as thumbnail:
        assert thumbnail.size == (320, 240)
    assert checks_in_this_process() == checks_here  # the web process decoded nothing


def test_the_worker_rejects_a_psd_declared_as_png(media_worker, as_user, api):
    data = psd_bytes()
    body = create(as_user, data)

    assert upload(api, body, data).status_code == 202

    post = wait_for(
        lambda: (p := as_user.get(f"/v1/posts/{body['id']}").json())["media_error"] and p
    )
    assert post["status"] == "pending_media"
    assert "not a JPEG, PNG, WebP or GIF image" in post["media_error"]
