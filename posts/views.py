from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from posts import media, selectors, services
from posts.models import Post
from posts.serializers import (
    SEARCH_QUERY_MAX_LENGTH,
    CreatedPostSerializer,
    HashtagSerializer,
    PostCreateSerializer,
    PostSerializer,
    PostWriteSerializer,
    SearchQuerySerializer,
    TrendingHashtagsSerializer,
    UploadSerializer,
)
from puppies import ratelimit
from users import selectors as user_selectors
from users.serializers import UserSerializer


def render_posts(request, posts) -> list:
    return PostSerializer(selectors.with_viewer_state(request.user, posts), many=True).data


def render_post(request, post) -> dict:
    return render_posts(request, [post])[0]


class PostCreateView(GenericAPIView):
    serializer_class = PostSerializer

    @extend_schema(
        request=PostCreateSerializer,
        responses={201: CreatedPostSerializer},
        tags=["posts"],
        description="With `media`, the post stays `pending_media` (seen by its author only) "
        "until the image is sent as `upload` says.",
    )
    def post(self, request):
        ratelimit.enforce(request, "post_create", request.user.pk)
        data = PostCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.create_post(author=request.user, **data.validated_data)
        body = render_post(request, post)
        if post.status == Post.Status.PENDING_MEDIA:
            upload = media.upload_request(post)
            upload["url"] = request.build_absolute_uri(upload["url"])
            body["upload"] = UploadSerializer(upload).data
        return Response(body, status=status.HTTP_201_CREATED)


class MediaUploadView(APIView):
    """The signed link of a pending post's image: its author PUTs the raw bytes here.

    An expired link answers 400, an altered or unknown one 404, a body larger than
    declared (or than MEDIA_MAX_BYTES) 413, bytes that are not an image of the declared
    type 400 (the post stays pending), a second upload 409.
    """

    permission_classes = [IsAuthenticated]
    parser_classes = [media.ImageUploadParser]

    @extend_schema(
        request={content_type: OpenApiTypes.BINARY for content_type in sorted(media.FORMATS)},
        responses={200: PostSerializer},
        tags=["posts"],
    )
    def put(self, request, token: str):
        grant = media.read_grant(token)
        post = services.attach_media(uploader=request.user, grant=grant, data=request.data)
        return Response(render_post(request, post))


class PostDetailView(GenericAPIView):
    serializer_class = PostSerializer

    def get_object(self):
        post = selectors.get_post(self.request.user, self.kwargs["post_id"])
        if post is None:
            raise NotFound("Post not found.")
        return post

    @extend_schema(tags=["posts"])
    def get(self, request, post_id: int):
        return Response(render_post(request, self.get_object()))

    @extend_schema(request=PostWriteSerializer, tags=["posts"])
    def patch(self, request, post_id: int):
        post = self.get_object()
        data = PostWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.edit_post(post, editor=request.user, **data.validated_data)
        return Response(render_post(request, post))

    @extend_schema(responses={204: None}, tags=["posts"])
    def delete(self, request, post_id: int):
        services.delete_post(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPostsView(GenericAPIView):
    """A user's posts, newest first."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-id")

    @extend_schema(responses=PostSerializer(many=True), tags=["posts"])
    def get(self, request, user_id: int):
        if user_selectors.get_user(request.user, user_id=user_id) is None:
            raise NotFound("User not found.")
        page = self.paginate_queryset(selectors.user_timeline(request.user, user_id))
        return self.get_paginated_response(render_posts(request, page))


_Q_PARAMETER = OpenApiParameter(
    "q",
    str,
    required=True,
    description=f"What to look for, 1..{SEARCH_QUERY_MAX_LENGTH} characters.",
)


def read_search_query(request) -> str:
    query = SearchQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["q"]


class SearchPostsView(GenericAPIView):
    """Full-text search over posts, newest first. Words are matched whole, in any case;
    "a phrase" in quotes, -word to exclude, `or` between alternatives."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-id")

    @extend_schema(parameters=[_Q_PARAMETER], responses=PostSerializer(many=True), tags=["search"])
    def get(self, request):
        posts = selectors.search_posts(request.user, read_search_query(request))
        page = self.paginate_queryset(posts)
        return self.get_paginated_response(render_posts(request, page))


class SearchUsersView(GenericAPIView):
    """Active users whose username or display name contains q (any case), by username."""

    serializer_class = UserSerializer
    ordering = ("username",)

    @extend_schema(parameters=[_Q_PARAMETER], responses=UserSerializer(many=True), tags=["search"])
    def get(self, request):
        users = selectors.search_users(request.user, read_search_query(request))
        page = self.paginate_queryset(users)
        return self.get_paginated_response(UserSerializer(page, many=True).data)


class HashtagPostsView(GenericAPIView):
    """Visible posts carrying #tag (any case), newest first."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-post_id")

    @extend_schema(responses=PostSerializer(many=True), tags=["hashtags"])
    def get(self, request, tag: str):
        data = HashtagSerializer(data={"tag": tag})
        data.is_valid(raise_exception=True)
        rows = self.paginate_queryset(
            selectors.hashtag_posts(request.user, data.validated_data["tag"].lower())
        )
        return self.get_paginated_response(render_posts(request, [row.post for row in rows]))


class TrendingHashtagsView(APIView):
    """The most used tags of the last TRENDING_WINDOW_HOURS, by number of visible posts."""

    permission_classes = [AllowAny]

    @extend_schema(responses=TrendingHashtagsSerializer, tags=["hashtags"])
    def get(self, request):
        return Response({"results": selectors.trending_hashtags()})
