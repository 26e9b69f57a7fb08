"""Celery tasks of ingestion: each a few lines calling a service, safe to run twice.

A run checks `stopping` between pages: a worker told to stop (SIGTERM to its pool
process, as a container stop sends to the whole group; or a warm shutdown of a solo
worker) commits the page in hand, marks the run interrupted and returns; the next run
resumes from the checkpoint.
"""

import contextlib
import signal
import threading

from celery import shared_task
from celery.signals import worker_shutting_down

from ingestion import services

stopping = threading.Event()


@worker_shutting_down.connect
def _stop_runs_on_shutdown(**kwargs) -> None:
    stopping.set()  # solo and thread pools run tasks in the process being shut down


@contextlib.contextmanager
def _sigterm_stops_the_run():
    """While a run goes on, SIGTERM asks it to stop after its page instead of killing the
    process mid-page (billiard's own handler, put back afterwards, exits at once)."""
    try:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    except ValueError:  # not the main thread (thread pool): worker_shutting_down covers it
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@shared_task(acks_late=True)
def run_ingestion(run_id: int) -> str:
    stopping.clear()  # a pool process asked to stop before went on living: a fresh start
    with _sigterm_stops_the_run():
        return services.execute_run(run_id, should_stop=stopping.is_set).status


@shared_task
def start_due_runs() -> list[int]:
    return services.start_due_runs()


@shared_task
def reprocess_dead_letters() -> dict[str, int]:
    return services.reprocess_dead_letters()


@shared_task(acks_late=True)
def retry_dead_letter(letter_id: int) -> bool:
    return services.retry_dead_letter(letter_id)
