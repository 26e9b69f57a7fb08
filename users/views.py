from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from puppies import ratelimit, search
from users import profiles, selectors, services
from users.models import User
from users.serializers import (
    DetailSerializer,
    EmailVerifySerializer,
    LoginSerializer,
    MeSerializer,
    PasswordChangeSerializer,
    ProfileUpdateSerializer,
    RefreshSerializer,
    RegisterSerializer,
    RotateSerializer,
    TokenPairSerializer,
    UserSearchQuerySerializer,
    UserSerializer,
)


class RegisterView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: MeSerializer}, tags=["auth"])
    def post(self, request):
        ratelimit.enforce(request, "register")
        data = RegisterSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # Per address too, whether or not it has accounts: no one's mailbox gets flooded.
        ratelimit.enforce(request, "register_email", data.validated_data["email"].lower())
        user = services.register_user(**data.validated_data)
        return Response(MeSerializer(user).data, status=status.HTTP_201_CREATED)


class EmailVerifyView(APIView):
    """The link mailed at registration: opening it verifies the address (then it may name
    the account at login). Opening it again changes nothing."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(parameters=[EmailVerifySerializer], responses={200: MeSerializer}, tags=["auth"])
    def get(self, request):
        ratelimit.enforce(request, "email_verify")
        data = EmailVerifySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        user = services.verify_email(data.validated_data["token"])
        return Response(MeSerializer(user).data)


class EmailVerificationView(APIView):
    """Mail me a new verification link (the last one expired or got lost)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={202: DetailSerializer}, tags=["auth"])
    def post(self, request):
        ratelimit.enforce(request, "verification_email", request.user.pk)
        services.request_verification(request.user)
        detail = "Unless the address is verified already, a new link is on its way."
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


@extend_schema(responses={200: TokenPairSerializer}, tags=["auth"])
class LoginView(TokenObtainPairView):
    authentication_classes = []
    serializer_class = LoginSerializer

    def post(self, request, *args, **kwargs):
        ratelimit.enforce(request, "login")  # per IP, every attempt
        data = request.data if isinstance(request.data, dict) else {}
        # Per account; failures are counted by the user_login_failed signal (users/apps.py).
        services.check_login_allowed(request, identifier=data.get("username", ""))
        return super().post(request, *args, **kwargs)


@extend_schema(responses={200: TokenPairSerializer}, tags=["auth"])
class RefreshView(TokenRefreshView):
    authentication_classes = []
    serializer_class = RotateSerializer

    def post(self, request, *args, **kwargs):
        ratelimit.enforce(request, "token_refresh")
        try:
            return super().post(request, *args, **kwargs)
        except User.DoesNotExist:  # simplejwt looks the user up with .get(): deleted -> 500
            raise AuthenticationFailed(
                "No active account found for the given token.", "no_active_account"
            ) from None


