import io
import time
from urllib.parse import urlparse

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, fmt)
    return out.getvalue()


def create(client, data: bytes, content_type: str = "image/png", **media) -> dict:
    claim = {"content_type": content_type, "size": len(data), **media}
    response = client.post("/v1/posts", {"content": "Rex #dogs", "media": claim}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def upload(client, body: dict, data: bytes, content_type: str = "image/png"):
    path = urlparse(body["upload"]["url"]).path
    return client.put(path, data=data, content_type=content_type)


def test_post_with_media_waits_for_its_upload(as_user, user):
    data = image_bytes()
    body = create(as_user, data)

    assert body["status"] == "pending_media"
    assert body["media"] is None
    assert body["upload"]["method"] == "PUT"
    assert body["upload"]["headers"] == {"Content-Type": "image/png"}
    assert body["upload"]["url"].startswith("http://testserver/v1/uploads/")
    assert body["upload"]["expires_at"]
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"


def test_a_pending_post_is_seen_by_its_author_only(as_user, user, client_for, api, drain_outbox):
    body = create(as_user, image_bytes())
    follower = UserFactory()
    follower_client = client_for(follower)
    follower_client.post(f"/v1/users/{user.id}/follow")
    drain_outbox()

    assert follower_client.get(f"/v1/posts/{body['id']}").status_code == 404
    assert api.get(f"/v1/posts/{body['id']}").status_code == 404
    assert follower_client.get(f"/v1/users/{user.id}/posts").json()["results"] == []
    assert follower_client.get("/v1/search/posts", {"q": "Rex"}).json()["results"] == []
    assert follower_client.get("/v1/feed").json()["results"] == []


def test_upload_publishes_the_post_into_followers_feeds(
    as_user, user, client_for, media_root, drain_outbox
):
    follower_client = client_for(UserFactory())
    follower_client.post(f"/v1/users/{user.id}/follow")
    data = image_bytes(size=(640, 480))
    body = create(as_user, data)

    response = upload(as_user, body, data)

    assert response.status_code == 200, response.content
    post = response.json()
    assert post["status"] == "published"
    media = post["media"]
    assert (media["content_type"], media["width"], media["height"]) == ("image/png", 640, 480)
    assert media["url"].startswith("/media/posts/")
    stored = media["url"].removeprefix("/media/")
    with default_storage.open(stored) as f:
        assert f.read() == data
    thumb = media["thumbnail_url"].removeprefix("/media/")
    with Image.open(default_storage.open(thumb)) as image:
        assert image.size == (320, 240)
    assert (media_root / stored).exists()

    drain_outbox()
    feed_posts = follower_client.get("/v1/feed").json()["results"]
    assert [p["id"] for p in feed_posts] == [post["id"]]
    assert feed_posts[0]["media"] == media
    assert as_user.get(f"/v1/users/{user.id}").json()["post_count"] == 1


def test_the_stored_image_is_served_under_media_url(as_user, api):
    data = image_bytes()
    media = upload(as_user, create(as_user, data), data).json()["media"]

    response = api.get(media["url"])

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"definitely not a picture" * 10, "image/png"),
        (image_bytes("JPEG"), "image/png"),  # a JPEG declared as PNG
        (image_bytes("PNG")[:-40], "image/png"),  # truncated
    ],
)
def test_bytes_that_are_not_the_declared_image_are_refused(as_user, data, content_type):
    body = create(as_user, data, content_type)

    response = upload(as_user, body, data, content_type)

    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"


def test_a_body_larger_than_declared_or_allowed_is_413(as_user, settings):
    data = image_bytes()
    body = create(as_user, data[:100])
    assert upload(as_user, body, data).status_code == 413

    settings.MEDIA_MAX_BYTES = 200
    body = create(as_user, data[:200])
    assert upload(as_user, body, data).status_code == 413
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"


def test_an_expired_or_altered_link_is_refused(as_user, settings, monkeypatch):
    settings.MEDIA_UPLOAD_TTL_S = 60
    data = image_bytes()
    body = create(as_user, data)
    path = urlparse(body["upload"]["url"]).path

    assert as_user.put(path + "x", data=data, content_type="image/png").status_code == 404

    later = time.time() + 120
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    response = as_user.put(path, data=data, content_type="image/png")
    assert response.status_code == 400
    assert "token" in response.json()["error"]["fields"]


def test_only_the_author_can_upload(as_user, client_for, api):
    data = image_bytes()
    body = create(as_user, data)

    assert upload(client_for(UserFactory()), body, data).status_code == 404
    assert upload(api, body, data).status_code == 401
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"


def test_a_second_upload_conflicts(as_user):
    data = image_bytes()
    body = create(as_user, data)
    first = upload(as_user, body, data).json()["media"]

    assert upload(as_user, body, data).status_code == 409
    assert as_user.get(f"/v1/posts/{body['id']}").json()["media"] == first


def test_other_content_types_are_accepted(as_user):
    for fmt, content_type in [("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")]:
        data = image_bytes(fmt)
        response = upload(as_user, create(as_user, data, content_type), data, content_type)
        assert response.status_code == 200, response.content
        assert response.json()["media"]["content_type"] == content_type


@pytest.mark.parametrize(
    "claim",
    [
        {"content_type": "image/bmp", "size": 10},
        {"content_type": "image/png", "size": 0},
        {"content_type": "image/png", "size": 10 * 1024 * 1024 + 1},
        {"content_type": "image/png"},
    ],
)
def test_a_bad_media_claim_is_400_with_fields(as_user, claim):
    response = as_user.post("/v1/posts", {"content": "Rex", "media": claim}, format="json")

    assert response.status_code == 400
    assert "media" in str(response.json()["error"]["fields"])


def test_a_post_without_media_is_published_at_once(as_user):
    body = as_user.post("/v1/posts", {"content": "Rex"}, format="json").json()

    assert (body["status"], body["media"]) == ("published", None)
    assert "upload" not in body


def test_an_image_with_too_many_pixels_is_refused_before_decoding(as_user, settings):
    settings.MEDIA_MAX_PIXELS = 100 * 100
    data = image_bytes(size=(101, 100))
    body = create(as_user, data)

    response = upload(as_user, body, data)

    assert response.status_code == 400
    assert "pixels" in response.json()["error"]["fields"]["file"][0]
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"
