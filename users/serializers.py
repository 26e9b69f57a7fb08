from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)

from users.auth import RefreshToken
from users.models import USERNAME_RE, User


class AuthorSerializer(serializers.ModelSerializer):
    """The compact user embedded in posts, comments and notifications."""

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "avatar_url"]
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    is_following = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "display_name",
            "bio",
            "avatar_url",
            "follower_count",
            "following_count",
            "post_count",
            "is_following",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_is_following(self, user: User) -> bool:
        # Selectors annotate this in the same query; unannotated means "no".
        return bool(getattr(user, "is_following", False))


class MeSerializer(UserSerializer):
    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "email"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(
        USERNAME_RE,
        max_length=settings.USERNAME_MAX_LENGTH,
        error_messages={"invalid": "3 to 30 letters, digits or underscores."},
    )
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    display_name = serializers.CharField(max_length=50, required=False, allow_blank=True)


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    bio = serializers.CharField(
        max_length=settings.BIO_MAX_LENGTH, required=False, allow_blank=True
    )
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(write_only=True, trim_whitespace=False)
    new_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginSerializer(TokenObtainPairSerializer):
    """`username` accepts the username or the email address."""

    token_class = RefreshToken
    default_error_messages = {"no_active_account": "Wrong username or password."}


class RotateSerializer(TokenRefreshSerializer):
    token_class = RefreshToken
