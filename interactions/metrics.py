"""Prometheus metrics of likes: the Redis buffer and its flushes to PostgreSQL."""

from prometheus_client import Counter, Histogram

from puppies.metrics import scrape_gauge

FLUSH_BATCH_SIZE = Histogram(
    "puppies_like_flush_batch_size",
    "Like intents written to PostgreSQL per flush batch.",
    buckets=(1, 10, 50, 100, 500, 1_000, 5_000, 10_000, 50_000),
)
FLUSH_DURATION = Histogram(
    "puppies_like_flush_duration_seconds",
    "Time to write one flush batch of likes to PostgreSQL, Redis steps included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LIKES_FLUSHED = Counter(
    "puppies_likes_flushed",
    "Like rows the flush actually changed in PostgreSQL (change: inserted, deleted).",
    ["change"],
)
LIKES_WRITTEN_DIRECTLY = Counter(
    "puppies_likes_written_directly",
    "Likes and unlikes written straight to PostgreSQL because the Redis buffer was unreachable.",
)


@scrape_gauge("puppies_like_buffer_depth", "Like intents in Redis not yet in PostgreSQL.")
def _like_buffer_depth() -> float:
    from interactions import like_buffer  # imports this module

    return like_buffer.depth()
