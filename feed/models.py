from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from posts.models import Post


class FeedEntry(models.Model):
    """One post in one owner's home feed: a materialized view written by fan-out workers.

    `post` and `author` carry no database constraint and no index of their own: every
    extra index costs fan-out throughput, and reads join `posts_post` (filtering out
    deleted, hidden and vanished posts), so a stale row can never be shown.
    """

    pk = models.CompositePrimaryKey("owner", "post")
    # No database constraint either: a per-row RI check would halve fan-out throughput;
    # deleting a user still cascades here through the ORM.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    post = models.ForeignKey(
        Post, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    # Its time in the feed: the post's, or the repost's for a repost.
    created_at = models.DateTimeField()
    # The followee whose repost put it here (null: the author's own push or backfill).
    # `author` stays the post's author (unfollowing or muting them filters on it).
    reposted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name_plural = "feed entries"
        indexes = [
            models.Index(
                F("owner"), F("created_at").desc(), F("post").desc(), name="feed_owner_created"
            )
        ]

    def __str__(self) -> str:
        return f"post {self.post_id} in feed of {self.owner_id}"


class OutboxEvent(models.Model):
    """A change that feeds must learn about, written in the transaction of the change."""

    class Kind(models.TextChoices):
        POST_PUBLISHED = "post_published"
        POST_RETRACTED = "post_retracted"
        REPOST_PUBLISHED = "repost_published"  # `actor` reposted `post`
        REPOST_RETRACTED = "repost_retracted"  # `actor` took the repost back

    kind = models.CharField(max_length=32, choices=Kind.choices)
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    # The reposter, for repost events (null for a post's own events).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set when it is written (the relay hands it to the broker at commit) and at each
    # re-dispatch: `relay_outbox` dispatches it again if it is still unprocessed
    # OUTBOX_REDISPATCH_AFTER_S later (broker down, worker killed, notification lost).
    dispatched_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [
            models.Index(
                fields=["dispatched_at"],
                name="outbox_pending",
                condition=Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.post_id}"


class VipAuthor(models.Model):
    """An author whose posts are pulled at read time instead of pushed (too many followers).

    Kept here rather than on User so that entering and leaving uses two thresholds
    (hysteresis) and the users app stays unaware of the feed's strategy.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    since = models.DateTimeField(default=timezone.now)
    # Pulled whatever the follower count, never demoted: the bot account of an ingestion
    # source, which imports posts by the thousand (pushing each to every follower would
    # write rows that the feed cap trims again; a read merges the newest few instead).
    pinned = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"VIP {self.user_id}"


class DormantFeed(models.Model):
    """An owner whose feed fan-out no longer maintains (inactive for FEED_INACTIVE_DAYS).

    Marked by a beat job; fan-out skips these owners with an anti-join on this small
    table (cheaper per row than reading users.last_active_at). The owner's next feed
    read is pulled from every followee and asks a worker (feed.tasks.wake_feed) to remove
    the mark and rebuild the feed: a GET writes nothing.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    since = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"dormant feed of {self.owner_id}"


class FeedFloor(models.Model):
    """Where an owner's stored entries stop being the whole feed: below (and at) this
    key, (created_at, post id), entries may be missing, so reads past it continue from
    the followees' own posts (feed.sql.feed_page).

    Only ever raised, by what leaves older posts out of a feed: the cap's trim, a
    follow's backfill of a followee's newest posts, a rebuild, a VIP's demotion. No row:
    the stored entries (and the VIPs' pulled posts) are the whole feed.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    created_at = models.DateTimeField()
    post_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"feed floor of {self.owner_id}"
