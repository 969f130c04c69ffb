import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from claims.datasets.package import import_package
from claims.datasets.reading import ImportRejected


class Command(BaseCommand):
    help = (
        "Read a data package written by export_dataset. Every file is checked first; nothing is "
        "written unless all of it is valid. Records are matched by public id: importing twice changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")

    def handle(self, *args, directory, **options):
        quiet = not sys.stderr.isatty()
        try:
            report = import_package(
                Path(directory),
                progress=lambda name, size: tqdm(
                    total=size, desc=name, unit="B", unit_scale=True, disable=quiet
                ),
                step=None if quiet else lambda message: self.stderr.write(f"{message}…"),
            )
        except ImportRejected as rejected:
            raise CommandError("Nothing was imported:\n" + "\n".join(rejected.problems[:200])) from None
        for line in report.summary():
            self.stdout.write(line)
