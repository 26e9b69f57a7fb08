"""Feed metrics. Fan-out lag is observed in workers (multiprocess-aware via /metrics).

The outbox gauges read feed.selectors on each scrape; feed.apps registers them, so that
this module, which the services import, imports nothing of the feed itself.
"""

from collections.abc import Callable

from prometheus_client import Counter, Histogram

from puppies.metrics import scrape_gauge

FANOUT_LAG = Histogram(
    "puppies_feed_fanout_lag_seconds",
    "From a post's commit (its outbox event) to the last feed entry written.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
FANOUT_ROWS = Counter("puppies_feed_fanout_rows", "Feed entries written by fan-out.")
FEED_DEGRADED = Counter(
    "puppies_feed_degraded", "Feed requests answered with the popular-posts fallback."
)


def register_outbox_gauges(
    *, backlog: Callable[[], float], oldest_age: Callable[[], float]
) -> None:
    scrape_gauge("puppies_feed_outbox_backlog", "Outbox events not yet processed.")(backlog)
    scrape_gauge(
        "puppies_feed_outbox_oldest_age_seconds",
        "Age of the oldest unprocessed outbox event (0 when none): fan-out that has not started.",
    )(oldest_age)
