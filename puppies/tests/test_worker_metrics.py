"""Workers' and queues' metrics: scrapeable while workers run, with no pushgateway."""

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from puppies.celery import app
from puppies.tests.support import WorkerProcess, wait_for, worker_env
from users.tasks import flush_activity


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_queue_lengths_are_read_from_the_broker_at_each_scrape(monitor):
    for _ in range(3):
        app.send_task("feed.tasks.fan_out_post", args=(0,), queue="fanout")
    app.send_task("users.tasks.flush_activity", queue="default", priority=9)

    scraped = samples(monitor.get("/metrics").content.decode())

    assert scraped[("puppies_celery_queue_length", (("queue", "fanout"),))] == 3
    assert scraped[("puppies_celery_queue_length", (("queue", "default"),))] == 1
    assert scraped[("puppies_celery_queue_length", (("queue", "likes"),))] == 0
    assert scraped[("puppies_db_replica_lag_seconds", ())] == 0


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_task_outcomes_and_durations_are_scrapeable_from_a_running_worker(
    tmp_path, monitor, monkeypatch
):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    port = free_port()
    env = worker_env(
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        WORKER_METRICS_PORT=str(port),
        WORKER_METRICS_ADDR="127.0.0.1",
    )
    worker = WorkerProcess(tmp_path, env, queues="default")
    worker.start()
    try:
        flush_activity.apply_async()
        flush_activity.apply_async()
        key = (
            "puppies_celery_tasks_total",
            (("outcome", "success"), ("queue", "default"), ("task", flush_activity.name)),
        )

        def scrape_worker():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return samples(r.read().decode())

        # compose / Kubernetes: the worker's own port.
        scraped = wait_for(lambda: (s := scrape_worker()).get(key) == 2 and s)
        duration = ("puppies_celery_task_duration_seconds_count", key[1][1:])
        assert scraped[duration] == 2
    finally:
        worker.stop()

    # `make run`: web and worker share one folder, and the web's /metrics adds it up.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    assert samples(monitor.get("/metrics").content.decode())[key] == 2
