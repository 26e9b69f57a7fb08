from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from interactions.models import Comment, Notification, Report
from puppies.serializers import StrictCharField
from users.serializers import AuthorSerializer

# --- comments -----------------------------------------------------------------


class CommentSerializer(serializers.ModelSerializer):
    post_id = serializers.IntegerField(read_only=True)
    author = AuthorSerializer(read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "post_id", "author", "content", "created_at"]
        read_only_fields = fields


class CommentWriteSerializer(serializers.Serializer):
    content = StrictCharField(min_length=1, max_length=settings.COMMENT_MAX_LENGTH)


# --- reports ------------------------------------------------------------------


class ReportSerializer(serializers.ModelSerializer):
    post_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Report
        fields = ["id", "post_id", "reason", "details", "status", "created_at"]
        read_only_fields = fields


class ReportWriteSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Report.Reason.choices)
    details = StrictCharField(
        max_length=Report._meta.get_field("details").max_length, required=False, allow_blank=True
    )


# --- notifications ------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    actor = AuthorSerializer(read_only=True)
    post_id = serializers.IntegerField(read_only=True, allow_null=True)
    comment_id = serializers.IntegerField(read_only=True, allow_null=True)
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "type", "actor", "post_id", "comment_id", "created_at", "read"]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class NotificationGroupSerializer(serializers.Serializer):
    """Likes of one post, or follows, grouped (GET /v1/notifications?grouped=true); a comment
    or a mention is a group of its own, with its comment_id."""

    type = serializers.ChoiceField(choices=Notification.Type.choices)
    post_id = serializers.IntegerField(allow_null=True)
    comment_id = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField(help_text="Notifications in the group.")
    actors = AuthorSerializer(many=True, help_text="The 3 newest actors, newest first.")
    latest_id = serializers.IntegerField(
        help_text="The newest notification's id (`up_to_id` to mark the group read)."
    )
    latest_at = serializers.DateTimeField()
    read = serializers.SerializerMethodField()

    @extend_schema_field(serializers.BooleanField(help_text="Every notification of it read."))
    def get_read(self, group: dict) -> bool:
        return group["unread"] == 0


class NotificationQuerySerializer(serializers.Serializer):
    grouped = serializers.BooleanField(required=False, default=False)


class MarkReadSerializer(serializers.Serializer):
    up_to_id = serializers.IntegerField(min_value=1, required=False)


# --- likes --------------------------------------------------------------------


class LikeSerializer(serializers.Serializer):
    """The caller's like of a post, as just recorded (likes not yet flushed included)."""

    post_id = serializers.IntegerField(read_only=True)
    liked_by_me = serializers.BooleanField(read_only=True)
    like_count = serializers.IntegerField(read_only=True)


# --- bookmarks and reposts ------------------------------------------------------


class BookmarkSerializer(serializers.Serializer):
    """The caller's bookmark of a post (private: only the caller sees it)."""

    post_id = serializers.IntegerField(read_only=True)
    bookmarked_by_me = serializers.BooleanField(read_only=True)


class RepostSerializer(serializers.Serializer):
    """The caller's repost of a post, as just recorded."""

    post_id = serializers.IntegerField(read_only=True)
    reposted_by_me = serializers.BooleanField(read_only=True)
    repost_count = serializers.IntegerField(read_only=True)
