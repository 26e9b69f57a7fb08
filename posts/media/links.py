"""Where and how a client sends a file: the `upload` block, and reading a local link back.

Locally the link is our own endpoint carrying a signed token (django.core.signing, salted,
expiring) bound to the upload row, its post, content type and size: it needs no bearer
token, like a presigned URL. The row makes it single-use (posts.media.services.receive).
With S3 it is a presigned POST whose policy pins the key, the content type and the exact
size; the client then calls the `complete_url`.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError

from posts.models import MediaUpload

_SALT = "posts.media.upload"


class UploadLinkNotFound(NotFound):
    """The one 404 of an upload link: forged, from before upload rows, or its upload gone."""

    default_detail = "Upload link not found."


@dataclass(frozen=True)
class UploadGrant:
    """What a valid local link allows: one file of `content_type`, exactly `size` bytes."""

    upload_id: int
    post_id: int | None
    content_type: str
    size: int


def instructions(upload: MediaUpload) -> dict:
    """The `upload` block: url, method, headers or fields, expires_at, complete_url."""
    ttl = settings.MEDIA_UPLOAD_TTL_S
    expires_at = timezone.now() + timedelta(seconds=ttl)
    if upload.kind == MediaUpload.Kind.POST:
        complete = reverse("post-media-complete", kwargs={"post_id": upload.post_id})
    else:
        complete = reverse("avatar-complete")
    if settings.MEDIA_STORAGE == "s3":
        client = default_storage.connection.meta.client
        presigned = client.generate_presigned_post(
            Bucket=default_storage.bucket_name,
            Key=upload.incoming_name,
            Fields={"Content-Type": upload.content_type},
            Conditions=[
                {"Content-Type": upload.content_type},
                ["content-length-range", upload.size, upload.size],
            ],
            ExpiresIn=ttl,
        )
        return {
            "url": presigned["url"],
            "method": "POST",
            "fields": presigned["fields"],
            "expires_at": expires_at,
            "complete_url": complete,
        }
    token = signing.dumps(
        {
            "u": upload.pk,
            "p": upload.post_id,
            "ct": upload.content_type,
            "size": upload.size,
        },
        salt=_SALT,
    )
    return {
        "url": reverse("media-upload", kwargs={"token": token}),
        "method": "PUT",
        "headers": {"Content-Type": upload.content_type},
        "expires_at": expires_at,
        # The local endpoint completes by itself; calling this anyway does no harm.
        "complete_url": None,
    }


def read_grant(token: str) -> UploadGrant:
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.MEDIA_UPLOAD_TTL_S)
    except signing.SignatureExpired:
        raise ValidationError(
            {"token": ["This upload link has expired; create the post again."]}
        ) from None
    except signing.BadSignature:
        raise UploadLinkNotFound from None
    try:
        return UploadGrant(
            upload_id=data["u"], post_id=data["p"], content_type=data["ct"], size=data["size"]
        )
    except (KeyError, TypeError):  # a link signed before upload rows existed
        raise UploadLinkNotFound from None
