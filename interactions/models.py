from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from posts.models import Post


class Like(models.Model):
    pk = models.CompositePrimaryKey("user", "post")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["post", "user"], name="like_post_user"),
            # "posts this user liked, newest like first"
            models.Index(
                F("user"), F("created_at").desc(), F("post").desc(), name="like_user_list"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} likes {self.post_id}"


def live_comment_q(prefix: str = "") -> Q:
    """A comment others may see: neither deleted by its author nor hidden by a moderator."""
    return Q(**{f"{prefix}deleted_at__isnull": True, f"{prefix}hidden_at__isnull": True})


# The same rule in SQL, for statements that name the comment table `c`.
LIVE_COMMENT_SQL = "(c.deleted_at IS NULL AND c.hidden_at IS NULL)"


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    content = models.TextField(max_length=1000)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["post", "created_at", "id"], name="comment_post_created")]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.post_id}"


class Report(models.Model):
    class Reason(models.TextChoices):
        SPAM = "spam"
        ABUSE = "abuse"
        NSFW = "nsfw"
        ANIMAL_WELFARE = "animal_welfare"
        OTHER = "other"

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"
        DISMISSED = "dismissed"

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    reason = models.CharField(max_length=32, choices=Reason.choices)
    details = models.TextField(max_length=2000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["status", "-created_at"], name="report_queue")]
        constraints = [
            # one open report per reporter and post: repeats do not inflate the queue
            models.UniqueConstraint(
                fields=["post", "reporter"],
                condition=models.Q(status="open"),
                name="report_one_open_per_reporter",
            )
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} ({self.reason}) on post {self.post_id}"


class Notification(models.Model):
    class Type(models.TextChoices):
        LIKE = "like"
        FOLLOW = "follow"
        COMMENT = "comment"
        MENTION = "mention"
        REPOST = "repost"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=16, choices=Type.choices)
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    comment = models.ForeignKey(
        Comment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(F("recipient"), F("id").desc(), name="notification_inbox")]
        constraints = [
            # a like, follow or repost notifies once, however often it is undone and redone
            models.UniqueConstraint(
                fields=["recipient", "actor", "type", "post"],
                condition=models.Q(type__in=["like", "follow", "repost"]),
                nulls_distinct=False,
                name="notification_once_per_like_follow_or_repost",
            ),
            # a mention notifies once per post body (or comment): editing a post back and
            # forth between "@someone" and plain text must not ping them again each time
            models.UniqueConstraint(
                fields=["recipient", "post", "comment"],
                condition=models.Q(type="mention"),
                nulls_distinct=False,
                name="notification_once_per_mention",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} for {self.recipient_id} by {self.actor_id}"


class Bookmark(models.Model):
    """A post the user saved for later: private, seen only by that user."""

    pk = models.CompositePrimaryKey("user", "post")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # "my bookmarks, newest first" (keyset), and the viewer's set (viewer_sets)
            models.Index(
                F("user"), F("created_at").desc(), F("post").desc(), name="bookmark_user_list"
            ),
            # a post's bookmarks go with it when it is deleted for good (cascade)
            models.Index(fields=["post"], name="bookmark_post"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} bookmarked {self.post_id}"


class Repost(models.Model):
    """The user reposted someone else's post into their followers' feeds."""

    pk = models.CompositePrimaryKey("user", "post")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                F("user"), F("created_at").desc(), F("post").desc(), name="repost_user_list"
            ),
            # a post's reposters: retracting a post removes every repost from feeds
            models.Index(fields=["post", "user"], name="repost_post_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} reposted {self.post_id}"
