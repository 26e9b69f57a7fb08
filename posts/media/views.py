"""The media endpoints: the local upload link, `.../media/complete`, and avatars."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from posts import selectors
from posts.media import services
from posts.media.images import FORMATS
from posts.responses import post_response
from posts.serializers import (
    AvatarUploadSerializer,
    MediaClaimSerializer,
    PostSerializer,
    UploadReceiptSerializer,
)
from posts.views import upload_block
from users.serializers import MeSerializer


class MediaUploadView(APIView):
    """A local upload link: PUT the raw bytes here, exactly as `upload` said, with no
    Authorization header. The link is single-use and bound to its post (or avatar), the
    declared content type (else 415) and size (larger 413, shorter 400); an expired link
    answers 400, an altered or unknown one 404, a second upload 409. The image is checked
    in the background: the post turns `published`, or shows `media_error` to its author.
    """

    authentication_classes = []  # the signed link is the authority, as with a bucket
    permission_classes = [AllowAny]

    @extend_schema(
        request={content_type: OpenApiTypes.BINARY for content_type in sorted(FORMATS)},
        responses={202: UploadReceiptSerializer},
        tags=["media"],
    )
    def put(self, request, token: str):
        services.receive(
            token,
            content_type=request.content_type.split(";")[0].strip(),
            content_length=request.META.get("CONTENT_LENGTH"),
            body=request.stream,
        )
        return Response({"state": "received"}, status=status.HTTP_202_ACCEPTED)


class PostMediaCompleteView(APIView):
    """The post's image is in the bucket (a presigned POST): check it and publish the post.
    Author only, idempotent; 409 `upload_missing` while no file has arrived."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={202: PostSerializer}, tags=["media"])
    def post(self, request, post_id: int):
        services.complete(services.post_upload(request.user, post_id=post_id))
        post = selectors.get_post(request.user, post_id=post_id)
        return post_response(request, post, status.HTTP_202_ACCEPTED)


class AvatarView(APIView):
    """Start an avatar upload: `{content_type, size}` -> where to send the image. It
    becomes `avatar_url` (a square version) once it passes the same check as post images."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=MediaClaimSerializer,
        responses={201: AvatarUploadSerializer},
        tags=["users"],
    )
    def post(self, request):
        data = MediaClaimSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = services.start_avatar_upload(request.user, **data.validated_data)
        return Response({"upload": upload_block(request, upload)}, status=status.HTTP_201_CREATED)


class AvatarCompleteView(APIView):
    """The avatar is in the bucket: check it (idempotent; 409 while no file arrived)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={202: MeSerializer}, tags=["users"])
    def post(self, request):
        services.complete(services.avatar_upload(request.user))
        return Response(MeSerializer(request.user).data, status=status.HTTP_202_ACCEPTED)
