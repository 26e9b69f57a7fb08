"""What storage holds, by name prefix, and moving or removing it.

- `incoming/<random>`: a client's bytes before their check; never served.
- `posts/<post id>/<random>.<ext>`, `avatars/<user id>/<random>.<ext>`: checked files,
  the only ones served (MEDIA_URL; the bucket policy in production, docs/media.md).
- `hidden/<public name>`: the files of a hidden or deleted post, out of reach until it
  is shown again (or purged once MEDIA_DELETE_GRACE_S has passed after its deletion).
"""

import contextlib
import uuid
from collections.abc import Iterable, Iterator

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

INCOMING = "incoming/"
HIDDEN = "hidden/"
PUBLIC_PREFIXES = ("posts/", "avatars/")
ALL_PREFIXES = (INCOMING, HIDDEN, *PUBLIC_PREFIXES)


def incoming_name() -> str:
    return f"{INCOMING}{uuid.uuid4().hex}"


def save(name: str, data: bytes) -> str:
    """Store `data` under `name` exactly (a name taken by a leftover is replaced)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def delete(names: Iterable[str]) -> None:
    for name in names:
        # Already gone is fine; anything left behind is found by `manage.py media_gc`.
        with contextlib.suppress(FileNotFoundError):
            default_storage.delete(name)


def delete_after_commit(names: Iterable[str]) -> None:
    names = list(names)
    transaction.on_commit(lambda: delete(names))


def move(source: str, target: str) -> None:
    """`source` to `target`, if `source` is still there (a repeat is harmless)."""
    if not default_storage.exists(source):
        return
    with default_storage.open(source) as f:
        data = f.read()
    save(target, data)
    default_storage.delete(source)


def url(name: str) -> str:
    return default_storage.url(name)


def visibility_changed(post) -> None:
    """The post was hidden, shown or deleted: its files follow once this commits."""
    if post.media and "url" in post.media:
        from posts import tasks  # tasks import the services, which import posts.services

        post_id = post.pk
        transaction.on_commit(lambda: tasks.sync_media_visibility.delay(post_id))


def walk(prefix: str) -> Iterator[str]:
    """Every stored name under `prefix` (a folder, ending in '/')."""
    try:
        folders, names = default_storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in names:
        yield f"{prefix}{name}"
    for folder in folders:
        yield from walk(f"{prefix}{folder}/")


def random_stem() -> str:
    return uuid.uuid4().hex


def exists(name: str) -> bool:
    return default_storage.exists(name)


def read(name: str, limit: int) -> bytes | None:
    """Up to `limit` bytes of `name`; None if it is not there."""
    if not default_storage.exists(name):
        return None
    with default_storage.open(name) as f:
        return f.read(limit)


def modified_at(name: str):
    return default_storage.get_modified_time(name)
