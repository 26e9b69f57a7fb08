from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from posts import rendering, selectors, services
from posts.media import services as media_services
from posts.responses import post_page, post_response, upload_block
from posts.serializers import (
    CreatedPostSerializer,
    HashtagSerializer,
    PinnedPostsSerializer,
    PinSerializer,
    PostCreateSerializer,
    PostSearchQuerySerializer,
    PostSerializer,
    PostVersionSerializer,
    PostWriteSerializer,
    TrendingHashtagsSerializer,
)
from puppies import idempotency, ratelimit, search
from puppies.serializers import represent, validated
from users import revocations
from users import selectors as user_selectors


class PostCreateView(GenericAPIView):
    serializer_class = PostSerializer
    token_check_carried = ("POST",)  # users.revocations: posts.services.create_post makes it

    @extend_schema(
        request=PostCreateSerializer,
        responses={201: CreatedPostSerializer},
        parameters=[idempotency.PARAMETER],
        tags=["posts"],
        description="With `media`, the post stays `pending_media` (seen by its author only) "
        "until the image is sent as `upload` says.",
    )
    @idempotency.idempotent
    def post(self, request):
        ratelimit.enforce(request, "post_create", request.user.pk)
        try:
            data = validated(PostCreateSerializer, request.data)
        except ValidationError:
            revocations.ensure_checked(request.user)  # a revoked token hears 401, not 400
            raise
        if "media" in data:
            post, upload = media_services.create_post_with_media(author=request.user, **data)
            upload = upload_block(request, upload)
            return post_response(request, post, status.HTTP_201_CREATED, upload=upload)
        post = services.create_post(author=request.user, **data)
        body = rendering.render_new_post(post)
        return HttpResponse(body, status=status.HTTP_201_CREATED, content_type="application/json")


class PostDetailView(GenericAPIView):
    serializer_class = PostSerializer
    token_check_carried = ("GET",)  # users.revocations: the render script checks it

    def get_object(self):
        return selectors.get_post_or_404(self.request.user, post_id=self.kwargs["post_id"])

    @extend_schema(tags=["posts"])
    def get(self, request, post_id: int):
        # Straight from the cache when it can: no SQL for a cached post.
        body = rendering.render_post(request.user, post_id)
        revocations.ensure_checked(request.user)  # if no script carried the check
        if body is None:
            raise selectors.PostNotFound
        return HttpResponse(body, content_type="application/json")

    @extend_schema(request=PostWriteSerializer, tags=["posts"])
    def patch(self, request, post_id: int):
        ratelimit.enforce(request, "post_edit", request.user.pk)
        post = self.get_object()
        # A PATCH names what changes: `{}` changes nothing (content is all there is).
        data = PostWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        post = services.edit_post(post, editor=request.user, **data.validated_data)
        return post_response(request, post)

    @extend_schema(responses={204: None}, tags=["posts"])
    def delete(self, request, post_id: int):
        services.delete_post(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PostHistoryView(GenericAPIView):
    """A post's earlier contents, newest first; whoever may read the post reads them."""

    serializer_class = PostVersionSerializer
    ordering = ("-id",)

    @extend_schema(responses=PostVersionSerializer(many=True), tags=["posts"])
    def get(self, request, post_id: int):
        selectors.get_post_or_404(request.user, post_id=post_id)
        page = self.paginate_queryset(selectors.post_versions(post_id))
        return self.get_paginated_response(PostVersionSerializer(page, many=True).data)


class PostPinView(GenericAPIView):
    """Pin or unpin my own post on my profile (at most 5 pinned)."""

    permission_classes = [IsAuthenticated]
    serializer_class = PinSerializer

    @extend_schema(
        request=None,
        responses={201: PinSerializer, 200: PinSerializer},
        tags=["posts"],
        description="201 if this pinned the post, 200 if it was pinned already. 409 "
        "`pin_limit_reached` with 5 posts pinned already; 409 for a post others cannot see.",
    )
    def post(self, request, post_id: int):
        pin, created = services.pin_post(
            selectors.get_post_or_404(request.user, post_id=post_id), actor=request.user
        )
        return Response(
            represent(PinSerializer, pin),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(responses={204: None}, tags=["posts"])
    def delete(self, request, post_id: int):
        services.unpin_post(
            selectors.get_post_or_404(request.user, post_id=post_id), actor=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserPinnedView(APIView):
    """A user's pinned posts, most recently pinned first (at most 5: not paged)."""

    @extend_schema(responses=PinnedPostsSerializer, tags=["posts"])
    def get(self, request, user_id: int):
        user_selectors.get_user_or_404(request.user, user_id=user_id)
        posts = rendering.render_posts(request.user, selectors.pinned_post_ids(user_id))
        return HttpResponse(
            b'{"results":%s}' % rendering.as_list(posts), content_type="application/json"
        )


class UserPostsView(GenericAPIView):
    """A user's posts, newest first."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-id")

    @extend_schema(responses=PostSerializer(many=True), tags=["posts"])
    def get(self, request, user_id: int):
        user_selectors.get_user_or_404(request.user, user_id=user_id)
        return post_page(self, self.paginate_queryset(selectors.user_timeline(user_id)))


class SearchPostsView(GenericAPIView):
    """Full-text search over posts, newest first. Words are matched whole, in any case;
    "a phrase" in quotes, -word to exclude, `or` between alternatives."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-id")

    @extend_schema(
        parameters=[search.Q_PARAMETER], responses=PostSerializer(many=True), tags=["search"]
    )
    def get(self, request):
        q = search.read_search_query(request, PostSearchQuerySerializer)
        posts = selectors.search_posts(request.user, q=q)
        return post_page(self, self.paginate_queryset(posts))


class HashtagPostsView(GenericAPIView):
    """Visible posts carrying #tag (any case), newest first."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-post_id")

    @extend_schema(responses=PostSerializer(many=True), tags=["hashtags"])
    def get(self, request, tag: str):
        data = HashtagSerializer(data={"tag": tag})
        data.is_valid(raise_exception=True)
        tag = data.validated_data["tag"].lower()
        rows = self.paginate_queryset(selectors.hashtag_posts(request.user, tag=tag))
        return post_page(self, [row.post_id for row in rows])


class TrendingHashtagsView(APIView):
    """The most used tags of the last TRENDING_WINDOW_HOURS, by number of visible posts."""

    permission_classes = [AllowAny]

    @extend_schema(responses=TrendingHashtagsSerializer, tags=["hashtags"])
    def get(self, request):
        return Response({"results": selectors.trending_hashtags()})
