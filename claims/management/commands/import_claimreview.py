import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from claims.datasets.claimreview import import_claimreviews
from claims.datasets.reading import ImportRejected, read_import_file
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
        parser.add_argument(
            "--update-existing",
            action="store_true",
            help="Apply the file's values to reviews already in the archive (same URL and reviewer); "
            "without it they are kept as they are and listed.",
        )
        parser.add_argument(
            "--user",
            help="The curator doing the import, recorded as the author of every change in the history "
            "(required with --update-existing).",
        )

    def handle(self, *args, file, status, skip_invalid, update_existing, user, **options):
        importer = None
        if user:
            importer = get_user_model().objects.filter(username=user).first()
            if importer is None:
                raise CommandError(f"No user {user!r}.")
        elif update_existing:
            raise CommandError("--update-existing changes curated records: say who does it with --user.")
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
                update_existing=update_existing,
                user=importer,
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
        for line in report.kept:
            self.stdout.write(self.style.WARNING(f"kept {line}"))
        for line in report.changed_public:
            self.stdout.write(self.style.WARNING(f"changed {line}"))
        self.stdout.write(f"rejected: {len(report.rejected)}")
        for (reviewer, rating), count in sorted(report.unmapped_ratings.items()):
            self.stdout.write(
                self.style.WARNING(
                    f"unmapped rating {rating!r} of {reviewer} ({count}×) imported as verdict 'other': "
                    "add a rating mapping in the admin, then import again"
                )
            )
