from django.core.management.base import BaseCommand

from ingestion import services


class Command(BaseCommand):
    help = "Retry the due dead letters now (--all: every open one not given up)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="not only the due ones")
        parser.add_argument("--limit", type=int, default=500)

    def handle(self, *args, **options):
        counts = services.reprocess_dead_letters(options["limit"], due_only=not options["all"])
        self.stdout.write(f"resolved {counts['resolved']}, still failing {counts['failed']}")
