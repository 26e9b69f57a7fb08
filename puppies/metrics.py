"""Prometheus /metrics for web and worker processes alike.

Counters and histograms are plain prometheus_client objects defined in each
app's `metrics.py`. With PROMETHEUS_MULTIPROC_DIR set (`make run` sets it),
every gunicorn and Celery process writes to that folder and /metrics adds them
up, so a histogram observed in a worker (fan-out lag) is visible on the web.
Gauges that are cheap to read at scrape time (queue depths, backlogs) are
registered with `@scrape_gauge` and computed on each scrape instead.

Workers in containers of their own (compose, Kubernetes) cannot share the web's folder:
each worker pod has its own PROMETHEUS_MULTIPROC_DIR and, with WORKER_METRICS_PORT set,
serves it on that port (`serve_worker_metrics`). No pushgateway: every figure is either
a counter or histogram of a live process, scraped where it lives, or a gauge read from
PostgreSQL/Redis by the web's /metrics (docs/operations.md, "Metrics").
"""

import logging
import os
import time
from collections.abc import Callable

from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
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
# Celery tasks, observed by the worker processes (signals below, connected by puppies.celery).
TASKS = Counter(
    "puppies_celery_tasks",
    "Celery tasks by task, queue and outcome (success, failure, retry, expired, revoked).",
    ["task", "queue", "outcome"],
)
TASK_DURATION = Histogram(
    "puppies_celery_task_duration_seconds",
    "Run time of Celery tasks by task and queue.",
    ["task", "queue"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
_scrape_gauges: dict[str, tuple[str, str | None, Callable[[], object]]] = {}


def scrape_gauge(name: str, documentation: str, label: str | None = None):
    """Register `fn` as gauge `name`, read on every scrape: `fn() -> float`, or with a
    `label`, `fn() -> {label value: float}`."""

    def register(fn: Callable[[], object]) -> Callable[[], object]:
        _scrape_gauges[name] = (documentation, label, fn)
        return fn

    return register


def read_gauge(name: str):
    """The current value of scrape gauge `name` (a float, or {label: float}); None when
    what it reads is unavailable."""
    try:
        return _scrape_gauges[name][2]()
    except Exception:
        logger.warning("metric %s unavailable", name, exc_info=True)
        return None


class _ScrapeGauges:
    def collect(self):
        for name, (documentation, label, fn) in _scrape_gauges.items():
            try:
                value = fn()
            except Exception:  # a down dependency must not break the whole scrape
                logger.warning("metric %s unavailable", name, exc_info=True)
                continue
            if label is None:
                yield GaugeMetricFamily(name, documentation, value=float(value))
                continue
            family = GaugeMetricFamily(name, documentation, labels=[label])
            for key, each in value.items():
                family.add_metric([key], float(each))
            yield family


# kombu's Redis transport keeps a queue as one list per priority step (0, 3, 6, 9): the
# plain name, then the name + "\x06\x16" + step.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@scrape_gauge(
    "puppies_celery_queue_length", "Tasks waiting in the broker, per queue.", label="queue"
)
def queue_lengths() -> dict[str, float]:
    from django.conf import settings

    from puppies import redis as puppies_redis

    broker = puppies_redis.client(settings.CELERY_BROKER_URL)
    with broker.pipeline(transaction=False) as pipe:
        for queue in settings.WORKER_QUEUES:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    steps = len(_PRIORITY_SUFFIXES)
    return {
        queue: sum(lengths[i * steps : (i + 1) * steps])
        for i, queue in enumerate(settings.WORKER_QUEUES)
    }


@scrape_gauge(
    "puppies_db_replica_lag_seconds",
    "Replay lag of the most lagging streaming replica of the primary (0 without replicas).",
)
def replica_lag() -> float:
    from django.db import connection

    # replay_lag is NULL once a replica has caught up and stays idle: no lag.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(EXTRACT(EPOCH FROM max(replay_lag)), 0) FROM pg_stat_replication"
        )
        return float(cursor.fetchone()[0])


# --- Celery task metrics (worker processes) ------------------------------------------
_started: dict[str, float] = {}


def _task_labels(task) -> tuple[str, str]:
    delivery = getattr(task.request, "delivery_info", None) or {}
    return task.name, delivery.get("routing_key") or "eager"


def task_started(task_id=None, **_) -> None:
    _started[task_id] = time.perf_counter()


def task_finished(task_id=None, task=None, state=None, **_) -> None:
    started = _started.pop(task_id, None)
    if task is None:
        return
    name, queue = _task_labels(task)
    outcome = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}.get(
        state or "", (state or "unknown").lower()
    )
    TASKS.labels(name, queue, outcome).inc()
    if started is not None:
        TASK_DURATION.labels(name, queue).observe(time.perf_counter() - started)


def task_revoked(request=None, expired=False, **_) -> None:
    # A task dropped before it ran (an expired like drain, a revoked id): no postrun signal.
    name = getattr(request, "task_name", None) or getattr(request, "name", None) or "unknown"
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or "unknown"
    TASKS.labels(name, queue, "expired" if expired else "revoked").inc()


# A worker's container or pod is its own host: its metrics port is reached on the pod IP.
_ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # nosec B104


def serve_worker_metrics() -> None:
    """Serve this worker's metrics (its pool processes' too) on WORKER_METRICS_PORT.

    Called in the worker's main process. Only with PROMETHEUS_MULTIPROC_DIR: the pool
    processes count in files there, which the main process adds up at each scrape.
    """
    port = os.environ.get("WORKER_METRICS_PORT")
    if not port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.error("WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: metrics not served")
        return
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(
        int(port),
        addr=os.environ.get("WORKER_METRICS_ADDR", _ALL_INTERFACES),
        registry=registry,
    )  # the pod's port, scraped over the cluster network (a container of its own)
    logger.info("worker metrics on :%s/metrics", port)


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
