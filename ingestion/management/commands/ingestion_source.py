from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import APIException

from ingestion import services


class Command(BaseCommand):
    help = (
        "Add or update a source (idempotent); --defaults adds the public APIs, disabled, "
        "if they are missing (`make run` does; needs no internet)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("--kind")
        parser.add_argument("--base-url")
        parser.add_argument("--enabled", action="store_true")
        parser.add_argument("--schedule", type=int, default=3600, help="seconds between runs")
        parser.add_argument("--page-size", type=int, default=100)
        parser.add_argument("--defaults", action="store_true")

    def handle(self, *args, **options):
        if options["defaults"]:
            added = services.seed_default_sources()
            self.stdout.write(f"default sources added: {', '.join(added) or 'none (all there)'}")
            return
        if not (options["name"] and options["kind"] and options["base_url"]):
            raise CommandError("Give NAME, --kind and --base-url (or --defaults).")
        try:
            source, created = services.save_source(
                name=options["name"],
                kind=options["kind"],
                base_url=options["base_url"],
                enabled=options["enabled"],
                schedule=options["schedule"],
                page_size=options["page_size"],
            )
        except APIException as exc:
            raise CommandError(str(exc.detail)) from None
        self.stdout.write(
            f"source {source.pk} {source.name} {'added' if created else 'updated'} "
            f"(bot user {source.bot_id})"
        )
