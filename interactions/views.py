from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from interactions import selectors
from interactions.serializers import (
    BookmarkSerializer,
    CommentSerializer,
    CommentWriteSerializer,
    LikeSerializer,
    MarkReadSerializer,
    NotificationGroupSerializer,
    NotificationQuerySerializer,
    NotificationSerializer,
    ReportSerializer,
    ReportWriteSerializer,
    RepostSerializer,
)
from interactions.services import bookmarks, comments, likes, notifications, reports, reposts
from posts import selectors as post_selectors
from posts.responses import post_page
from posts.serializers import PostSerializer
from puppies import idempotency, ratelimit
from puppies.serializers import represent, validated
from users import selectors as user_selectors

# --- comments -----------------------------------------------------------------


class PostCommentsView(GenericAPIView):
    """A post's comments, oldest first; anyone who may read the post reads them."""

    serializer_class = CommentSerializer
    ordering = ("created_at", "id")
    # users.revocations: a new comment's token check rides with its limit's Redis call.
    token_check_carried = ("POST",)

    @extend_schema(responses=CommentSerializer(many=True), tags=["comments"])
    def get(self, request, post_id: int):
        post_selectors.get_post_or_404(request.user, post_id=post_id)
        page = self.paginate_queryset(selectors.post_comments(request.user, post_id=post_id))
        return self.get_paginated_response(CommentSerializer(page, many=True).data)

    @extend_schema(
        request=CommentWriteSerializer,
        responses={201: CommentSerializer},
        parameters=[idempotency.PARAMETER],
        tags=["comments"],
    )
    @idempotency.idempotent
    def post(self, request, post_id: int):
        ratelimit.enforce_with_token_check(request, "comment", request.user.pk)
        data = validated(CommentWriteSerializer, request.data)
        comment = comments.create_comment(request.user, post_id=post_id, **data)
        return Response(represent(CommentSerializer, comment), status=status.HTTP_201_CREATED)


class CommentDetailView(GenericAPIView):
    serializer_class = CommentSerializer

    @extend_schema(responses={204: None}, tags=["comments"])
    def delete(self, request, comment_id: int):
        comment = selectors.get_comment_or_404(request.user, comment_id=comment_id)
        comments.delete_comment(comment, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- reports ------------------------------------------------------------------


class PostReportsView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = ReportSerializer

    @extend_schema(
        request=ReportWriteSerializer,
        responses={201: ReportSerializer, 200: ReportSerializer},
        tags=["reports"],
        description="201 with the new report; 200 with the caller's open report on this post "
        "if there already is one (no duplicate is filed).",
    )
    def post(self, request, post_id: int):
        post = post_selectors.get_post_or_404(request.user, post_id=post_id)
        ratelimit.enforce(request, "report", request.user.pk)
        data = ReportWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report, created = reports.report_post(request.user, post=post, **data.validated_data)
        return Response(
            ReportSerializer(report).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# --- likes of a user -------------------------------------------------------------


class UserLikesView(GenericAPIView):
    """Posts a user liked, newest like first."""

    serializer_class = PostSerializer
    ordering = ("-created_at", "-post_id")

    @extend_schema(responses=PostSerializer(many=True), tags=["posts"])
    def get(self, request, user_id: int):
        user_selectors.get_user_or_404(request.user, user_id=user_id)
        page = self.paginate_queryset(selectors.likes_of(user_id))
        return post_page(self, [like.post_id for like in page])


# --- notifications ------------------------------------------------------------


class NotificationListView(GenericAPIView):
    """Likes, follows, comments and mentions on me, newest first."""

    permission_classes = [IsAuthenticated]
    serializer_class = NotificationSerializer
    _grouped = False

    @property
    def ordering(self):  # groups page by their newest notification
        return ("-latest_id",) if self._grouped else ("-id",)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "grouped",
                bool,
                description="true: likes (per post) and follows grouped, with a count and "
                "the 3 newest actors; comments and mentions one per group.",
            )
        ],
        responses=PolymorphicProxySerializer(
            component_name="NotificationOrGroup",
            serializers=[NotificationSerializer, NotificationGroupSerializer],
            resource_type_field_name=None,
            many=True,
        ),
        tags=["notifications"],
    )
    def get(self, request):
        query = NotificationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self._grouped = query.validated_data["grouped"]
        if self._grouped:
            page = self.paginate_queryset(selectors.notification_groups(request.user))
            page = selectors.with_newest_actors(request.user, groups=page)
            return self.get_paginated_response(NotificationGroupSerializer(page, many=True).data)
        page = self.paginate_queryset(selectors.notifications_for(request.user))
        return self.get_paginated_response(NotificationSerializer(page, many=True).data)


