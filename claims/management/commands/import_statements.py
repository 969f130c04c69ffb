import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from claims.datasets.reading import ImportRejected, read_import_file
from claims.datasets.statements import import_statements


class Command(BaseCommand):
    help = (
        "Import the statements JSON Lines or CSV that the API exports (statements/export/). Speakers, "
        "topics and sources must exist already; for a whole archive use import_dataset."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the file, or - for standard input.")

    def handle(self, *args, file, **options):
        try:
            text = read_import_file(file)
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        except ImportRejected as rejected:
            raise CommandError("Nothing was imported:\n" + "\n".join(rejected.problems)) from None
        quiet = not sys.stderr.isatty()
        try:
            report = import_statements(
                text=text, progress=lambda rows: tqdm(rows, desc="Importing", unit="statement", disable=quiet)
            )
        except ImportRejected as rejected:
            raise CommandError("Nothing was imported:\n" + "\n".join(rejected.problems[:200])) from None
        for line in report.summary() or ["statements: 0 created, 0 updated, 0 unchanged"]:
            self.stdout.write(line)
