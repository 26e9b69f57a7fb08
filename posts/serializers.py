from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from posts.media import FORMATS
from posts.models import Pin, Post, PostVersion
from puppies.serializers import StrictCharField
from users.serializers import AuthorSerializer


class MediaSerializer(serializers.Serializer):
    url = serializers.URLField()
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    thumbnail_url = serializers.URLField(allow_null=True)


class PostSerializer(serializers.ModelSerializer):
    """A post as clients see it: the schema of what posts.rendering answers, and what it caches
    (PostBodySerializer) of each post."""

    author = AuthorSerializer(read_only=True)
    media = serializers.SerializerMethodField()
    liked_by_me = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Post
        fields = [
            "id",
            "author",
            "content",
            "media",
            "status",
            "like_count",
            "comment_count",
            "liked_by_me",
            "created_at",
            "updated_at",
            "edited_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "edited_at": {"help_text": "When the content was last edited (null: never)."}
        }

    @extend_schema_field(MediaSerializer(allow_null=True))
    def get_media(self, post: Post) -> dict | None:
        """Null until the image is uploaded and checked (pending media holds only the claim)."""
        if post.status != Post.Status.PUBLISHED or not post.media:
            return None
        return MediaSerializer(post.media).data


class PostBodySerializer(PostSerializer):
    """What posts.rendering caches of a post: all but its id, its author's summary (cached
    apart) and what is overlaid per request (like_count, liked_by_me)."""

    class Meta(PostSerializer.Meta):
        fields = [
            f
            for f in PostSerializer.Meta.fields
            if f not in ("id", "author", "like_count", "liked_by_me")
        ]
        read_only_fields = fields


class PostVersionSerializer(serializers.ModelSerializer):
    """An earlier content of a post; `edited_at` is when it was written (the post's creation
    for the first version)."""

    class Meta:
        model = PostVersion
        fields = ["content", "edited_at"]
        read_only_fields = fields


class PinSerializer(serializers.ModelSerializer):
    post_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Pin
        fields = ["post_id", "pinned_at"]
        read_only_fields = fields


class PinnedPostsSerializer(serializers.Serializer):
    results = PostSerializer(many=True, help_text="At most 5, most recently pinned first.")


class PostWriteSerializer(serializers.Serializer):
    content = StrictCharField(min_length=1, max_length=settings.POST_MAX_LENGTH)


class MediaClaimSerializer(serializers.Serializer):
    """The image a new post will carry, declared before it is sent."""

    content_type = serializers.ChoiceField(choices=sorted(FORMATS))
    # The limit in the schema too: a client (or the contract run) can tell it beforehand.
    size = serializers.IntegerField(
        min_value=1,
        max_value=settings.MEDIA_MAX_BYTES,
        error_messages={"max_value": "Images are at most {max_value} bytes."},
        help_text="bytes, at most MEDIA_MAX_BYTES",
    )


class PostCreateSerializer(PostWriteSerializer):
    media = MediaClaimSerializer(required=False)


class UploadSerializer(serializers.Serializer):
    """Where and how to send a pending post's image (a signed link, valid until expires_at)."""

    url = serializers.URLField()
    method = serializers.ChoiceField(choices=["PUT"])
    headers = serializers.DictField(child=serializers.CharField())
    expires_at = serializers.DateTimeField()


class CreatedPostSerializer(PostSerializer):
    upload = UploadSerializer(read_only=True, required=False)  # absent without media

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "upload"]
        read_only_fields = fields


SEARCH_QUERY_MAX_LENGTH = 200


class SearchQuerySerializer(serializers.Serializer):
    q = StrictCharField(min_length=1, max_length=SEARCH_QUERY_MAX_LENGTH)


class HashtagSerializer(serializers.Serializer):
    tag = serializers.RegexField(
        r"^[A-Za-z0-9_]{1,100}$",
        error_messages={"invalid": "1 to 100 letters, digits or underscores, without '#'."},
    )


class TrendingHashtagSerializer(serializers.Serializer):
    tag = serializers.CharField()
    post_count = serializers.IntegerField()


class TrendingHashtagsSerializer(serializers.Serializer):
    results = TrendingHashtagSerializer(many=True)
