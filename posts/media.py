"""Post images: signed upload links, checking an uploaded image, storing it with a thumbnail.

Every file goes through `default_storage`, so moving media to a bucket is configuration.
"""

import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import BaseParser

from puppies.errors import PayloadTooLarge

# content type -> the format Pillow must find in the bytes, and the file extension
FORMATS = {
    "image/jpeg": ("JPEG", "jpg"),
    "image/png": ("PNG", "png"),
    "image/webp": ("WEBP", "webp"),
    "image/gif": ("GIF", "gif"),
}
THUMBNAIL_MAX_PX = 320
_UPLOAD_SALT = "posts.media.upload"


@dataclass(frozen=True)
class UploadGrant:
    """What a valid upload link allows: one image of `content_type`, at most `size` bytes."""

    post_id: int
    content_type: str
    size: int


def upload_request(post) -> dict:
    """The `upload` block for a post pending media: where and how to send the file."""
    token = signing.dumps(
        {"post": post.pk, "ct": post.media["content_type"], "size": post.media["size"]},
        salt=_UPLOAD_SALT,
    )
    expires_at: datetime = timezone.now() + timedelta(seconds=settings.MEDIA_UPLOAD_TTL_S)
    return {
        "url": reverse("media-upload", kwargs={"token": token}),
        "method": "PUT",
        "headers": {"Content-Type": post.media["content_type"]},
        "expires_at": expires_at,
    }


def read_grant(token: str) -> UploadGrant:
    try:
        data = signing.loads(token, salt=_UPLOAD_SALT, max_age=settings.MEDIA_UPLOAD_TTL_S)
    except signing.SignatureExpired:
        raise ValidationError({"token": ["This upload link has expired."]}) from None
    except signing.BadSignature:
        raise NotFound("Upload link not found.") from None
    return UploadGrant(post_id=data["post"], content_type=data["ct"], size=data["size"])


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    thumbnail: bytes
    width: int
    height: int


class _TooManyPixels(Exception):
    pass


def check_image(data: bytes, grant: UploadGrant) -> CheckedImage:
    """The upload if it is an image of the declared type and size, with its thumbnail."""
    if len(data) > grant.size:
        raise PayloadTooLarge(f"The body is larger than the declared {grant.size} bytes.")
    expected_format, _ = FORMATS[grant.content_type]
    try:
        with Image.open(io.BytesIO(data)) as image:
            found_format = image.format
            pixels = image.size[0] * image.size[1]
            image.verify()
        if pixels > settings.MEDIA_MAX_PIXELS:
            # A small file can decode to gigabytes (a "decompression bomb"): refuse it unread.
            raise _TooManyPixels
        # verify() leaves the image unusable; decoding it again also catches truncated data.
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            thumbnail = _thumbnail(image)
    except _TooManyPixels:
        raise ValidationError(
            {"file": [f"At most {settings.MEDIA_MAX_PIXELS:,} pixels, please."]}
        ) from None
    except Exception:  # Pillow raises many types for undecodable or hostile input
        raise ValidationError({"file": ["This is not a readable image."]}) from None
    if found_format != expected_format:
        raise ValidationError({"file": [f"This is not a {grant.content_type} image."]})
    return CheckedImage(data=data, thumbnail=thumbnail, width=width, height=height)


def _thumbnail(image: Image.Image) -> bytes:
    image.thumbnail((THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX))
    out = io.BytesIO()
    if image.format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=85)
    else:  # PNG keeps transparency and palettes; a GIF thumbnail is its first frame
        image.save(out, "PNG")
    return out.getvalue()


def store(post_id: int, content_type: str, image: CheckedImage) -> dict:
    """Save the image and its thumbnail; the post's `media` describing them."""
    _, extension = FORMATS[content_type]
    stem = f"posts/{post_id}/{uuid.uuid4().hex}"
    thumb_extension = "jpg" if extension == "jpg" else "png"
    name = default_storage.save(f"{stem}.{extension}", ContentFile(image.data))
    thumb = default_storage.save(f"{stem}_thumb.{thumb_extension}", ContentFile(image.thumbnail))
    return {
        "url": default_storage.url(name),
        "content_type": content_type,
        "width": image.width,
        "height": image.height,
        "thumbnail_url": default_storage.url(thumb),
    }


class ImageUploadParser(BaseParser):
    """The raw body of an image upload, read up to MEDIA_MAX_BYTES (beyond: 413).

    DRF hands over the request itself as the stream, so this read is not capped by
    REQUEST_BODY_MAX_BYTES, which is meant for JSON bodies.
    """

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        limit = settings.MEDIA_MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge(f"Images are at most {limit} bytes.")
        return data
