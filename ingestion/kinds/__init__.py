"""The kinds of source: adding one is a module (its streams and a `Kind`) and a line here."""

from ingestion.kinds import jsonplaceholder, pokeapi
from ingestion.kinds.base import CommentRecord, InvalidItem, Kind, PostRecord, Record, Stream

KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (jsonplaceholder.KIND, pokeapi.BERRIES, pokeapi.POKEMON)
}

__all__ = ["KINDS", "CommentRecord", "InvalidItem", "Kind", "PostRecord", "Record", "Stream"]
