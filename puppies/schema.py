"""OpenAPI additions: our JWT authenticator and the one error format on every operation."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "not_found"},
                "message": {"type": "string", "example": "Post not found."},
                "fields": {
                    "type": "object",
                    "description": "On 400s: each bad field and its messages.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

_DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each bad field.",
    "401": "No, invalid or expired token.",
    "403": "Not allowed.",
    "404": "Not found, or not visible to the caller.",
    "429": "Rate limited; see the Retry-After header.",
}


class PuppiesJWTScheme(SimpleJWTScheme):
    target_class = "users.auth.JWTAuthentication"
    name = "jwtAuth"


# Staff-only: a signed-in member is refused (403) whatever the method.
_STAFF_ONLY_PREFIXES = ("/v1/ingestion/",)


def _error_statuses(path: str, method: str) -> list[str]:
    statuses = ["400", "401", "429"]
    if method in ("post", "put", "patch", "delete") or path.startswith(_STAFF_ONLY_PREFIXES):
        statuses.append("403")
    if "{" in path:
        statuses.append("404")
    return statuses


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: document the error body on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(path, method):
                responses.setdefault(status, {"description": _DESCRIPTIONS[status], "content": ref})
    return result
