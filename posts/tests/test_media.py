"""Post images through the local upload link; checks run in Celery (eager here; see
test_media_worker.py for a real worker, test_media_s3.py for a bucket)."""

import io
import time
from urllib.parse import urlparse

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image, PsdImagePlugin, TiffImagePlugin
from prometheus_client import REGISTRY

from posts import services
from posts.media import files
from posts.media import services as media_services
from posts.models import MediaUpload, Post
from posts.tests.support import create, image_bytes, psd_bytes, served, upload
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def _eager(eager_tasks):
    """Checks run where they are queued (after commit): these tests are about the flow."""


def stored_names(prefix: str = "") -> list[str]:
    return sorted(n for p in files.ALL_PREFIXES if p.startswith(prefix) for n in files.walk(p))


def rejected(reason: str) -> float:
    labels = {"kind": "post", "reason": reason}
    return REGISTRY.get_sample_value("puppies_media_uploads_rejected_total", labels) or 0


def test_post_with_media_waits_for_its_upload(as_user):
    body = create(as_user, image_bytes())

    assert (body["status"], body["media"], body["media_error"]) == ("pending_media", None, None)
    link = body["upload"]
    assert (link["method"], link["headers"]) == ("PUT", {"Content-Type": "image/png"})
    assert link["url"].startswith("http://testserver/v1/uploads/")
    assert link["expires_at"]
    assert link["complete_url"] is None  # the local link completes by itself
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"


def test_a_pending_post_is_seen_by_its_author_only(as_user, user, client_for, api, drain_outbox):
    body = create(as_user, image_bytes())
    follower = client_for(UserFactory())
    follower.post(f"/v1/users/{user.id}/follow")
    drain_outbox()

    assert follower.get(f"/v1/posts/{body['id']}").status_code == 404
    assert api.get(f"/v1/posts/{body['id']}").status_code == 404
    assert follower.get(f"/v1/users/{user.id}/posts").json()["results"] == []
    assert follower.get("/v1/search/posts", {"q": "Rex"}).json()["results"] == []
    assert follower.get("/v1/feed").json()["results"] == []


def test_an_upload_with_no_bearer_token_publishes_the_post_into_followers_feeds(
    as_user, user, client_for, api, drain_outbox
):
    follower = client_for(UserFactory())
    follower.post(f"/v1/users/{user.id}/follow")
    data = image_bytes(size=(640, 480))
    body = create(as_user, data)
    # The follower's cache holds "not visible" for the pending post until it is published.
    assert follower.get(f"/v1/posts/{body['id']}").status_code == 404

    response = upload(api, body, data)  # `api` sends no Authorization header

    assert response.status_code == 202, response.content
    assert response.json() == {"state": "received"}
    post = follower.get(f"/v1/posts/{body['id']}").json()
    assert post["status"] == "published"
    media = post["media"]
    assert (media["content_type"], media["width"], media["height"]) == ("image/png", 640, 480)
    assert media["url"].startswith(f"/media/posts/{body['id']}/")
    assert len(media["blurhash"]) == 1 + 1 + 4 + 2 * (4 * 3 - 1)  # 4x3 components
    with Image.open(io.BytesIO(served(api, media["url"]))) as image:
        assert (image.format, image.size) == ("PNG", (640, 480))
    with Image.open(io.BytesIO(served(api, media["thumbnail_url"]))) as image:
        assert image.size == (320, 240)
    assert stored_names("incoming/") == []  # the unchecked bytes are gone

    drain_outbox()
    feed = follower.get("/v1/feed").json()["results"]
    assert [p["id"] for p in feed] == [body["id"]]
    assert feed[0]["media"] == media
    assert follower.get(f"/v1/users/{user.id}").json()["post_count"] == 1


