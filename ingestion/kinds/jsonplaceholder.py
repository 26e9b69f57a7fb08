"""JSONPlaceholder (json-server): /posts become posts, /comments comments on them."""

from dataclasses import dataclass

from ingestion.kinds.base import (
    CommentRecord,
    InvalidItem,
    Kind,
    PostRecord,
    Stream,
    comment_text,
    identifier,
    post_text,
    query,
    text,
)


@dataclass(frozen=True)
class _Listing(Stream):
    path: str = ""

    def page_url(self, base_url: str, page: int, size: int) -> str:
        return query(f"{base_url.rstrip('/')}/{self.path}", _page=page + 1, _limit=size)

    def items(self, payload: object) -> list:
        if not isinstance(payload, list):
            raise InvalidItem(f"Expected a JSON list of {self.path}.")
        return payload

    def is_last(self, payload: object, items: list, size: int) -> bool:
        return len(items) < size

    def item_url(self, base_url: str, item: dict) -> str | None:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            return f"{base_url.rstrip('/')}/{self.path}/{item['id']}"
        return None


@dataclass(frozen=True)
class Posts(_Listing):
    def item_key(self, item: object) -> str | None:
        return f"post:{item['id']}" if isinstance(item, dict) and "id" in item else None

    def records(self, item: object) -> list:
        if not isinstance(item, dict):
            raise InvalidItem("A post must be a JSON object.")
        pk = identifier(item)
        return [
            PostRecord(f"post:{pk}", post_text(f"{text(item, 'title')}\n\n{text(item, 'body')}"))
        ]


@dataclass(frozen=True)
class Comments(_Listing):
    def item_key(self, item: object) -> str | None:
        return f"comment:{item['id']}" if isinstance(item, dict) and "id" in item else None

    def records(self, item: object) -> list:
        if not isinstance(item, dict):
            raise InvalidItem("A comment must be a JSON object.")
        pk, post = identifier(item), identifier(item, "postId")
        return [CommentRecord(f"comment:{pk}", f"post:{post}", comment_text(text(item, "body")))]


KIND = Kind(
    "jsonplaceholder",
    (Posts("posts", path="posts"), Comments("comments", path="comments")),
)
