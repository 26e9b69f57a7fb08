import json

from django.core.management.base import BaseCommand, CommandError

from ingestion import selectors


class Command(BaseCommand):
    help = "Posts per hashtag of a source's bot: for pokeapi-pokemon, Pokémon per type."

    def add_arguments(self, parser):
        parser.add_argument("source", help="the source's name or id")
        parser.add_argument("--json", action="store_true", help="print {type: count}")

    def handle(self, *args, source: str, **options):
        found = selectors.source_by_name_or_id(source)
        if found is None:
            raise CommandError(f"No source {source!r}.")
        counts = selectors.type_counts(found)
        if options["json"]:
            self.stdout.write(json.dumps(counts, sort_keys=True))
        else:
            for tag, count in counts.items():
                self.stdout.write(f"{tag}\t{count}")
