"""PokeAPI: berries become posts (their flavors comments), Pokémon posts tagged by type.

Listings are `{count, next, results: [{name, url}]}`; each item is fetched from its url.
"""

import re
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

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}$")


def _name(item: dict, key: str = "name") -> str:
    value = text(item, key)
    if not _NAME_RE.match(value):
        raise InvalidItem(f"{key!r} is not a PokeAPI name: {value[:60]!r}.")
    return value


def _title(name: str) -> str:
    return name.replace("-", " ").title()


@dataclass(frozen=True)
class _Listing(Stream):
    resource: str = ""
    detailed: bool = True

    def page_url(self, base_url: str, page: int, size: int) -> str:
        return query(f"{base_url.rstrip('/')}/{self.resource}", offset=page * size, limit=size)

    def items(self, payload: object) -> list:
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise InvalidItem("Expected a PokeAPI listing with a 'results' list.")
        return payload["results"]

    def is_last(self, payload: object, items: list, size: int) -> bool:
        return not payload.get("next") or not items

    def item_url(self, base_url: str, item: dict) -> str | None:
        url = item.get("url") if isinstance(item, dict) else None
        return url if isinstance(url, str) else None

    def item_key(self, item: object) -> str | None:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            return f"{self.resource}:{item['name'][:60]}"
        return None


@dataclass(frozen=True)
class Berries(_Listing):
    def records(self, item: object) -> list:
        if not isinstance(item, dict):
            raise InvalidItem("A berry must be a JSON object.")
        name = _name(item)
        identifier(item)
        firmness = item.get("firmness") or {}
        flavors = item.get("flavors")
        if not isinstance(flavors, list):
            raise InvalidItem("'flavors' is missing or not a list.")
        post_id = f"berry:{name}"
        facts = [f"{_title(name)} berry"]
        if isinstance(firmness, dict) and firmness.get("name"):
            facts.append(f"{_title(_name(firmness))} firmness")
        if isinstance(item.get("growth_time"), int):
            facts.append(f"grows in {item['growth_time']} h")
        records: list = [PostRecord(post_id, post_text(", ".join(facts) + ". #berries"))]
        for flavor in flavors:
            if not isinstance(flavor, dict) or not isinstance(flavor.get("flavor"), dict):
                raise InvalidItem("A flavor must be {potency, flavor: {name}}.")
            potency = flavor.get("potency")
            if not isinstance(potency, int):
                raise InvalidItem("A flavor's 'potency' must be an integer.")
            if potency > 0:
                flavor_name = _name(flavor["flavor"])
                records.append(
                    CommentRecord(
                        f"{post_id}:flavor:{flavor_name}",
                        post_id,
                        comment_text(f"{_title(flavor_name)} flavor, potency {potency}."),
                    )
                )
        return records


@dataclass(frozen=True)
class Pokemon(_Listing):
    def records(self, item: object) -> list:
        if not isinstance(item, dict):
            raise InvalidItem("A Pokémon must be a JSON object.")
        name = _name(item)
        types = item.get("types")
        if not isinstance(types, list) or not types:
            raise InvalidItem("'types' is missing or empty.")
        tags = []
        for entry in types:
            if not isinstance(entry, dict) or not isinstance(entry.get("type"), dict):
                raise InvalidItem("A type must be {slot, type: {name}}.")
            tags.append("#" + _name(entry["type"]).replace("-", "_"))
        return [PostRecord(f"pokemon:{name}", post_text(f"{_title(name)} {' '.join(tags)}"))]


BERRIES = Kind("pokeapi-berries", (Berries("berries", resource="berry"),))
POKEMON = Kind("pokeapi-pokemon", (Pokemon("pokemon", resource="pokemon"),))
