"""Prometheus /metrics for web and worker processes alike.

Counters and histograms are plain prometheus_client objects defined in each
app's `metrics.py`. With PROMETHEUS_MULTIPROC_DIR set (`make run` sets it),
every gunicorn and Celery process writes to that folder and /metrics adds them
up, so a histogram observed in a worker (fan-out lag) is visible on the web.
Gauges that are cheap to read at scrape time (queue depths, backlogs) are
registered with `@scrape_gauge` and computed on each scrape instead.
"""

import logging
import os
from collections.abc import Callable

from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

# Answers given in a degraded mode (docs/operations.md): `read_only` is a request refused
# with 503 because PostgreSQL is unreachable (cached reads still answer 200).
DEGRADED_RESPONSES = Counter(
    "puppies_degraded_responses", "Requests answered in a degraded mode.", ["mode"]
)
_scrape_gauges: dict[str, tuple[str, Callable[[], float]]] = {}


def scrape_gauge(name: str, documentation: str):
    """Register `fn() -> float` as gauge `name`, read on every scrape."""

    def register(fn: Callable[[], float]) -> Callable[[], float]:
        _scrape_gauges[name] = (documentation, fn)
        return fn

    return register


class _ScrapeGauges:
    def collect(self):
        for name, (documentation, fn) in _scrape_gauges.items():
            try:
                value = float(fn())
            except Exception:  # a down dependency must not break the whole scrape
                logger.warning("metric %s unavailable", name, exc_info=True)
                continue
            yield GaugeMetricFamily(name, documentation, value=value)


def metrics_view(request):
    # Imported here: health imports the Celery app, and errors counts degraded answers here.
    from puppies.errors import error_body
    from puppies.health import is_monitor

    if not is_monitor(request):
        return JsonResponse(
            error_body(403, "Metrics are for the monitoring system only."), status=403
        )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(_ScrapeGauges())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
