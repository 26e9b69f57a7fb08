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


class MarkReadSerializer(serializers.Serializer):
    up_to_id = serializers.IntegerField(min_value=1, required=False)


# --- likes --------------------------------------------------------------------


class LikeSerializer(serializers.Serializer):
    """The caller's like of a post, as just recorded (likes not yet flushed included)."""

    post_id = serializers.IntegerField(read_only=True)
    liked_by_me = serializers.BooleanField(read_only=True)
    like_count = serializers.IntegerField(read_only=True)
