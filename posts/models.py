from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

# 'simple' (no stemming, no stop words): posts mix languages, dog names, breeds and slang,
# which an English stemmer mangles; a query finds exactly the words that were written.
SEARCH_CONFIG = "simple"
PUBLISHED = "published"


def content_search_vector() -> SearchVector:
    """The expression the search index is built on; queries must use this very expression."""
    return SearchVector("content", config=SEARCH_CONFIG)


def visible_q(prefix: str = "") -> Q:
    """What anyone may see: published, not deleted, not hidden by a moderator."""
    return Q(
        **{
            f"{prefix}status": PUBLISHED,
            f"{prefix}deleted_at__isnull": True,
            f"{prefix}hidden_at__isnull": True,
        }
    )


# The same rule in SQL, for statements that name the post table `p`.
VISIBLE_SQL = f"(p.status = '{PUBLISHED}' AND p.deleted_at IS NULL AND p.hidden_at IS NULL)"


class PostQuerySet(models.QuerySet):
    def visible(self):
        return self.filter(visible_q())


class Post(models.Model):
    class Status(models.TextChoices):
        PUBLISHED = PUBLISHED
        PENDING_MEDIA = "pending_media"

    # No index of its own: post_author_created leads with author_id and serves every
    # lookup by author (and the cascade); a second one only cost each new post an insert.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    content = models.TextField(max_length=2000)
    media = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    # Kept exact by the statement that writes or deletes the Repost row (interactions.sql);
    # a database default too, so that set-based inserts (posts.sql) need not name it.
    repost_count = models.PositiveIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # When its content last changed by an edit (null: never edited); PostVersion keeps the rest.
    edited_at = models.DateTimeField(null=True, blank=True)
    # Soft delete and moderation: rows stay so feeds and counters can react.
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                F("author"), F("created_at").desc(), F("id").desc(), name="post_author_created"
            ),
            models.Index(
                F("created_at").desc(),
                F("id").desc(),
                name="post_live_created",
                condition=Q(deleted_at__isnull=True, hidden_at__isnull=True),
            ),
            # Full-text search. Not partial on purpose: the planner keeps statistics of an index
            # expression only for whole-table indexes, and without them it guesses every word
            # matches 0.5% of posts, then walks post_live_created filtering row by row (a rare
            # word took ~1 s on 200k posts instead of ~1 ms from this index).
            GinIndex(content_search_vector(), name="post_content_search"),
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} by {self.author_id}"

    @property
    def is_visible(self) -> bool:
        """visible_q of this instance's fields (a test holds the three forms together)."""
        return (
            self.status == self.Status.PUBLISHED
            and self.deleted_at is None
            and self.hidden_at is None
        )


class PostHashtag(models.Model):
    """`post` carries `#tag`. created_at copies the post's, so a tag page is one index range."""

    pk = models.CompositePrimaryKey("post", "tag")
    # The primary key (post_id, tag) already indexes post_id.
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+", db_index=False)
    tag = models.CharField(max_length=100)  # lower-cased, without the '#'
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # a tag's posts, newest first (keyset)
            models.Index(
                F("tag"), F("created_at").desc(), F("post").desc(), name="posthashtag_tag_created"
            ),
            # trending: the tags of the last hours
            models.Index(F("created_at"), F("tag"), name="posthashtag_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.tag} on {self.post_id}"


class MediaUpload(models.Model):
    """One image on its way in (a post's or an avatar), and the files it left in storage.

    Its row is the single-use part of an upload link: the link works while the row is
    `pending`, and the first upload moves it on. The names of every file it stored are
    kept here, so cleanup and `media_gc` know what belongs to whom.
    """

    class Kind(models.TextChoices):
        POST = "post"
        AVATAR = "avatar"

    class State(models.TextChoices):
        PENDING = "pending"  # link handed out, no file confirmed yet
        RECEIVED = "received"  # the file is in storage; its check is queued
        READY = "ready"  # checked, stored and in use
        REJECTED = "rejected"  # not an acceptable image; its bytes are gone
        EXPIRED = "expired"  # the file never arrived in time
        PURGED = "purged"  # its files were removed (post deleted, avatar replaced)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, null=True, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    content_type = models.CharField(max_length=32)
    size = models.PositiveIntegerField()
    # Where the client's bytes land before their check (never served).
    incoming_name = models.CharField(max_length=255)
    # What the check stored (the image, its thumbnail), by public name.
    names = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(F("state"), F("created_at"), name="mediaupload_state_created"),
            models.Index(F("post"), name="mediaupload_post"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} upload {self.pk} ({self.state})"


class PostVersion(models.Model):
    """An earlier content of a post, kept when an edit replaced it.

    `edited_at` is when this content was written: the post's creation for the first
    version, the edit that wrote it for later ones (as the post's own `edited_at`).
    """

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+", db_index=False)
    content = models.TextField(max_length=2000)
    edited_at = models.DateTimeField()

    class Meta:
        indexes = [
            # a post's versions, newest first (keyset on id: versions are written in order)
            models.Index(F("post"), F("id").desc(), name="postversion_post"),
        ]

    def __str__(self) -> str:
        return f"Version {self.pk} of post {self.post_id}"


class Pin(models.Model):
    """A post its author pinned to their profile (at most MAX_PINS each)."""

    MAX_PINS = 5

    post = models.OneToOneField(Post, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # The post's author, so that a profile's pins are one index range.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    pinned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(F("author"), F("pinned_at").desc(), F("post").desc(), name="pin_author")
        ]

    def __str__(self) -> str:
        return f"Post {self.post_id} pinned by {self.author_id}"
