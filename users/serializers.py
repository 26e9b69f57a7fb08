from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
)

from puppies.search import SearchQuerySerializer
from puppies.serializers import StrictCharField, StrictRegexField
from users import selectors
from users.auth import RefreshToken
from users.models import USERNAME_RE, User

# An absolute http(s) URI in ASCII (RFC 3986): a host name, an optional port, then path,
# query and fragment characters or %-escapes.
_URI_CHAR = r"(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})"
AVATAR_URL_PATTERN = (
    r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?"
    rf"(?:[/?]{_URI_CHAR}*)?(?:#{_URI_CHAR}*)?$"
)


# A user without an avatar has "" (not null): clients that show `avatar_url` when it is
# truthy keep working, and cached renderings need no migration. An avatar is set by the
# upload flow only (POST /v1/users/me/avatar: checked, stored, served by us), so a URL of
# the client's choosing is refused; `""` removes the avatar.
@extend_schema_field(
    {
        "type": "string",
        "maxLength": 0,
        "description": '"" removes the avatar; a new one is uploaded with '
        "`POST /v1/users/me/avatar`.",
    }
)
class AvatarRemovalField(serializers.CharField):
    default_error_messages = {
        "upload": 'Upload an avatar with POST /v1/users/me/avatar; only "" (none) is taken here.'
    }

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            self.fail("upload")
        return value


# What is served: an avatar uploaded to local storage (MEDIA_URL=/media/) is a path on the
# API's host; one in a bucket, or set by URL, is absolute.
@extend_schema_field(
    {
        "type": "string",
        "maxLength": 500,
        "anyOf": [
            {"format": "uri", "pattern": AVATAR_URL_PATTERN},
            {"format": "uri-reference", "pattern": "^/[^/]"},
            {"maxLength": 0},
        ],
        "description": "The avatar's http(s) URL, a path on this API's host (an uploaded"
        ' avatar in local storage), or "" when the user has none.',
    }
)
class ServedAvatarURLField(serializers.CharField):
    pass


class AuthorSerializer(serializers.ModelSerializer):
    """The compact user embedded in posts, comments and notifications."""

    class Meta:
        model = User
        fields = ["id", "username", "display_name", "avatar_url"]
        read_only_fields = fields

    avatar_url = ServedAvatarURLField(read_only=True)


class UserSerializer(serializers.ModelSerializer):
    avatar_url = ServedAvatarURLField(read_only=True)
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
    email_verified = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "email", "email_verified"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_email_verified(self, user: User) -> bool:
        return user.email_verified_at is not None


class RegisterSerializer(serializers.Serializer):
    username = StrictRegexField(
        USERNAME_RE,
        max_length=settings.USERNAME_MAX_LENGTH,
        error_messages={"invalid": "3 to 30 letters, digits or underscores."},
    )
    email = serializers.EmailField(max_length=254)
    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)
    display_name = StrictCharField(max_length=50, required=False, allow_blank=True)


class ProfileUpdateSerializer(serializers.Serializer):
    display_name = StrictCharField(max_length=50, required=False, allow_blank=True)
    bio = StrictCharField(max_length=settings.BIO_MAX_LENGTH, required=False, allow_blank=True)
    avatar_url = AvatarRemovalField(required=False, allow_blank=True)


class PasswordChangeSerializer(serializers.Serializer):
    old_password = StrictCharField(write_only=True, trim_whitespace=False)
    new_password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False)


class EmailVerifySerializer(serializers.Serializer):
    token = StrictCharField(max_length=1000)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


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


class UserSearchQuerySerializer(SearchQuerySerializer):
    """`q` of a user search: long enough for the trigram indexes."""

    problem = staticmethod(selectors.user_query_problem)
