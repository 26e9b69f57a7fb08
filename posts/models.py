from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class PostQuerySet(models.QuerySet):
    def visible(self):
        """What anyone may see: published, not deleted, not hidden by a moderator."""
        return self.filter(
            status=Post.Status.PUBLISHED, deleted_at__isnull=True, hidden_at__isnull=True
        )


class Post(models.Model):
    class Status(models.TextChoices):
        PUBLISHED = "published"
        PENDING_MEDIA = "pending_media"

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    content = models.TextField(max_length=2000)
    media = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    like_count = models.PositiveIntegerField(default=0)
    comment_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
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
        ]

    def __str__(self) -> str:
        return f"Post {self.pk} by {self.author_id}"

    @property
    def is_visible(self) -> bool:
        return (
            self.status == self.Status.PUBLISHED
            and self.deleted_at is None
            and self.hidden_at is None
        )
