import logging
import time

from django.conf import settings
from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from feed import selectors, tasks
from feed.metrics import FEED_DEGRADED
from posts import rendering
from posts.serializers import FeedPostSerializer
from puppies.pagination import (
    decode_cursor,
    encode_cursor,
    page_parameters,
    query_value,
    read_limit,
    rendered_page,
)
from users import revocations

logger = logging.getLogger(__name__)

DEGRADED_HEADER = "X-Feed-Degraded"


def _parse_cursor(raw: str | None) -> selectors.FeedKey | None:
    if not raw:
        return None
    key = decode_cursor(raw)
    at = parse_datetime(key[0]) if len(key) == 2 and isinstance(key[0], str) else None
    if at is None or at.tzinfo is None or type(key[1]) is not int:
        raise ValidationError({"cursor": ["Invalid cursor."]})
    return at, key[1]


class FeedView(GenericAPIView):
    """The caller's home feed, newest first: pushed entries merged with followed VIPs."""

    permission_classes = [IsAuthenticated]
    serializer_class = FeedPostSerializer
    token_check_carried = ("GET",)  # users.revocations: the page's script checks it

    @extend_schema(
        tags=["feed"],
        operation_id="feed_list",
        parameters=[
            OpenApiParameter(p["name"], p["schema"], description=p["description"])
            for p in page_parameters()
        ],
        responses={
            200: OpenApiResponse(
                FeedPostSerializer(many=True),
                description=f"A page of the feed. If the feed cannot be served, a page of "
                f"popular posts with header `{DEGRADED_HEADER}: popular-posts` and no cursor.",
            )
        },
    )
    def get(self, request):
        limit = read_limit(request)
        after = _parse_cursor(query_value(request, "cursor"))
        if time.monotonic() >= _breaker_open_until:
            try:
                return self._feed_page(request, limit, after)
            except APIException:
                raise  # a revoked token is the caller's failure, not the feed's
            except Exception:
                logger.exception("feed path failed; serving popular posts")
                _open_breaker()
        revocations.ensure_checked(request.user)
        FEED_DEGRADED.inc()
        response = Response({"results": selectors.popular_posts()[:limit], "next_cursor": None})
        response[DEGRADED_HEADER] = "popular-posts"
        return response

    def _feed_page(self, request, limit: int, after) -> HttpResponse:
        page = selectors.feed_page(request.user, after=after, limit=limit)
        if page.dormant:
            tasks.wake_feed_once(request.user.pk)
        posts = rendering.render_posts(
            request.user, page.post_ids, read=page.read, reposted_by=page.reposted_by
        )
        revocations.ensure_checked(request.user)  # if no script carried the check
        return rendered_page(posts, encode_cursor(page.next_key) if page.next_key else None)


# Per process: after a failure of the feed path, serve the fallback page for a while
# without trying (a shared flag would cost every read a round trip to Redis).
_breaker_open_until = 0.0


def _open_breaker() -> None:
    global _breaker_open_until
    _breaker_open_until = time.monotonic() + settings.FEED_BREAKER_OPEN_S
