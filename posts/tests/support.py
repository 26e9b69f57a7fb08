"""Helpers of the media tests: images in any format, and the client's side of the flow."""

import io
import struct
from urllib.parse import urlparse

from PIL import Image


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (640, 480), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, fmt, **save)
    return out.getvalue()


def psd_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    """A minimal Photoshop file (Pillow reads PSD but cannot write it)."""
    width, height = size
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # color mode data, image resources, layers
    return header + sections + struct.pack(">H", 0) + bytes(3 * width * height)


def create(client, data: bytes, content_type: str = "image/png", content: str = "Rex #dogs"):
    claim = {"content_type": content_type, "size": len(data)}
    response = client.post("/v1/posts", {"content": content, "media": claim}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def upload(client, body: dict, data: bytes, content_type: str | None = None, **extra):
    """PUT `data` to the post's upload link, as the link says (no Authorization)."""
    link = body["upload"]
    path = urlparse(link["url"]).path
    return client.put(
        path, data=data, content_type=content_type or link["headers"]["Content-Type"], **extra
    )


def served(client, url: str) -> bytes | None:
    """The bytes served at a media URL (None: not served)."""
    response = client.get(url)
    if response.status_code != 200:
        return None
    return b"".join(response.streaming_content)
