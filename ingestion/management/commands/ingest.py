"""Run an import of one source now, in this process, with a progress bar.

    manage.py ingest SOURCE          # SOURCE: its name or id
Ctrl-C or SIGTERM stops after the page in hand; the next run resumes from there.
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingestion import selectors, services


class Command(BaseCommand):
    help = "Import one source now, with a progress bar (Ctrl-C stops cleanly; rerun resumes)."

    def add_arguments(self, parser):
        parser.add_argument("source", help="the source's name or id")

    def handle(self, *args, source: str, **options):
        found = selectors.source_by_name_or_id(source)
        if found is None:
            raise CommandError(f"No source {source!r}.")
        run, started = services.start_run(found, trigger="command", dispatch=False)
        if not started:
            raise CommandError(f"Run {run.pk} of {found.name} is already {run.status}.")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        with tqdm(desc=found.name, unit=" records", disable=options["verbosity"] == 0) as bar:
            run = services.execute_run(run.pk, should_stop=stop.is_set, on_progress=bar.update)
        self.stdout.write(
            f"run {run.pk} {run.status}: fetched {run.fetched}, created {run.created}, "
            f"updated {run.updated}, failed {run.failed}" + (f" ({run.error})" if run.error else "")
        )
