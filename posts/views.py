from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from posts import selectors, services
from posts.serializers import PostSerializer, PostWriteSerializer
from puppies import ratelimit
from users import selectors as user_selectors


def render_posts(request, posts) -> list:
    return PostSerializer(selectors.with_viewer_state(request.user, posts), many=True).data


def render_post(request, post) -> dict:
    return render_posts(request, [post])[0]


class PostCreateView(GenericAPIView):
    serializer_class = PostSerializer

    @extend_schema(request=PostWriteSerializer, responses={201: PostSerializer}, tags=["posts"])
    def post(self, request):
        ratelimit.enforce(request, "post_create", request.user.pk)
        data = PostWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        post = services.create_post(author=request.user, **data.validated_data)
        return Response(render_post(request, post), status=status.HTTP_201_CREATED)


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
