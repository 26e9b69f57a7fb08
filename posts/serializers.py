from django.conf import settings
from rest_framework import serializers

from posts.models import Post
from users.serializers import AuthorSerializer


class MediaSerializer(serializers.Serializer):
    url = serializers.URLField()
    content_type = serializers.CharField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    thumbnail_url = serializers.URLField(allow_null=True)


class PostSerializer(serializers.ModelSerializer):
    """A post as clients see it. Posts come from posts.selectors with viewer state applied."""

    author = AuthorSerializer(read_only=True)
    media = MediaSerializer(read_only=True, allow_null=True)
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
        ]
        read_only_fields = fields


class PostWriteSerializer(serializers.Serializer):
    content = serializers.CharField(min_length=1, max_length=settings.POST_MAX_LENGTH)


SEARCH_QUERY_MAX_LENGTH = 200


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(min_length=1, max_length=SEARCH_QUERY_MAX_LENGTH)


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
