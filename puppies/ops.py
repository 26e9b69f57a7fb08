"""The staff status page's figures: now, and the last hour as beat sampled it into Redis.

The figures are the scrape gauges of /metrics (one definition each); beat's `ops-sample`
job appends one sample a minute to a capped Redis list, so the page needs no Prometheus.
"""

import json

from django.utils import timezone

from puppies import metrics
from puppies import redis as puppies_redis

# Field -> the scrape gauge it shows.
FIGURES = {
    "outbox_backlog": "puppies_feed_outbox_backlog",
    "fanout_lag_s": "puppies_feed_outbox_oldest_age_seconds",
    "like_buffer_depth": "puppies_like_buffer_depth",
    "dead_letters": "puppies_ingestion_dead_letters",
    "replica_lag_s": "puppies_db_replica_lag_seconds",
    "queues": "puppies_celery_queue_length",
}
HISTORY_KEY = "ops:history"
HISTORY_LENGTH = 60  # one sample a minute: the last hour


def current() -> dict:
    """Every figure now (None where its source is down), stamped with the time."""
    figures = {field: metrics.read_gauge(gauge) for field, gauge in FIGURES.items()}
    return {"at": timezone.now().isoformat(), **figures}


def sample() -> dict:
    """Append the current figures to the history (beat, every minute)."""
    figures = current()
    client = puppies_redis.client()
    with client.pipeline(transaction=True) as pipe:
        pipe.lpush(HISTORY_KEY, json.dumps(figures))
        pipe.ltrim(HISTORY_KEY, 0, HISTORY_LENGTH - 1)
        pipe.execute()
    return figures


def history() -> list[dict]:
    """The samples of the last hour, oldest first ([] while Redis is unreachable)."""
    try:
        raw = puppies_redis.client().lrange(HISTORY_KEY, 0, HISTORY_LENGTH - 1)
    except puppies_redis.Unavailable:
        return []
    return [json.loads(item) for item in reversed(raw)]


def summary() -> dict:
    return {"now": current(), "history": history()}
