"""The HTTP answers of views that show posts (posts' and interactions'), rendered
through posts.rendering: a page of posts, one post, a new post's upload block."""

import orjson
from django.http import HttpResponse
from rest_framework.generics import GenericAPIView

from posts import rendering
from posts.models import Post
from posts.serializers import UploadSerializer
from puppies.pagination import rendered_page


def post_page(view: GenericAPIView, posts) -> HttpResponse:
    """The paginated answer of a list view: its page of posts, rendered for the caller."""
    return rendered_page(
        rendering.render_posts(view.request.user, posts), view.paginator.next_cursor
    )


def post_response(request, post: Post, status_code: int = 200, **extra) -> HttpResponse:
    body = rendering.render_post(request.user, post)
    if extra:  # rare (a new post's upload link): merged as data, not spliced
        body = orjson.dumps({**orjson.loads(body), **extra})
    return HttpResponse(body, status=status_code, content_type="application/json")


def upload_block(request, upload: dict) -> dict:
    """The `upload` block as sent: our own links made absolute for the client."""
    upload["url"] = request.build_absolute_uri(upload["url"])
    if upload["complete_url"] is not None:
        upload["complete_url"] = request.build_absolute_uri(upload["complete_url"])
    return UploadSerializer(upload).data
