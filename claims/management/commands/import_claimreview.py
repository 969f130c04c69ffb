import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from claims.imports import ImportRejected, import_claimreviews, read_import_file
from claims.models import Status


class Command(BaseCommand):
    help = (
        "Import ClaimReview JSON-LD (an object, an array, an @graph, or JSON Lines) from any fact-checker. "
        "Every record is checked first; by default nothing is written if any record is invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the file, or - for standard input.")
        parser.add_argument(
            "--status",
            choices=[Status.DRAFT, Status.PUBLISHED],
            default=Status.DRAFT,
            help="Status of the claims, statements and reviews created (default: draft, for curators to check).",
        )
        parser.add_argument(
            "--skip-invalid", action="store_true", help="Import the valid records and report the others."
        )

    def handle(self, *args, file, status, skip_invalid, **options):
        try:
            text = read_import_file(file)
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        except ImportRejected as rejected:
            raise CommandError("Nothing was imported:\n" + "\n".join(rejected.problems)) from None
        quiet = not sys.stderr.isatty()
        try:
            report = import_claimreviews(
                text=text,
                status=status,
                skip_invalid=skip_invalid,
                progress=lambda records: tqdm(records, desc="Importing", unit="review", disable=quiet),
            )
        except ImportRejected as rejected:
            raise CommandError(
                "Nothing was imported; fix these records (or use --skip-invalid):\n"
                + "\n".join(rejected.problems)
            ) from None
        for problem in report.rejected:
            self.stderr.write(f"skipped {problem}")
        for line in report.summary():
            self.stdout.write(line)
        self.stdout.write(f"rejected: {len(report.rejected)}")
        for (reviewer, rating), count in sorted(report.unmapped_ratings.items()):
            self.stdout.write(
                self.style.WARNING(
                    f"unmapped rating {rating!r} of {reviewer} ({count}×) imported as verdict 'other': "
                    "add a rating mapping in the admin, then import again"
                )
            )
