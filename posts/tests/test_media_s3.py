"""The media flow against a real S3-compatible server: moto's standalone server, started
here on a free port. Clients upload with a presigned POST (no bearer token), then call
`.../complete`; the bucket serves only checked files of visible posts (its policy)."""

import base64
import io
import json
import socket
import subprocess
import sys
import uuid
from urllib.parse import urlparse

import boto3
import httpx
import pytest
from django.core.management import call_command
from PIL import Image

from posts import services
from posts.models import Post
from posts.tests.support import image_bytes, psd_bytes
from puppies.tests.support import wait_for
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
KEY, SECRET, REGION = "test-key", "test-secret", "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(  # noqa: S603 - moto from our own venv, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{endpoint}/moto-api/").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, timeout=30)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def bucket(s3_endpoint, settings, eager_tasks) -> str:
    """A fresh bucket as production sets it up: public reads of posts/ and avatars/ only."""
    name = f"puppies-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=name)
    public = [f"arn:aws:s3:::{name}/{prefix}*" for prefix in ("posts/", "avatars/")]
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": public}
    client.put_bucket_policy(
        Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    settings.MEDIA_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "region_name": REGION,
                "access_key": KEY,
                "secret_key": SECRET,
                "querystring_auth": False,
                "file_overwrite": False,
            },
        },
    }
    return name


def send(link: dict, data: bytes, content_type: str | None = None) -> httpx.Response:
    """What a client does with the `upload` block: a multipart POST, no Authorization."""
    assert link["method"] == "POST"
    fields = dict(link["fields"])
    if content_type:
        fields["Content-Type"] = content_type
    return httpx.post(link["url"], data=fields, files={"file": ("dog", data, "image/png")})


def complete(client, link: dict):
    return client.post(urlparse(link["complete_url"]).path)


def create(client, data: bytes, content_type: str = "image/png") -> dict:
    claim = {"content_type": content_type, "size": len(data)}
    response = client.post("/v1/posts", {"content": "Rex", "media": claim}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_presigned_post_then_complete_publishes_into_a_followers_feed(
    bucket, s3_endpoint, user, as_user, client_for, drain_outbox
):
    follower = client_for(UserFactory())
    follower.post(f"/v1/users/{user.id}/follow")
    data = image_bytes(size=(640, 480))
    body = create(as_user, data)
    link = body["upload"]
    assert link["url"] == f"{s3_endpoint}/{bucket}"
    assert link["fields"]["Content-Type"] == "image/png"
    assert link["complete_url"] == f"http://testserver/v1/posts/{body['id']}/media/complete"
    policy = json.loads(base64.b64decode(link["fields"]["policy"]))
    assert ["content-length-range", len(data), len(data)] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]

    assert send(link, data).status_code == 204
    assert as_user.get(f"/v1/posts/{body['id']}").json()["status"] == "pending_media"
    response = complete(as_user, link)

    assert response.status_code == 202, response.content
    assert complete(as_user, link).status_code == 202  # idempotent
    drain_outbox()
    feed = follower.get("/v1/feed").json()["results"]
    assert [p["id"] for p in feed] == [body["id"]]
    media = feed[0]["media"]
    assert media["url"].startswith(f"{s3_endpoint}/{bucket}/posts/{body['id']}/")
    thumbnail = httpx.get(media["thumbnail_url"])  # straight from the bucket, anonymously
    assert thumbnail.status_code == 200
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert image.size == (320, 240)
    # The unchecked upload is gone, and was never public.
    assert httpx.get(f"{s3_endpoint}/{bucket}/{link['fields']['key']}").status_code in (403, 404)

    moderator = UserFactory(role="moderator")
    services.hide_post(Post.objects.get(pk=body["id"]), actor=moderator, reason="spam")
    assert httpx.get(media["thumbnail_url"]).status_code == 404  # moved out of posts/
    services.unhide_post(Post.objects.get(pk=body["id"]), actor=moderator, reason="ok")
    assert httpx.get(media["thumbnail_url"]).status_code == 200


def test_complete_before_the_file_arrived_is_409_and_others_get_404(bucket, as_user, client_for):
    body = create(as_user, image_bytes())

    response = complete(as_user, body["upload"])

    assert (response.status_code, response.json()["error"]["code"]) == (409, "upload_missing")
    assert complete(client_for(UserFactory()), body["upload"]).status_code == 404


@pytest.mark.parametrize(
    ("declared", "sent", "error"),
    [
        # S3 refuses this at the POST (the policy); moto does not check policies, and
        # neither would a misconfigured bucket: the check is the second line.
        (image_bytes(), image_bytes() + b"more", "not the declared"),
        (psd_bytes(), psd_bytes(), "not a JPEG, PNG, WebP or GIF image"),
        (image_bytes("TIFF"), image_bytes("TIFF"), "not a JPEG, PNG, WebP or GIF image"),
    ],
    ids=["bigger-than-declared", "psd-as-png", "tiff-as-png"],
)
def test_a_bad_file_in_the_bucket_is_rejected_by_the_check(bucket, as_user, declared, sent, error):
    body = create(as_user, declared)
    send(body["upload"], sent)

    assert complete(as_user, body["upload"]).status_code == 202

    post = as_user.get(f"/v1/posts/{body['id']}").json()
    assert post["status"] == "pending_media"
    assert error in post["media_error"]


def test_an_avatar_through_the_bucket(bucket, s3_endpoint, user, as_user):
    data = image_bytes("JPEG", size=(300, 400))
    response = as_user.post(
        "/v1/users/me/avatar", {"content_type": "image/jpeg", "size": len(data)}, format="json"
    )
    link = response.json()["upload"]
    assert send(link, data).status_code == 204

    assert complete(as_user, link).status_code == 202

    avatar_url = as_user.get("/v1/users/me").json()["avatar_url"]
    assert avatar_url.startswith(f"{s3_endpoint}/{bucket}/avatars/{user.id}/")
    with Image.open(io.BytesIO(httpx.get(avatar_url).content)) as image:
        assert image.size == (256, 256)


def test_media_gc_finds_orphans_in_the_bucket(bucket, settings):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    settings.MEDIA_GC_MIN_AGE_S = 0
    default_storage.save("posts/7/lost.png", ContentFile(b"x"))
    out = io.StringIO()

    call_command("media_gc", stdout=out, stderr=io.StringIO())

    assert "removing posts/7/lost.png" in out.getvalue()
    assert not default_storage.exists("posts/7/lost.png")
