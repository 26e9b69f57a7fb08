from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from posts import selectors
from posts.media.images import FORMATS
from posts.models import Pin, Post, PostVersion
from puppies.search import SearchQuerySerializer
from puppies.serializers import StrictCharField
from users.serializers import AuthorSerializer


@extend_schema_field(
    {
        "type": "string",
        "format": "uri-reference",
        "description": "The file's URL: absolute from a bucket or CDN, or a path on this API's"
        " host (local storage, MEDIA_URL=/media/).",
    }
)
class StoredFileURLField(serializers.CharField):
    pass


class MediaSerializer(serializers.Serializer):
    url = StoredFileURLField()
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    thumbnail_url = StoredFileURLField(allow_null=True)
    blurhash = serializers.CharField(
        allow_null=True,
        default=None,
        help_text="A BlurHash (blurha.sh) of the image, to show while it loads.",
    )


class PostSerializer(serializers.ModelSerializer):
    """A post as clients see it: the schema of what posts.rendering answers, and what it caches
    (PostBodySerializer) of each post."""

    author = AuthorSerializer(read_only=True)
    media = serializers.SerializerMethodField()
    media_error = serializers.SerializerMethodField()
    liked_by_me = serializers.BooleanField(read_only=True, default=False)
    bookmarked_by_me = serializers.BooleanField(
        read_only=True, default=False, help_text="Whether I bookmarked it (private)."
    )
    reposted_by_me = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Post
        fields = [
            "id",
            "author",
            "content",
            "media",
            "media_error",
            "status",
            "like_count",
            "comment_count",
            "liked_by_me",
            "bookmarked_by_me",
            "reposted_by_me",
            "repost_count",
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

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_media_error(self, post: Post) -> str | None:
        """Why a pending post's image was refused (only its author sees a pending post)."""
        if post.status == Post.Status.PUBLISHED or not post.media:
            return None
        return post.media.get("error")


class FeedPostSerializer(PostSerializer):
    """A post in a home feed: also which followee's repost put it there."""

    reposted_by = AuthorSerializer(
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The followee whose repost put this post in the feed; null for a post "
        "that is here as its author's.",
    )

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "reposted_by"]
        read_only_fields = fields


class PostBodySerializer(PostSerializer):
    """What posts.rendering caches of a post: all but its id, its author's summary (cached
    apart) and what is overlaid per request (like_count and the viewer's marks)."""

    class Meta(PostSerializer.Meta):
        fields = [
            f
            for f in PostSerializer.Meta.fields
            if f
            not in (
                "id",
                "author",
                "like_count",
                "liked_by_me",
                "bookmarked_by_me",
                "reposted_by_me",
            )
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
    """Where and how to send an image: exactly this method, with these `headers` (a PUT of
    the raw bytes) or these form `fields` followed by the file as `file` (a multipart
    POST), and no Authorization header. Valid until expires_at; then, if `complete_url`
    is not null, POST to it (with the bearer token) to have the image checked."""

    url = serializers.URLField()
    method = serializers.ChoiceField(choices=["PUT", "POST"])
    headers = serializers.DictField(child=serializers.CharField(), required=False)
    fields = serializers.DictField(child=serializers.CharField(), required=False)
    expires_at = serializers.DateTimeField()
    complete_url = serializers.URLField(allow_null=True)


class UploadReceiptSerializer(serializers.Serializer):
    """The file arrived; its check runs in the background (poll the post or profile)."""

    state = serializers.ChoiceField(choices=["received"])


class AvatarUploadSerializer(serializers.Serializer):
    upload = UploadSerializer()


class CreatedPostSerializer(PostSerializer):
    upload = UploadSerializer(read_only=True, required=False)  # absent without media

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "upload"]
        read_only_fields = fields


class PostSearchQuerySerializer(SearchQuerySerializer):
    """`q` of a post search: a word the full-text index can look up in every alternative."""

    problem = staticmethod(selectors.post_query_problem)


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
