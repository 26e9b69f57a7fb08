"""Reads of ingestion: sources, their status, runs, dead letters, imported type counts."""

from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from ingestion.models import DeadLetter, ImportedItem, IngestionRun, Source
from posts.models import PostHashtag, visible_q


def sources() -> QuerySet[Source]:
    return Source.objects.order_by("id")


def source_by_name_or_id(ref: str) -> Source | None:
    found = Source.objects.filter(name=ref).first()
    if found is None and ref.isdigit():
        found = Source.objects.filter(pk=int(ref)).first()
    return found


def status() -> list[dict]:
    """Per source: the last run's status, when it was attempted and last succeeded, the
    records imported (items mapped now), the records that failed (over all runs) and the
    open dead letters. A handful of queries, whatever the number of sources."""
    runs = IngestionRun.objects.filter(source=OuterRef("pk")).order_by("-id")
    succeeded = runs.filter(status=IngestionRun.Status.SUCCEEDED)
    rows = list(
        Source.objects.order_by("id").annotate(
            last_status=Subquery(runs.values("status")[:1]),
            last_attempt_at=Subquery(runs.values("created_at")[:1]),
            last_success_at=Subquery(succeeded.values("finished_at")[:1]),
            records_failed=Coalesce(
                Subquery(
                    IngestionRun.objects.filter(source=OuterRef("pk"))
                    .values("source")
                    .annotate(total=Sum("failed"))
                    .values("total")
                ),
                0,
            ),
        )
    )
    ingested = dict(
        ImportedItem.objects.values_list("source").annotate(n=Count("*")).values_list("source", "n")
    )
    letters = dict(
        DeadLetter.objects.filter(resolved_at__isnull=True)
        .values_list("source")
        .annotate(n=Count("*"))
        .values_list("source", "n")
    )
    return [
        {
            "source": source.name,
            "source_id": source.pk,
            "enabled": source.enabled,
            "status": source.last_status or "never_run",
            "last_attempt_at": source.last_attempt_at,
            "last_success_at": source.last_success_at,
            "records_ingested": ingested.get(source.pk, 0),
            "records_failed": source.records_failed,
            "dead_letters": letters.get(source.pk, 0),
        }
        for source in rows
    ]


def run(run_id: int) -> IngestionRun | None:
    return IngestionRun.objects.select_related("source").filter(pk=run_id).first()


def dead_letters(source_id: int | None = None) -> QuerySet[DeadLetter]:
    """Open dead letters (pending and given up), newest first, optionally of one source."""
    letters = DeadLetter.objects.filter(resolved_at__isnull=True).select_related("source")
    return letters.filter(source_id=source_id) if source_id is not None else letters


def dead_letter(letter_id: int) -> DeadLetter | None:
    return DeadLetter.objects.select_related("source").filter(pk=letter_id).first()


def type_counts(source: Source) -> dict[str, int]:
    """{hashtag: visible posts of the source's bot carrying it}: for pokeapi-pokemon, the
    Pokémon per type."""
    rows = (
        PostHashtag.objects.filter(visible_q("post__"), post__author_id=source.bot_id)
        .values_list("tag")
        .annotate(n=Count("*"))
        .order_by("tag")
    )
    return dict(rows)
