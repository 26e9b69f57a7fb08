"""The one pagination of the API: opaque keyset cursors.

A cursor is the sort key of the last item served, signed so that a tampered or
foreign cursor is a 400 rather than a wrong page or a 500. Keyset (not offset)
pagination is what keeps pages stable while new items arrive: the next page
starts strictly after the last key seen, whatever was inserted above it.
"""

import functools
import hmac
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from django.http import HttpResponse
from django.utils.crypto import salted_hmac
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

_SALT = "puppies.cursor"


def encode_cursor(key: Sequence[Any]) -> str:
    # Uncompressed: a key is a few dozen bytes, which zlib would not shrink for its cost.
    return _Signer(salt=_SALT).sign_object(list(key), serializer=_Serializer)


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = _Signer(salt=_SALT).unsign_object(cursor, serializer=_Serializer)
    except (signing.BadSignature, ValueError, TypeError):
        raise ValidationError({"cursor": ["Invalid cursor."]}) from None
    if not isinstance(key, list):
        raise ValidationError({"cursor": ["Invalid cursor."]})
    return key


class _Serializer(signing.JSONSerializer):
    def dumps(self, obj):
        return super().dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in obj])


class _Signer(signing.TimestampSigner):
    """Django's signed cursors, byte for byte (SECRET_KEY_FALLBACKS still verify), with
    each key's HMAC set up once rather than per cursor: every page signs one."""

    def signature(self, value: str, key=None) -> str:
        mac = _keyed_hmac(key or self.key, self.salt + "signer").copy()
        mac.update(value.encode())
        return signing.b64_encode(mac.digest()).decode()


@functools.lru_cache(maxsize=8)
def _keyed_hmac(secret: str | bytes, salt: str) -> hmac.HMAC:
    return salted_hmac(salt, b"", secret, algorithm="sha256")


def rendered_page(results: list[bytes], next_cursor: str | None) -> HttpResponse:
    """A page whose items are already JSON (posts.rendering): joined, not re-encoded."""
    cursor = b"null" if next_cursor is None else b'"%s"' % next_cursor.encode()
    body = b'{"results":[%s],"next_cursor":%s}' % (b",".join(results), cursor)
    return HttpResponse(body, content_type="application/json")


def query_value(request, name: str) -> str | None:
    """The one value of a query parameter: `?limit=5&limit=` is refused (400), not read as
    its last value, which the schema (one integer) does not allow."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError({name: ["Give this parameter once."]})
    return values[0] if values else None


def read_limit(request) -> int:
    raw = query_value(request, "limit")
    if raw in (None, ""):
        return settings.PAGE_DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= settings.PAGE_MAX_LIMIT:
        raise ValidationError(
            {"limit": [f"Must be a whole number from 1 to {settings.PAGE_MAX_LIMIT}."]}
        )
    return limit


class KeysetPagination(BasePagination):
    """Pages a queryset by the view's `ordering`, e.g. ("-created_at", "-id").

    All ordering fields go the same way and the last one must be unique, so the
    key of the last item served identifies the page boundary exactly.
    """

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        ordering: Sequence[str] = view.ordering
        descending = ordering[0].startswith("-")
        names = [field.lstrip("-") for field in ordering]
        limit = read_limit(request)

        cursor = query_value(request, "cursor")
        if cursor:
            key = self._parse_key(queryset, names, decode_cursor(cursor))
            after = TupleLessThan if descending else TupleGreaterThan
            queryset = queryset.filter(after(Tuple(*(F(n) for n in names)), key))

        items = list(queryset.order_by(*ordering)[: limit + 1])
        self.next_cursor = None
        if len(items) > limit:
            items = items[:limit]
            last = items[-1]
            # rows of a values() queryset (grouped lists) are dicts
            self.next_cursor = encode_cursor(
                [last[n] if isinstance(last, dict) else getattr(last, n) for n in names]
            )
        return items

    @staticmethod
    def _parse_key(queryset: QuerySet, names: list[str], raw: list) -> tuple:
        if len(raw) != len(names):
            raise ValidationError({"cursor": ["Invalid cursor."]})

        def field(name: str):  # a model field, or an annotation's (e.g. Max("id"))
            annotation = queryset.query.annotations.get(name)
            if annotation is not None:
                return annotation.output_field
            return queryset.model._meta.get_field(name)

        try:
            return tuple(field(n).to_python(value) for n, value in zip(names, raw, strict=True))
        except Exception:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None

    def get_paginated_response(self, data) -> Response:
        return Response({"results": data, "next_cursor": self.next_cursor})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next_cursor"],
            "properties": {
                "results": schema,
                "next_cursor": {"type": "string", "nullable": True},
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return page_parameters()


def page_parameters() -> list[dict]:
    """`cursor` and `limit` as the schema states them, for every paged operation (views
    that page by hand, like the feed, declare these too)."""
    return [
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "description": "Opaque cursor from the previous page's next_cursor (empty: the "
            "first page); one that was not (tampered, foreign, expired key) is a 400.",
            "schema": {"type": "string"},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": f"Page size, 1..{settings.PAGE_MAX_LIMIT} "
            f"(default {settings.PAGE_DEFAULT_LIMIT}, also when empty).",
            "allowEmptyValue": True,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": settings.PAGE_MAX_LIMIT,
                "default": settings.PAGE_DEFAULT_LIMIT,
            },
        },
    ]
