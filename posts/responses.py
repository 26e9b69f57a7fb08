"""The HTTP answers of views that show posts (posts', interactions' and the feed's), all
rendered through posts.rendering: one page of posts, or one post."""

import orjson
from django.http import HttpResponse
from rest_framework.generics import GenericAPIView

from posts import rendering
from posts.models import Post
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
