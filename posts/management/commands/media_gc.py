"""Find and remove stored files that no upload row accounts for.

They are what a failure between storing a file and committing its row leaves behind
(a check whose transaction failed, a delete that failed after the row moved on). Files
younger than MEDIA_GC_MIN_AGE_S are left alone: their rows may be about to commit.
"""

from django.core.management.base import BaseCommand
from tqdm import tqdm

from posts.media import files, services


class Command(BaseCommand):
    help = "Remove orphaned media files (stored, but no database row refers to them)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="List the orphans; remove nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        known = services.known_names()
        orphans = []
        with tqdm(desc="files checked", unit=" files", file=self.stderr) as progress:
            for prefix in files.ALL_PREFIXES:
                for name in files.walk(prefix):
                    if services.is_orphan(name, known=known):
                        orphans.append(name)
                    progress.update()
        for name in orphans:
            self.stdout.write(f"{'would remove' if dry_run else 'removing'} {name}")
        if not dry_run:
            files.delete(tqdm(orphans, desc="removing", unit=" files", file=self.stderr))
        verb = "would be removed" if dry_run else "removed"
        self.stdout.write(f"{len(orphans)} orphaned files {verb}.")