def exif_jpeg() -> bytes:
    """A 60x40 JPEG whose EXIF says "rotate 90° clockwise to show" and where it was taken."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "PuppyCam"  # Make
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPSLatitude
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 200, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_exif_is_stripped_after_its_orientation_is_applied(as_user, api):
    data = exif_jpeg()
    body = create(as_user, data, "image/jpeg")
    upload(api, body, data)

    media = as_user.get(f"/v1/posts/{body['id']}").json()["media"]

    assert (media["width"], media["height"]) == (40, 60)  # upright
    with Image.open(io.BytesIO(served(api, media["url"]))) as image:
        assert image.size == (40, 60)
        assert dict(image.getexif()) == {}
        assert b"PuppyCam" not in served(api, media["url"])


@pytest.mark.parametrize(
    ("make", "content_type", "reason", "error"),
    [
        (lambda: b"definitely not a picture" * 10, "image/png", "not_an_image", "not a JPEG"),
        (lambda: image_bytes("JPEG"), "image/png", "wrong_type", "JPEG image, not the declared"),
        (lambda: image_bytes("PNG")[:-40], "image/png", "damaged", "damaged or truncated"),
        (psd_bytes, "image/png", "not_an_image", "not a JPEG, PNG, WebP or GIF"),
        (lambda: image_bytes("TIFF"), "image/png", "not_an_image", "not a JPEG, PNG, WebP"),
    ],
    ids=["text", "jpeg-as-png", "truncated", "psd-as-png", "tiff-as-png"],
)
def test_a_bad_file_leaves_the_post_unpublished_with_its_error_shown_to_the_author(
    as_user, user, client_for, api, make, content_type, reason, error
):
    data = make()
    body = create(as_user, data, content_type)
    before = rejected(reason)

    assert upload(api, body, data).status_code == 202

    post = as_user.get(f"/v1/posts/{body['id']}").json()
    assert (post["status"], post["media"]) == ("pending_media", None)
    assert error in post["media_error"]
    assert client_for(UserFactory()).get(f"/v1/posts/{body['id']}").status_code == 404
    assert stored_names() == []  # neither the bytes nor anything made of them stay
    assert rejected(reason) == before + 1
    assert as_user.get(f"/v1/users/{user.id}").json()["post_count"] == 0


def test_a_psd_or_tiff_declared_as_png_is_never_parsed(as_user, api, monkeypatch):
    """Issue 11 finding 5: Pillow tried every decoder it has before the type was compared."""
    parsed = []
    for plugin in (PsdImagePlugin.PsdImageFile, TiffImagePlugin.TiffImageFile):
        original = plugin._open
        monkeypatch.setattr(
            plugin, "_open", lambda self, original=original: parsed.append(self) or original(self)
        )
    with Image.open(io.BytesIO(psd_bytes())) as image:  # Pillow can read it...
        assert image.format == "PSD"
    parsed.clear()

    for data in (psd_bytes(), image_bytes("TIFF")):
        upload(api, create(as_user, data), data)

    assert parsed == []  # ...but never got to


def test_the_link_takes_the_declared_type_and_size_only(as_user, api, settings):
    data = image_bytes()
    body = create(as_user, data)

    wrong_type = upload(api, body, data, content_type="image/gif")
    assert wrong_type.status_code == 415
    assert "takes image/png only" in wrong_type.json()["error"]["message"]
    too_big = upload(api, body, data + b"extra")
    assert (too_big.status_code, too_big.json()["error"]["code"]) == (413, "too_large")
    too_short = upload(api, body, data[:-1])
    assert too_short.status_code == 400
    assert "exactly" in too_short.json()["error"]["fields"]["file"][0]
    # None of these used the link up.
    assert upload(api, body, data).status_code == 202
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "published"


def test_a_used_link_is_refused(as_user, api):
    data = image_bytes()
    body = create(as_user, data)
    assert upload(api, body, data).status_code == 202
    first = as_user.get(f"/v1/posts/{body['id']}").json()["media"]

    again = upload(api, body, image_bytes(size=(10, 10)))

    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "upload_link_used",
        "message": "This upload link was already used.",
    }
    assert as_user.get(f"/v1/posts/{body['id']}").json()["media"] == first


def test_an_expired_or_altered_link_is_refused(as_user, api, settings, monkeypatch):
    settings.MEDIA_UPLOAD_TTL_S = 60
    data = image_bytes()
    body = create(as_user, data)
    path = urlparse(body["upload"]["url"]).path

    altered = api.put(path + "x", data=data, content_type="image/png")
    assert (altered.status_code, altered.json()["error"]["code"]) == (404, "not_found")

    later = time.time() + 120
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    expired = api.put(path, data=data, content_type="image/png")
    assert expired.status_code == 400
    assert "expired" in expired.json()["error"]["fields"]["token"][0]


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_the_link_takes_a_put_only(as_user, api, method):
    data = image_bytes()
    path = urlparse(create(as_user, data)["upload"]["url"]).path

    if method == "get":
        response = api.get(path)
    else:
        response = getattr(api, method)(path, data=data, content_type="image/png")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_other_content_types_are_accepted(as_user, api):
    for fmt, content_type in [("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp")]:
        data = image_bytes(fmt)
        body = create(as_user, data, content_type)
        assert upload(api, body, data).status_code == 202
        post = as_user.get(f"/v1/posts/{body['id']}").json()
        assert (post["status"], post["media"]["content_type"]) == ("published", content_type)


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
    assert not Post.objects.exists()


def test_a_post_without_media_is_published_at_once(as_user):
    body = as_user.post("/v1/posts", {"content": "Rex"}, format="json").json()

    assert (body["status"], body["media"], body["media_error"]) == ("published", None, None)
    assert "upload" not in body
    assert not MediaUpload.objects.exists()


def test_an_image_with_too_many_pixels_is_refused_before_decoding(as_user, api, settings):
    settings.MEDIA_MAX_PIXELS = 100 * 100
    data = image_bytes(size=(101, 100))
    body = create(as_user, data)

    upload(api, body, data)

    post = as_user.get(f"/v1/posts/{body['id']}").json()
    assert post["status"] == "pending_media"
    assert "10,000 pixels" in post["media_error"]


def test_complete_is_for_the_author_and_idempotent(as_user, client_for, api):
    data = image_bytes()
    body = create(as_user, data)
    url = f"/v1/posts/{body['id']}/media/complete"

    missing = as_user.post(url)
    assert (missing.status_code, missing.json()["error"]["code"]) == (409, "upload_missing")
    assert client_for(UserFactory()).post(url).status_code == 404
    assert api.post(url).status_code == 401
    upload(api, body, data)

    for _ in range(2):
        response = as_user.post(url)
        assert response.status_code == 202
        assert response.json()["status"] == "published"
    as_user.delete(f"/v1/posts/{body['id']}")
    assert as_user.post(url).status_code == 404
    text_post = as_user.post("/v1/posts", {"content": "no picture"}, format="json").json()
    response = as_user.post(f"/v1/posts/{text_post['id']}/media/complete")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_media")


def published(as_user, api) -> dict:
    data = image_bytes()
    body = create(as_user, data)
    upload(api, body, data)
    return as_user.get(f"/v1/posts/{body['id']}").json()


def test_a_hidden_posts_files_are_not_served_until_it_is_shown_again(as_user, api):
    """Issue 11 finding 8: media outlived moderation."""
    post = published(as_user, api)
    moderator = UserFactory(role="moderator")
    media = post["media"]
    assert served(api, media["url"]) and served(api, media["thumbnail_url"])

    services.hide_post(Post.objects.get(pk=post["id"]), actor=moderator, reason="spam")

    assert served(api, media["url"]) is None
    assert served(api, media["thumbnail_url"]) is None

    services.unhide_post(Post.objects.get(pk=post["id"]), actor=moderator, reason="not spam")

    assert served(api, media["url"]) and served(api, media["thumbnail_url"])


def test_a_deleted_posts_files_go_at_once_from_view_and_after_the_grace_period_for_good(
    as_user, api, settings
):
    post = published(as_user, api)
    url = post["media"]["url"]
    assert as_user.delete(f"/v1/posts/{post['id']}").status_code == 204

    assert served(api, url) is None
    assert len(stored_names()) == 2  # kept, out of reach: the grace period
    media_services.clean_up()
    assert len(stored_names()) == 2

    settings.MEDIA_DELETE_GRACE_S = 0
    assert media_services.clean_up()["purged"] == 1

    assert stored_names() == []


def test_a_post_whose_upload_never_arrives_expires_with_its_bytes(as_user, api, settings):
    data = image_bytes()
    body = create(as_user, data)
    # A presigned upload may leave bytes nobody confirmed.
    upload_row = MediaUpload.objects.get(post_id=body["id"])
    files.save(upload_row.incoming_name, data)
    assert media_services.clean_up()["expired"] == 0

    MediaUpload.objects.update(created_at=upload_row.created_at.replace(year=2000))
    assert media_services.clean_up()["expired"] == 1

    assert as_user.get(f"/v1/posts/{body['id']}").status_code == 404
    assert stored_names() == []
    assert upload(api, body, data).status_code == 404  # its link is dead too


def test_media_gc_removes_old_orphans_only(as_user, api, media_root, settings):
    post = published(as_user, api)
    orphan = files.save("posts/999/orphan.png", image_bytes())
    young = files.save("posts/999/young.png", image_bytes())
    old = time.time() - settings.MEDIA_GC_MIN_AGE_S - 60
    for name in (orphan, *(urlparse(u).path.removeprefix("/media/") for u in (
        post["media"]["url"], post["media"]["thumbnail_url"]))):  # fmt: skip
        import os

        os.utime(media_root / name, (old, old))
    out = io.StringIO()

    call_command("media_gc", "--dry-run", stdout=out, stderr=io.StringIO())

    assert f"would remove {orphan}" in out.getvalue()
    assert "1 orphaned files would be removed." in out.getvalue()
    assert default_storage.exists(orphan)

    call_command("media_gc", stdout=io.StringIO(), stderr=io.StringIO())

    assert not default_storage.exists(orphan)
    assert default_storage.exists(young)
    assert served(api, post["media"]["url"])


def test_an_avatar_goes_through_the_same_flow_and_becomes_a_square_avatar_url(
    as_user, user, api, client_for
):
    post_id = as_user.post("/v1/posts", {"content": "hi"}, format="json").json()["id"]
    reader = client_for(UserFactory())
    assert reader.get(f"/v1/posts/{post_id}").json()["author"]["avatar_url"] == ""
    data = image_bytes("JPEG", size=(300, 200))

    response = as_user.post(
        "/v1/users/me/avatar", {"content_type": "image/jpeg", "size": len(data)}, format="json"
    )
    assert response.status_code == 201, response.content
    assert upload(api, response.json(), data).status_code == 202

    avatar_url = as_user.get("/v1/users/me").json()["avatar_url"]
    assert avatar_url.startswith(f"/media/avatars/{user.id}/")
    with Image.open(io.BytesIO(served(api, avatar_url))) as image:
        assert image.size == (256, 256)
    assert reader.get(f"/v1/posts/{post_id}").json()["author"]["avatar_url"] == avatar_url

    # A new avatar replaces the old one's file.
    response = as_user.post(
        "/v1/users/me/avatar", {"content_type": "image/jpeg", "size": len(data)}, format="json"
    )
    upload(api, response.json(), data)
    assert as_user.get("/v1/users/me").json()["avatar_url"] != avatar_url
    assert served(api, avatar_url) is None
    assert len(stored_names("avatars/")) == 1


def test_metrics_count_uploads_started_and_completed(as_user, api):
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"kind": "post"}) or 0

    before = [sample(f"puppies_media_uploads_{n}_total") for n in ("started", "completed")]
    checks = sample("puppies_media_check_duration_seconds_count")

    published(as_user, api)

    after = [sample(f"puppies_media_uploads_{n}_total") for n in ("started", "completed")]
    assert after == [before[0] + 1, before[1] + 1]
    assert sample("puppies_media_check_duration_seconds_count") == checks + 1


def test_served_media_and_avatar_urls_match_the_schema(as_user, api):
    from puppies.tests.test_api_contract import component, conforms

    schema = api.get("/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    media = published(as_user, api)["media"]
    data = image_bytes()
    response = as_user.post(
        "/v1/users/me/avatar", {"content_type": "image/png", "size": len(data)}, format="json"
    )
    upload(api, response.json(), data)
    me = as_user.get("/v1/users/me").json()

    for name in ("url", "thumbnail_url"):
        assert conforms(media[name], component(schema, "Media")["properties"][name])
    assert me["avatar_url"].startswith("/media/avatars/")
    for name in ("User", "Me", "Author"):
        assert conforms(me["avatar_url"], component(schema, name)["properties"]["avatar_url"])


def test_a_link_made_before_upload_rows_existed_is_404_not_500(as_user, api):
    from django.core import signing

    body = create(as_user, image_bytes())
    old = signing.dumps(
        {"post": body["id"], "ct": "image/png", "size": 10}, salt="posts.media.upload"
    )

    response = api.put(f"/v1/uploads/{old}", data=b"x" * 10, content_type="image/png")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_an_animation_is_capped_on_the_pixels_of_all_its_frames(as_user, api, settings):
    settings.MEDIA_MAX_PIXELS = 100 * 100 * 3
    frames = [Image.new("RGB", (100, 100), (i * 60, 0, 0)) for i in range(4)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    data = out.getvalue()
    body = create(as_user, data, "image/gif")

    upload(api, body, data)

    assert "all frames together" in as_user.get(f"/v1/posts/{body['id']}").json()["media_error"]


def test_a_check_over_its_time_budget_refuses_the_file(as_user, api, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    def too_slow(data, content_type, **_):
        raise SoftTimeLimitExceeded  # what Celery raises in the task at the soft limit

    monkeypatch.setattr("posts.media.images.check", too_slow)
    data = image_bytes()
    body = create(as_user, data)

    upload(api, body, data)

    post = as_user.get(f"/v1/posts/{body['id']}").json()
    assert (post["status"], post["media_error"]) == (
        "pending_media",
        "This image took too long to check.",
    )


def test_storage_down_while_receiving_is_503_and_the_link_stays_usable(as_user, api, monkeypatch):
    data = image_bytes()
    body = create(as_user, data)

    def down(name, data):
        raise OSError("storage unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(files, "save", down)
        response = upload(api, body, data)
    assert (response.status_code, response.json()["error"]["code"]) == (503, "service_unavailable")

    assert upload(api, body, data).status_code == 202
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "published"
