"""OpenAPI additions: our JWT authenticator and the one error format on every operation."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme

from puppies.idempotency import HEADER

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
    "409": "Conflicts with what exists (for example a username or email already taken).",
    "413": "The body is larger than allowed or declared.",
    "415": "The body's Content-Type is not the one declared.",
    "422": "This Idempotency-Key was used for another request (`idempotency_key_reused`).",
    "429": "Rate limited; see the Retry-After header.",
}
_IN_PROGRESS = (
    "A request with this Idempotency-Key is still being processed (`in_progress`); "
    "retry after Retry-After."
)


class PuppiesJWTScheme(SimpleJWTScheme):
    target_class = "users.auth.JWTAuthentication"
    name = "jwtAuth"


# Staff-only: a signed-in member is refused (403) whatever the method.
_STAFF_ONLY_PREFIXES = ("/v1/ingestion/", "/v1/ops/")


def _error_statuses(path: str, method: str) -> list[str]:
    statuses = ["400", "401", "429"]
    if method in ("post", "put", "patch", "delete") or path.startswith(_STAFF_ONLY_PREFIXES):
        statuses.append("403")
    if "{" in path:
        statuses.append("404")
    if (path, method) in _CONFLICTS:
        statuses.append("409")
    statuses.extend(_MORE_ERRORS.get((path, method), ()))
    return statuses


_CONFLICTS = {
    ("/v1/auth/register", "post"),
    ("/v1/auth/email/verify", "get"),
    ("/v1/uploads/{token}", "put"),  # a used link
    ("/v1/posts/{post_id}/media/complete", "post"),  # no file arrived yet
    ("/v1/users/me/avatar/complete", "post"),
    # a post others cannot see (pending, hidden), or 5 pinned already (`pin_limit_reached`)
    ("/v1/posts/{post_id}/pin", "post"),
}
_MORE_ERRORS = {
    ("/v1/uploads/{token}", "put"): ["413", "415"],
    ("/v1/users/me/avatar/complete", "post"): ["404"],  # no avatar upload was started
}


def add_error_responses(result, generator, request, public):
    """Postprocessing hook: document the error body on every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(path, method):
                responses.setdefault(status, {"description": _DESCRIPTIONS[status], "content": ref})
            if any(p.get("name") == HEADER for p in operation.get("parameters", ())):
                responses.setdefault("422", {"description": _DESCRIPTIONS["422"], "content": ref})
                responses.setdefault("409", {"description": _IN_PROGRESS, "content": ref})
            why = _WHY_400.get((path, method)) or (
                _BAD_CURSOR
                if any(p.get("name") == "cursor" for p in operation.get("parameters", ()))
                else None
            )
            if why:
                responses["400"] = {
                    **responses["400"],
                    "description": f"{_DESCRIPTIONS['400']} {why}",
                }
    for (path, method, status), links in _LINKS.items():
        response = result["paths"].get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response["links"] = links
    for name, component in result["components"]["schemas"].items():
        if name.endswith("Request"):
            _no_nul_in_text(component)
    for name, fields in _ABSENT_SOMETIMES.items():
        component = result["components"]["schemas"].get(name, {})
        component["required"] = [f for f in component.get("required", []) if f not in fields]
    return result


# Requests the schema cannot tell from valid ones: what makes them invalid is state (a
# password, a signature) or a rule JSON Schema does not express. Documented here, and
# accepted as answers to schema-valid requests by schemathesis.toml.
_BAD_CURSOR = "Also a `cursor` that is not one this API gave (tampered, foreign or old)."
_WHY_400 = {
    ("/v1/users/{user_id}/follow", "post"): "Also following yourself.",
    ("/v1/users/{user_id}/block", "post"): "Also blocking yourself.",
    ("/v1/users/{user_id}/mute", "post"): "Also muting yourself.",
    ("/v1/auth/password", "post"): "Also a wrong `old_password`, or a `new_password` the "
    "password validators refuse (too short, too common, all digits, like the username).",
    ("/v1/auth/register", "post"): "Also a `password` the password validators refuse.",
    ("/v1/auth/email/verify", "get"): "Also a `token` this API did not sign, altered, "
    "expired, or for an address the account no longer has.",
    ("/v1/auth/token", "post"): "Also a NUL character in the username or password.",
    ("/v1/auth/token/refresh", "post"): "Also a `refresh` that is only whitespace.",
    ("/v1/search/posts", "get"): f"{_BAD_CURSOR} Also a `q` the search index cannot serve: "
    "every `or` alternative needs a word of 2+ letters or digits it must contain (not only "
    "`-excluded` words or punctuation).",
    ("/v1/search/users", "get"): f"{_BAD_CURSOR} Also a `q` under 3 characters once "
    "surrounding spaces are dropped.",
    ("/v1/uploads/{token}", "put"): "Also an expired link (`fields.token`), or a body "
    "shorter than declared (`fields.file`).",
}

# OpenAPI links: a created post's id is what its own operations take (schemathesis's
# stateful phase follows them: create, then read, edit, like, bookmark, pin, read its
# history, report, delete). Not reposting: a repost of one's own post is a 403. Not
# commenting: a post created with media is pending until its upload, and comments on a
# pending post are 404 even for its author (likes are not): a question for the posts
# owners, not a link to follow.
_POST_ID = {"post_id": "$response.body#/id"}
_LINKS = {
    ("/v1/posts", "post", "201"): {
        name: {"operationId": operation, "parameters": _POST_ID}
        for name, operation in [
            ("GetPost", "posts_retrieve"),
            ("EditPost", "posts_partial_update"),
            ("DeletePost", "posts_destroy"),
            ("ListComments", "posts_comments_list"),
            ("Like", "posts_likes_create"),
            ("Unlike", "posts_likes_destroy"),
            ("Report", "posts_reports_create"),
            ("Bookmark", "posts_bookmark_create"),
            ("Unbookmark", "posts_bookmark_destroy"),
            ("Pin", "posts_pin_create"),
            ("Unpin", "posts_pin_destroy"),
            ("History", "posts_history_list"),
            ("CompleteMedia", "posts_media_complete_create"),
        ]
    }
}


def _no_nul_in_text(component: dict) -> None:
    """Text fields refuse NUL (PostgreSQL cannot store it): the schema says so."""
    for prop in component.get("properties", {}).values():
        if prop.get("type") == "string" and not ({"pattern", "format", "enum"} & set(prop)):
            prop["pattern"] = NO_NUL


NO_NUL = "^[^\\u0000]*$"

# Response fields that only some answers carry: drf-spectacular marks every read-only
# field required. A created post has `upload` only when it was created with media.
_ABSENT_SOMETIMES = {"CreatedPost": {"upload"}}
