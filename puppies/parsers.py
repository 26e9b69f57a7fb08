"""Request body parsers that enforce REQUEST_BODY_MAX_BYTES before parsing anything."""

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers

# Raising Django's own exception (puppies.errors answers it with 413) keeps this module
# free of imports from puppies.errors, which DRF's settings would make circular.


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, but a body over the limit is a 413, not memory spent parsing it.

    DRF reads the request stream directly, which skips Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check (that one guards only `request.body`).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestDataTooBig()
        # Read one byte past the limit: a body that lies about its length is caught too.
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise RequestDataTooBig()
        return super().parse(io.BytesIO(body), media_type, parser_context)