class NotificationReadView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = MarkReadSerializer

    @extend_schema(
        request=MarkReadSerializer,
        responses={204: None},
        tags=["notifications"],
        description="Marks my notifications read: all of them, or those with id <= up_to_id.",
    )
    def post(self, request):
        data = MarkReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notifications.mark_notifications_read(request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- likes --------------------------------------------------------------------


class PostLikeView(GenericAPIView):
    """Like or unlike a post, both idempotent; answered before the like reaches PostgreSQL."""

    permission_classes = [IsAuthenticated]
    serializer_class = LikeSerializer
    # users.revocations: the like's script checks the token, or the service does first.
    token_check_carried = ("POST", "DELETE")

    @extend_schema(
        request=None,
        responses={201: LikeSerializer, 200: LikeSerializer},
        tags=["likes"],
        description="201 if this liked the post, 200 if the caller already liked it.",
    )
    def post(self, request, post_id: int):
        state = likes.like_post(request.user, post_id=post_id)
        return Response(
            represent(LikeSerializer, state),
            status=status.HTTP_201_CREATED if state.created else status.HTTP_200_OK,
        )

    @extend_schema(responses={204: None}, tags=["likes"])
    def delete(self, request, post_id: int):
        likes.unlike_post(request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- bookmarks and reposts -----------------------------------------------------


class PostBookmarkView(GenericAPIView):
    """Bookmark or unbookmark a post, both idempotent; bookmarks are private."""

    permission_classes = [IsAuthenticated]
    serializer_class = BookmarkSerializer

    @extend_schema(
        request=None,
        responses={201: BookmarkSerializer, 200: BookmarkSerializer},
        tags=["bookmarks"],
        description="201 if this bookmarked the post, 200 if the caller had bookmarked it.",
    )
    def post(self, request, post_id: int):
        post = post_selectors.get_post_or_404(request.user, post_id=post_id)
        created = bookmarks.bookmark_post(request.user, post=post)
        return Response(
            {"post_id": post.pk, "bookmarked_by_me": True},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(responses={204: None}, tags=["bookmarks"])
    def delete(self, request, post_id: int):
        bookmarks.unbookmark_post(request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyBookmarksView(GenericAPIView):
    """The posts I bookmarked, newest bookmark first (posts others no longer see are left
    out)."""

    permission_classes = [IsAuthenticated]
    serializer_class = PostSerializer
    ordering = ("-created_at", "-post_id")

    @extend_schema(responses=PostSerializer(many=True), tags=["bookmarks"])
    def get(self, request):
        page = self.paginate_queryset(selectors.bookmarks_of(request.user.pk))
        return post_page(self, [bookmark.post_id for bookmark in page])


class PostRepostView(GenericAPIView):
    """Repost someone else's published post into my followers' feeds, or take it back."""

    permission_classes = [IsAuthenticated]
    serializer_class = RepostSerializer

    @extend_schema(
        request=None,
        responses={201: RepostSerializer, 200: RepostSerializer},
        tags=["reposts"],
        description="201 if this reposted the post, 200 if the caller had reposted it. "
        "403 for the caller's own post; 404 for a post the caller cannot see.",
    )
    def post(self, request, post_id: int):
        ratelimit.enforce(request, "repost", request.user.pk)
        state = reposts.repost_post(
            request.user, post=post_selectors.get_post_or_404(request.user, post_id=post_id)
        )
        return Response(
            represent(RepostSerializer, state),
            status=status.HTTP_201_CREATED if state.created else status.HTTP_200_OK,
        )

    @extend_schema(responses={204: None}, tags=["reposts"])
    def delete(self, request, post_id: int):
        ratelimit.enforce(request, "repost", request.user.pk)
        reposts.unrepost_post(request.user, post_id=post_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
