"""Checking an uploaded image: the declared type, the pixel cap, then a clean re-encode.

Runs in a Celery worker (posts.tasks), never in a web request: decoding a hostile file
costs memory and CPU that the web workers must not pay.
"""

import io
import warnings
from dataclasses import dataclass

import blurhash
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

# content type -> the format Pillow must find in the bytes, and the file extension
FORMATS = {
    "image/jpeg": ("JPEG", "jpg"),
    "image/png": ("PNG", "png"),
    "image/webp": ("WEBP", "webp"),
    "image/gif": ("GIF", "gif"),
}
# Pillow tries only these decoders: a PSD, TIFF or any other format is never parsed.
_ALLOWED = tuple(fmt for fmt, _ in FORMATS.values())
THUMBNAIL_MAX_PX = 320
AVATAR_PX = 256
_BLURHASH_PX = 32


class Rejected(Exception):
    """The file is not an acceptable image; `reason` labels the metric, `message` the user."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclass(frozen=True)
class CheckedImage:
    data: bytes  # re-encoded: orientation applied, EXIF and other metadata gone
    extension: str
    thumbnail: bytes
    thumbnail_extension: str
    width: int
    height: int
    blurhash: str


def check(data: bytes, content_type: str, *, square: bool = False) -> CheckedImage:
    """`data` if it is an image of `content_type` within the pixel cap, cleaned, with a
    thumbnail (a centred square one with `square`, for avatars) and its blurhash."""
    expected, extension = FORMATS[content_type]
    try:
        # Opening reads the header only: format and size are known before any decoding.
        with warnings.catch_warnings(), Image.open(io.BytesIO(data), formats=_ALLOWED) as image:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            found, (width, height) = image.format, image.size
            # Frames are counted from their headers, without decoding them.
            frames = getattr(image, "n_frames", 1)
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise Rejected("not_an_image", "This file is not a JPEG, PNG, WebP or GIF image.") from None
    except Exception:  # a recognised header that then breaks the parser
        raise Rejected("damaged", "This image is damaged or truncated.") from None
    if found != expected:
        raise Rejected("wrong_type", f"This is a {found} image, not the declared {content_type}.")
    if width * height * frames > settings.MEDIA_MAX_PIXELS:
        # A small file can decode to gigabytes (a "decompression bomb"): refuse it unread.
        raise Rejected(
            "too_many_pixels",
            f"At most {settings.MEDIA_MAX_PIXELS:,} pixels, please (all frames together).",
        )
    try:
        with Image.open(io.BytesIO(data), formats=(expected,)) as image:
            image.load()  # the whole decode: truncated data fails here
            return _clean(image, expected, extension, square=square)
    except Exception:  # Pillow raises many types for undecodable or hostile input
        raise Rejected("damaged", "This image is damaged or truncated.") from None


def _clean(image: Image.Image, fmt: str, extension: str, *, square: bool) -> CheckedImage:
    animated = getattr(image, "n_frames", 1) > 1
    # Orientation first (a phone's portrait photo is stored sideways plus an EXIF tag),
    # then every metadata block is dropped by re-encoding: EXIF carries GPS positions.
    upright = image if animated else ImageOps.exif_transpose(image)
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    options: dict = {"icc_profile": icc} if icc and fmt != "GIF" else {}
    if animated:
        upright.save(out, fmt, save_all=True, **options)
    elif fmt in ("JPEG", "WEBP"):
        upright.save(out, fmt, quality=90, **options)
    else:
        upright.save(out, fmt, **options)
    first = upright.convert("RGBA" if _has_alpha(upright) else "RGB")
    if square:
        thumb = ImageOps.fit(first, (AVATAR_PX, AVATAR_PX))
    else:
        thumb = first.copy()
        thumb.thumbnail((THUMBNAIL_MAX_PX, THUMBNAIL_MAX_PX))
    thumb_out = io.BytesIO()
    if fmt == "JPEG":
        thumb.convert("RGB").save(thumb_out, "JPEG", quality=85)
        thumb_extension = "jpg"
    else:  # PNG keeps transparency; a GIF's thumbnail is its first frame
        thumb.save(thumb_out, "PNG")
        thumb_extension = "png"
    return CheckedImage(
        data=out.getvalue(),
        extension=extension,
        thumbnail=thumb_out.getvalue(),
        thumbnail_extension=thumb_extension,
        width=upright.width,
        height=upright.height,
        blurhash=_blurhash(first),
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


def _blurhash(image: Image.Image) -> str:
    small = image.convert("RGB").resize((_BLURHASH_PX, _BLURHASH_PX))
    pixels = list(small.get_flattened_data())
    rows = [pixels[y * _BLURHASH_PX : (y + 1) * _BLURHASH_PX] for y in range(_BLURHASH_PX)]
    return blurhash.encode(rows, components_x=4, components_y=3)
