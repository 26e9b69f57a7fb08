import logging.config
import os
import threading

from celery import Celery, bootsteps, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "puppies.settings")

app = Celery("puppies")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class OutboxRelay(bootsteps.StartStopStep):
    """Every worker runs the feed's outbox relay in a thread (one per database is active)."""

    def start(self, worker) -> None:
        from feed import relay

        self.stop_relay = threading.Event()
        threading.Thread(
            target=relay.run, args=(self.stop_relay,), name="outbox-relay", daemon=True
        ).start()

    def stop(self, worker) -> None:
        self.stop_relay.set()


app.steps["worker"].add(OutboxRelay)


@app.task(name="puppies.sample_ops", ignore_result=True)
def sample_ops() -> None:
    from puppies import ops

    ops.sample()


def _worker_started(**_) -> None:
    from puppies import metrics, tracing

    tracing.setup("puppies-worker")  # in the main process, before the pool forks
    metrics.serve_worker_metrics()


def _tracing_setup(service: str) -> None:
    from puppies import tracing

    tracing.setup(service)


def _django_logging(**_) -> None:
    # Workers log like the web (JSON lines with request and trace ids): Celery leaves the
    # logging alone when this signal has a receiver.
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _connect_signals() -> None:
    from puppies import metrics

    signals.task_prerun.connect(metrics.task_started, weak=False)
    signals.task_postrun.connect(metrics.task_finished, weak=False)
    signals.task_revoked.connect(metrics.task_revoked, weak=False)
    signals.worker_init.connect(_worker_started, weak=False)
    signals.beat_init.connect(lambda **_: _tracing_setup("puppies-beat"), weak=False)
    signals.setup_logging.connect(_django_logging, weak=False)


_connect_signals()
