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


def _connect_metrics() -> None:
    from puppies import metrics

    signals.task_prerun.connect(metrics.task_started, weak=False)
    signals.task_postrun.connect(metrics.task_finished, weak=False)
    signals.task_revoked.connect(metrics.task_revoked, weak=False)
    signals.worker_init.connect(lambda **_: metrics.serve_worker_metrics(), weak=False)


_connect_metrics()