class LogoutView(APIView):
    # The refresh token in the body is the credential: an expired access token
    # must not stop a client from logging out.
    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'

    @extend_schema(request=RefreshSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        ratelimit.enforce(request, "logout")
        data = RefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.log_out(data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=PasswordChangeSerializer, responses={204: None}, tags=["auth"])
    def post(self, request):
        ratelimit.enforce(request, "password_change", request.user.pk)
        data = PasswordChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.change_password(request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeSerializer, tags=["users"])
    def get(self, request):
        return HttpResponse(
            profiles.render_profile(request.user, request.user.pk, me=True),
            content_type="application/json",
        )

    @extend_schema(request=ProfileUpdateSerializer, responses=MeSerializer, tags=["users"])
    def patch(self, request):
        data = ProfileUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.update_profile(request.user, **data.validated_data)
        return Response(MeSerializer(user).data)


class UserDetailView(APIView):
    @extend_schema(responses=UserSerializer, tags=["users"])
    def get(self, request, user_id: int | None = None, username: str | None = None):
        if username is None:  # by id: also answered from its copy while PostgreSQL is down
            body = profiles.render_profile(request.user, user_id)
            if body is None:
                raise selectors.UserNotFound
            return HttpResponse(body, content_type="application/json")
        user = selectors.get_user_or_404(request.user, username=username)
        return Response(UserSerializer(user).data)


class FollowView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None, responses={200: UserSerializer, 201: UserSerializer}, tags=["users"]
    )
    def post(self, request, user_id: int):
        ratelimit.enforce(request, "follow", request.user.pk)
        followee = selectors.get_user_or_404(request.user, user_id=user_id)
        created = services.follow(request.user, followee=followee)
        # Read again: fresh counters and is_following.
        user = selectors.get_user_or_404(request.user, user_id=user_id)
        return Response(
            UserSerializer(user).data, status=status.HTTP_201_CREATED if created else 200
        )

    @extend_schema(responses={204: None}, tags=["users"])
    def delete(self, request, user_id: int):
        ratelimit.enforce(request, "follow", request.user.pk)
        services.unfollow(
            request.user, followee=selectors.get_user_or_404(request.user, user_id=user_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def users_page(view: GenericAPIView, rows, side: str):
    """The paginated answer of a page of relation rows (follows, blocks, mutes): the users
    at `side` of each, with the viewer's `is_following` the query annotated."""
    users = []
    for row in view.paginate_queryset(rows):
        user = getattr(row, side)
        user.is_following = row.viewer_follows
        users.append(user)
    return view.get_paginated_response(UserSerializer(users, many=True).data)


class _FollowListView(GenericAPIView):
    """A page of users from a page of Follow rows, newest follow first."""

    permission_classes = [IsAuthenticatedOrReadOnly]
    serializer_class = UserSerializer
    side: str  # "follower" or "followee": which end of the Follow to show

    def follows(self, user_id: int):
        raise NotImplementedError

    @extend_schema(responses=UserSerializer(many=True), tags=["users"])
    def get(self, request, user_id: int):
        selectors.get_user_or_404(request.user, user_id=user_id)
        return users_page(self, self.follows(user_id), self.side)


class FollowersView(_FollowListView):
    side = "follower"
    ordering = ("-created_at", "-follower_id")

    def follows(self, user_id: int):
        return selectors.followers_of(self.request.user, user_id=user_id)


class FollowingView(_FollowListView):
    side = "followee"
    ordering = ("-created_at", "-followee_id")

    def follows(self, user_id: int):
        return selectors.following_of(self.request.user, user_id=user_id)


# --- blocks and mutes ----------------------------------------------------------------


_RELATION_RESPONSES = {201: UserSerializer, 200: UserSerializer}


class BlockView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses=_RELATION_RESPONSES,
        tags=["users"],
        description="Block the user: 201 if this blocked them, 200 if they were already. "
        "Both follows are removed; neither sees the other's profile, posts, comments or "
        "likes (404) and neither can follow, like, comment on or notify the other.",
    )
    def post(self, request, user_id: int):
        ratelimit.enforce(request, "follow", request.user.pk)
        user = selectors.get_user_or_404(request.user, user_id=user_id, with_blocked=True)
        created = services.block_user(blocker=request.user, blocked=user)
        user.is_following = False  # the block removed it
        return Response(UserSerializer(user).data, status=201 if created else 200)

    @extend_schema(responses={204: None}, tags=["users"])
    def delete(self, request, user_id: int):
        ratelimit.enforce(request, "follow", request.user.pk)
        services.unblock_user(
            blocker=request.user,
            blocked=selectors.get_user_or_404(request.user, user_id=user_id, with_blocked=True),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MuteView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses=_RELATION_RESPONSES,
        tags=["users"],
        description="Mute the user: 201 if this muted them, 200 if they were already. "
        "Their posts leave my feed, search and comment lists and their notifications to "
        "me stop; they are not told.",
    )
    def post(self, request, user_id: int):
        ratelimit.enforce(request, "follow", request.user.pk)
        user = selectors.get_user_or_404(request.user, user_id=user_id)
        created = services.mute_user(muter=request.user, muted=user)
        return Response(UserSerializer(user).data, status=201 if created else 200)

    @extend_schema(responses={204: None}, tags=["users"])
    def delete(self, request, user_id: int):
        ratelimit.enforce(request, "follow", request.user.pk)
        services.unmute_user(
            muter=request.user,
            muted=selectors.get_user_or_404(request.user, user_id=user_id, with_blocked=True),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyBlocksView(GenericAPIView):
    """The users I blocked, most recently blocked first."""

    permission_classes = [IsAuthenticated]
    serializer_class = UserSerializer
    ordering = ("-created_at", "-blocked_id")

    @extend_schema(responses=UserSerializer(many=True), tags=["users"])
    def get(self, request):
        return users_page(self, selectors.blocks_of(request.user), "blocked")


class MyMutesView(GenericAPIView):
    """The users I muted, most recently muted first."""

    permission_classes = [IsAuthenticated]
    serializer_class = UserSerializer
    ordering = ("-created_at", "-muted_id")

    @extend_schema(responses=UserSerializer(many=True), tags=["users"])
    def get(self, request):
        return users_page(self, selectors.mutes_of(request.user), "muted")


class SearchUsersView(GenericAPIView):
    """Active users whose username or display name contains q (any case), by username."""

    serializer_class = UserSerializer
    ordering = ("username",)

    @extend_schema(
        parameters=[search.Q_PARAMETER], responses=UserSerializer(many=True), tags=["search"]
    )
    def get(self, request):
        q = search.read_search_query(request, UserSearchQuerySerializer)
        users = selectors.search_users(request.user, q=q)
        page = self.paginate_queryset(users)
        return self.get_paginated_response(UserSerializer(page, many=True).data)
