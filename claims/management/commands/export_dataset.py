import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict
from tqdm import tqdm

from claims.datasets.package import export_package
from claims.filters import StatementFilterSet
from claims.models import Statement, StatusQuerySet


class Command(BaseCommand):
    help = (
        "Write the archive (or the statements selected by --filter, with everything they refer to) "
        "as a Frictionless Data Package: datapackage.json, one CSV per table, claimreview.jsonl."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A statements filter of the API (speaker=…, topic=…, said_after=…, status=…); repeatable.",
        )

    def handle(self, *args, directory, filter, **options):
        statements, filters = None, {}
        if filter:
            data = QueryDict(mutable=True)
            for item in filter:
                name, sep, value = item.partition("=")
                if not sep:
                    raise CommandError(f"--filter takes NAME=VALUE, not {item!r}")
                data.appendlist(name, value)
                filters.setdefault(name, []).append(value)
            filterset = StatementFilterSet(data=data, queryset=Statement.objects.all())
            unknown = set(data) - set(filterset.filters)
            if unknown:
                raise CommandError(f"Unknown filter: {', '.join(sorted(unknown))}")
            if not filterset.is_valid():
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.errors.items()))
            statements = filterset.qs.order_by().values("pk")
        quiet = not sys.stderr.isatty()
        # A package of public statements only (--filter status=published, or retracted too) is
        # a public package: it holds no draft claim or review either.
        statuses = filters.get("status", [])
        public_only = bool(statuses) and set(statuses) <= set(StatusQuerySet.PUBLIC_STATUSES)
        counts = export_package(
            Path(directory),
            statements=statements,
            filters=filters,
            public_only=public_only,
            progress=lambda name: tqdm(desc=name, unit=" rows", disable=quiet),
        )
        for table, n in counts.items():
            self.stdout.write(f"{table}: {n}")
