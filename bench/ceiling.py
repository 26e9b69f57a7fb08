"""The ceiling of bench/http_load.py: the fastest a DRF endpoint of ours could answer here.

    .venv/bin/gunicorn bench.ceiling:application --bind 127.0.0.1:8001 --workers 4

One file, one Django project: settings.configure with rest_framework (plus contenttypes
and auth, which DRF imports), no database, no middleware, no authentication. One DRF
`APIView` answers GET on any path with a fixed page shaped like a `GET /v1/feed` page:
`{"results": [20 posts], "next_cursor": "..."}`, each post with exactly our field names,
rendered per request by DRF's default `JSONRenderer`. What the project's endpoints add on
top (auth, Redis, PostgreSQL, serializers) is what bench/http_load.py measures against it.
"""

from datetime import UTC, datetime, timedelta

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-ceiling-not-secret",  # noqa: S106 - signs nothing: no sessions, no cookies
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    DATABASES={},
    MIDDLEWARE=[],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
    },
    LOGGING_CONFIG=None,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings.configure()
from django.urls import re_path  # noqa: E402 - after settings.configure()
from rest_framework.response import Response  # noqa: E402 - after settings.configure()
from rest_framework.views import APIView  # noqa: E402 - after settings.configure()

CONTENT = (
    "Biscuit met a new friend at the park today and would not stop wagging. "
    "Best walk of the week, again!"
)
# The length of one of our signed, compressed cursors.
NEXT_CURSOR = ".eJyLVjIyMDLUNTDQNTIMMTQwMtA1MDDQNTA0MrQwNjQ3MDQ1UYoFAJy5CKQ:1vOq3L:bench-ceiling-x"


def _rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _page() -> dict:
    now = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
    results = []
    for i in range(20):
        at = _rfc3339(now - timedelta(minutes=7 * i, microseconds=123457 * i))
        author = 100 + i % 7
        results.append(
            {
                "id": 10_000 - i,
                "author": {
                    "id": author,
                    "username": f"author{author:03d}",
                    "display_name": f"Author {author}",
                    "avatar_url": f"https://cdn.example.com/avatars/{author}.jpg",
                },
                "content": CONTENT,
                "media": None,
                "media_error": None,
                "status": "published",
                "like_count": 40 + i,
                "comment_count": i % 5,
                "liked_by_me": i % 3 == 0,
                "created_at": at,
                "updated_at": at,
                "edited_at": None,
            }
        )
    return {"results": results, "next_cursor": NEXT_CURSOR}


PAGE = _page()


class CeilingView(APIView):
    def get(self, request, *args, **kwargs):
        return Response(PAGE)


urlpatterns = [re_path(r"", CeilingView.as_view())]

application = get_wsgi_application()
