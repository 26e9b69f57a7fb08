"""JSON responses through orjson: several times faster than the standard library encoder
that DRF's own renderer uses, with DRF's encoder kept for the types orjson lacks
(lazy translation strings, Decimal, UUID...)."""

import orjson
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder

_fallback = JSONEncoder().default


class JSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition: no charset parameter

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_fallback)
