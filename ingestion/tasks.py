"""Celery tasks of ingestion: each a few lines calling a service, safe to run twice.

A run checks `stopping` between pages: a worker told to stop (SIGTERM, warm shutdown)
commits or rolls back the page in hand, marks the run interrupted and returns; the next
run resumes from the checkpoint.
"""

import signal
import threading

from celery import shared_task
from celery.signals import worker_process_init, worker_shutting_down

from ingestion import services

stopping = threading.Event()
_running = threading.Event()


def _on_sigterm(signum, frame) -> None:
    if not _running.is_set():  # idle: stop at once, as without this handler
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    stopping.set()


@worker_process_init.connect
def _stop_runs_on_sigterm(**kwargs) -> None:
    # A prefork child: a SIGTERM to it (a stopped container's process group) ends the run
    # between two pages instead of in the middle of one.
    signal.signal(signal.SIGTERM, _on_sigterm)


@worker_shutting_down.connect
def _stop_runs_on_shutdown(**kwargs) -> None:
    stopping.set()  # solo and thread pools run tasks in the process being shut down


@shared_task(acks_late=True)
def run_ingestion(run_id: int) -> str:
    _running.set()
    try:
        return services.execute_run(run_id, should_stop=stopping.is_set).status
    finally:
        _running.clear()


@shared_task
def start_due_runs() -> list[int]:
    return services.start_due_runs()


@shared_task
def reprocess_dead_letters() -> dict[str, int]:
    return services.reprocess_dead_letters()


@shared_task(acks_late=True)
def retry_dead_letter(letter_id: int) -> bool:
    return services.retry_dead_letter(letter_id)
