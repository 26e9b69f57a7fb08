"""Ingestion metrics: records ingested and failed per source, run duration, dead letters."""

from prometheus_client import Counter, Histogram

from puppies.metrics import scrape_gauge

RECORDS = Counter(
    "puppies_ingestion_records_total",
    "Imported records per source and outcome (created, updated, unchanged).",
    ["source", "outcome"],
)
FAILED = Counter(
    "puppies_ingestion_records_failed_total",
    "Records (or pages) per source that went to a dead letter.",
    ["source"],
)
RUN_DURATION = Histogram(
    "puppies_ingestion_run_duration_seconds",
    "Duration of ingestion runs per source and final status.",
    ["source", "status"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
)
REPROCESSED = Counter(
    "puppies_ingestion_dead_letters_reprocessed_total",
    "Dead-letter retries per outcome (resolved, failed, given_up).",
    ["outcome"],
)


@scrape_gauge("puppies_ingestion_dead_letters", "Open dead letters (not resolved).")
def open_dead_letters() -> float:
    from ingestion.models import DeadLetter

    return DeadLetter.objects.filter(resolved_at__isnull=True).count()
