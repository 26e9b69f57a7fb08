"""Imports from external JSON APIs: sources, their runs, what failed, and what was imported.

Imported items are ordinary posts and comments of the source's bot account; `ImportedItem`
maps each `(source, external_id)` to the post or comment it became, so that a rerun
updates instead of duplicating.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Source(models.Model):
    name = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=32)  # a key of ingestion.kinds.KINDS
    base_url = models.URLField(max_length=500)
    enabled = models.BooleanField(default=False)
    schedule = models.PositiveIntegerField(default=3600, help_text="Seconds between runs.")
    page_size = models.PositiveIntegerField(default=100)
    # Who owns the imported posts and comments.
    bot = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", editable=False
    )
    # Where an interrupted run goes on: {"stream": index, "page": index}; empty when the
    # last run got to the end (the next one starts over, updating what changed).
    checkpoint = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class IngestionRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        INTERRUPTED = "interrupted"  # stopped (SIGTERM) or its worker died: the next resumes

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=16, default="api")  # api, beat, command, admin
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Bumped with every batch: a run silent for INGEST_RUN_STALE_S has lost its worker.
    heartbeat_at = models.DateTimeField(default=timezone.now)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(F("source"), F("id").desc(), name="run_source_newest")]
        constraints = [
            # The lock: one queued or running run per source, enforced by the database.
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_source",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.source_id} ({self.status})"


class DeadLetter(models.Model):
    """An item or page that failed; retried with backoff until INGEST_MAX_ATTEMPTS."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="dead_letters")
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL)
    # "post:7", "comment:12", "berry:cheri", or "page:<stream>:<n>" for a whole page.
    external_id = models.CharField(max_length=200)
    # What a retry needs: {"stream", "url"?, "item"?, "body"? (the start of a bad body)}.
    payload = models.JSONField(default=dict)
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=1)
    # None: not retried automatically any more (given up, or resolved).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="deadletter_due", condition=Q(resolved_at=None)
            ),
            models.Index(F("source"), F("id").desc(), name="deadletter_source_newest"),
        ]
        constraints = [
            # A thing failing again updates its open letter rather than adding one.
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(resolved_at=None),
                name="one_open_dead_letter_per_item",
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"


class ImportedItem(models.Model):
    """`external_id` of `source` became this post or comment; `checksum` is of its text."""

    # No database constraints on these foreign keys: each would check every inserted row
    # with a query of its own at commit (a few thousand per page of an import), and only
    # ingestion.services writes here. Deletes still cascade here (Django's collector).
    pk = models.CompositePrimaryKey("source", "external_id")
    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    external_id = models.CharField(max_length=200)  # "post:7", "comment:12", ...
    # Indexed: deleting a user or post cascades here by these columns.
    post = models.ForeignKey(
        "posts.Post", null=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    comment = models.ForeignKey(
        "interactions.Comment",
        null=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
    )
    checksum = models.CharField(max_length=32)

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id}"
