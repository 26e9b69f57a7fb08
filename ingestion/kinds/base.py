"""What a kind of source is: streams of pages, each item turned into posts and comments.

A kind module defines its streams and a `KIND`; `ingestion.kinds.KINDS` lists them.
"""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings


class InvalidItem(ValueError):
    """An item (or a page) is not what the kind expects; the message says what is wrong."""


@dataclass(frozen=True)
class PostRecord:
    external_id: str
    content: str


@dataclass(frozen=True)
class CommentRecord:
    external_id: str
    parent_id: str  # the external id of the post it is on
    content: str


Record = PostRecord | CommentRecord


def text(item: dict, key: str, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidItem(f"{key!r} is missing or not a non-empty string.")
    return value.strip()


def identifier(item: dict, key: str = "id") -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidItem(f"{key!r} is missing or not a positive integer.")
    return value


def fit(content: str, limit: int) -> str:
    """Imported text longer than our limit is cut (with an ellipsis), not refused."""
    return content if len(content) <= limit else content[: limit - 1] + "…"


def post_text(content: str) -> str:
    return fit(content, settings.POST_MAX_LENGTH)


def comment_text(content: str) -> str:
    return fit(content, settings.COMMENT_MAX_LENGTH)


@dataclass(frozen=True)
class Stream:
    """One paged listing of a source. Subclasses say how its pages and items look.

    `detailed`: list items only refer to the item (PokeAPI's {name, url}); each is
    fetched from `item_url` before `records` sees it.
    """

    name: str
    detailed: bool = field(default=False)

    def page_url(self, base_url: str, page: int, size: int) -> str:
        raise NotImplementedError

    def items(self, payload: object) -> list:
        raise NotImplementedError

    def is_last(self, payload: object, items: list, size: int) -> bool:
        raise NotImplementedError

    def item_url(self, base_url: str, item: dict) -> str | None:
        """Where this one item can be fetched again (a retry refetches it), if anywhere."""
        return None

    def item_key(self, item: object) -> str | None:
        """The external id that names the item in a dead letter, if it has a usable one."""
        return None

    def records(self, item: object) -> list[Record]:
        """The posts and comments the item becomes; InvalidItem if it is not valid."""
        raise NotImplementedError


def query(url: str, **params) -> str:
    return f"{url.rstrip('/')}?{urlencode(params)}"


@dataclass(frozen=True)
class Kind:
    name: str
    streams: tuple[Stream, ...]

    def stream(self, name: str) -> Stream:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)
