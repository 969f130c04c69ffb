"""Measure the dataset exports and the data package import on the current database.

Fill the database with ``generate_data`` first. Exports are measured as the
API streams them (the same functions its views return, consumed to the last
byte in this process), each beside the plain ``COPY ... TO STDOUT`` of the
same rows through the same streaming path:

- statements CSV and JSON Lines: beside a COPY of the statements' own columns;
- ClaimReview JSON Lines: beside a COPY of the review rows alone, and of the
  flat join of every row a ClaimReview is made from (review, claim, reviewer,
  statement, speakers, appearances, sources, publishers).

The import exports a data package of the statements said in one year (with
everything they need: speakers, sources, outlets, what those refer to, every
topic) with ``export_dataset``, timed, and imports it with ``import_dataset``
into a new, empty database beside this one, timing the whole command (--repeat times, each into a
new database; the best counts, as for the exports). Results are printed and, with --output,
written as Markdown.
"""

import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import django
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from claims import models
from claims.datasets import claimreview, streaming
from claims.datasets import statements as statement_formats

TARGETS = {"statements CSV": 1.5, "statements JSON Lines": 3.5, "ClaimReview JSON Lines": 6.0}
IMPORT_TARGET = 5000  # statements per second
# The baseline for the statements exports: a COPY of the statements' own columns.
STATEMENT_OWN_COLUMNS = ", ".join(
    f"s.{c}" for c in ("public_id", *models.STATEMENT_CONTENT_FIELDS, "created_at", "updated_at")
)


def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drain(chunks) -> tuple[float, int]:
    start, size = time.perf_counter(), 0
    for chunk in chunks:
        size += len(chunk)
    return time.perf_counter() - start, size


class Command(BaseCommand):
    help = "Benchmark the streaming exports against plain COPY, and the data package import."

    def add_arguments(self, parser):
        parser.add_argument(
            "--repeat", type=int, default=3, help="Runs of each export and of the import (the best counts)."
        )
        parser.add_argument("--year", type=int, help="Statements said in this year go into the import test.")
        parser.add_argument("--skip-import", action="store_true")
        parser.add_argument("--output", help="Write the results as Markdown to this file.")

    def handle(self, *args, repeat, year, skip_import, output, **options):
        statements = models.Statement.objects.public()
        total = models.Statement.objects.count()
        if not total:
            raise CommandError("No statements: run generate_data first.")
        self.stdout.write(f"{total:,} statements in the database")
        rows, memory = [], {"before": rss_mb()}
        ids_sql, params = streaming.selected_ids(statements)
        plain = (
            f"COPY (SELECT {STATEMENT_OWN_COLUMNS} FROM claims_statement s WHERE s.id IN ({ids_sql}) ORDER BY s.id) "
            "TO STDOUT WITH (FORMAT csv, HEADER)"
        )
        count = statements.count()
        for label, export in (
            ("statements CSV", lambda: statement_formats.statements_csv(statements)),
            ("statements JSON Lines", lambda: statement_formats.statements_jsonl(statements)),
        ):
            rows.append(
                self.compare(
                    label, export, {"COPY of the statements' own columns": plain}, params, count, repeat
                )
            )

        reviews = models.Review.objects.public().filter(claim__in=models.Claim.objects.public())
        ids_sql, params = streaming.selected_ids(reviews)
        review_rows = f"COPY (SELECT r.* FROM claims_review r WHERE r.id IN ({ids_sql}) ORDER BY r.id) TO STDOUT WITH (FORMAT csv)"
        joined = f"""COPY (
            SELECT r.public_id, r.rating_text, r.rating_value, r.best_rating, r.worst_rating, r.url, r.published_on,
                   r.summary, c.text, o.name, o.homepage, st.said_on, st.said_on_precision, sp.name, sp.kind,
                   sp.wikidata_qid, ss.role, a.is_first, so.url, so.title, so.kind, so.published_on, po.name
            FROM claims_review r JOIN claims_claim c ON c.id = r.claim_id JOIN claims_outlet o ON o.id = r.reviewer_id
            LEFT JOIN claims_statement st ON st.id = c.statement_id
            LEFT JOIN claims_statementspeaker ss ON ss.statement_id = st.id
            LEFT JOIN claims_speaker sp ON sp.id = ss.speaker_id
            LEFT JOIN claims_appearance a ON a.statement_id = st.id
            LEFT JOIN claims_source so ON so.id = a.source_id LEFT JOIN claims_outlet po ON po.id = so.outlet_id
            WHERE r.id IN ({ids_sql}) ORDER BY r.id) TO STDOUT WITH (FORMAT csv)"""
        rows.append(
            self.compare(
                "ClaimReview JSON Lines",
                lambda: claimreview.claimreviews_jsonl(reviews),
                {
                    "COPY of the joined rows it is built from": joined,
                    "COPY of the review rows alone": review_rows,
                },
                params,
                reviews.count(),
                repeat,
            )
        )
        memory["after"] = rss_mb()
        self.stdout.write(
            f"peak memory of this process: {memory['before']:.0f} MB before the exports, {memory['after']:.0f} MB after"
        )
        imported = None if skip_import else self.measure_import(year, repeat)
        if output:
            Path(output).write_text(self.markdown(total, rows, memory, imported), encoding="utf-8")
            self.stdout.write(f"Written to {output}")

    def compare(self, label, export, baselines, params, count, repeat):
        ours = min(drain(export()) for _ in range(repeat))
        measured = []
        for name, sql in baselines.items():
            base = min(drain(streaming.copy_to_stdout(sql, params)) for _ in range(repeat))
            measured.append((name, base[0], ours[0] / base[0]))
        self.stdout.write(
            f"{label}: {count:,} records in {ours[0]:.2f} s ({ours[1] / 1e6:.0f} MB, {count / ours[0]:,.0f}/s); "
            + "; ".join(f"{ratio:.2f}x {name} ({seconds:.2f} s)" for name, seconds, ratio in measured)
        )
        return {"label": label, "count": count, "seconds": ours[0], "bytes": ours[1], "baselines": measured}

    def measure_import(self, year, repeat=1):
        db = settings.DATABASES["default"]
        if year is None:
            last = (
                models.Statement.objects.exclude(said_on=None)
                .order_by("-said_on")
                .values_list("said_on", flat=True)
                .first()
            )
            year = last.year - 1
        scratch = f"{db['NAME']}_bench_import"
        work = Path(tempfile.mkdtemp(prefix="bench-datasets-"))
        try:
            package = work / "package"
            started = time.perf_counter()
            call_command(
                "export_dataset",
                str(package),
                "--filter",
                f"said_after={year}-01-01",
                "--filter",
                f"said_before={year}-12-31",
                stdout=io.StringIO(),
            )
            exported = time.perf_counter() - started
            counts = json.loads((package / "datapackage.json").read_text(encoding="utf-8"))["claims:counts"]
            env = {**os.environ, "DATABASE_URL": self.url(scratch)}
            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
            runs = []
            for _ in range(repeat):  # each into a new empty database
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
                    cursor.execute(f'CREATE DATABASE "{scratch}"')
                subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True)
                started = time.perf_counter()
                subprocess.run(
                    [*manage, "import_dataset", str(package)], env=env, check=True, stdout=subprocess.DEVNULL
                )
                runs.append(time.perf_counter() - started)
            seconds = min(runs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        result = {"year": year, "counts": counts, "seconds": seconds, "runs": runs, "exported": exported}
        rate = counts["statements"] / seconds
        self.stdout.write(f"export_dataset of that package: {exported:.1f} s")
        self.stdout.write(
            f"import: {counts['statements']:,} statements ({sum(counts.values()):,} rows in all) in {seconds:.1f} s, "
            f"{rate:,.0f} statements/s, {sum(counts.values()) / seconds:,.0f} rows/s "
            f"(best of {len(runs)} {'run' if len(runs) == 1 else 'runs'}: {', '.join(f'{run:.1f}' for run in runs)} s)"
        )
        return result

    @staticmethod
    def url(name):
        """A DATABASE_URL for another database on the server this connection uses (embedded or not)."""
        params = connection.get_connection_params()
        host = quote(str(params.get("host") or "localhost"), safe="")
        password = f":{quote(params['password'], safe='')}" if params.get("password") else ""
        return f"postgres://{quote(params.get('user') or 'postgres')}{password}@{host}:{params.get('port') or 5432}/{name}"

    def markdown(self, total, rows, memory, imported):
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
        lines = [
            "# Dataset benchmark",
            "",
            f"Latest run of `python manage.py bench_datasets` on {time.strftime('%d %B %Y')}: "
            f"{total:,} generated statements (`generate_data`), PostgreSQL {server}, Django {django.get_version()}, "
            f"Python {platform.python_version()}, {platform.machine()} with {os.cpu_count()} cores.",
            "",
            "Each export is consumed to the last byte in-process, through the functions the API's export "
            "views stream (anonymous visibility: published and retracted records); the best of the runs counts. "
            "Each baseline is a plain `COPY ... TO STDOUT` of the same rows through the same streaming path.",
            "",
            "| export | records | seconds | MB | records/s | baseline | baseline s | ratio | target | met |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
        ]
        for row in rows:
            for i, (name, seconds, ratio) in enumerate(row["baselines"]):
                target = TARGETS[row["label"]] if i == 0 else None
                lines.append(
                    f"| {row['label'] if i == 0 else ''} | {row['count']:,} | {row['seconds']:.2f} | "
                    f"{row['bytes'] / 1e6:.0f} | {row['count'] / row['seconds']:,.0f} | {name} | {seconds:.2f} | "
                    f"{ratio:.2f}× | {f'{target}×' if target else ''} | "
                    f"{('yes' if ratio <= target else 'no') if target else ''} |"
                )
        growth = memory["after"] - memory["before"]
        lines += [
            "",
            f"Memory: the process's peak resident size was {memory['before']:.0f} MB before the exports and "
            f"{memory['after']:.0f} MB after them (growth {growth:.0f} MB; target < 50 MB).",
        ]
        if imported:
            counts, seconds = imported["counts"], imported["seconds"]
            rate = counts["statements"] / seconds
            lines += [
                "",
                "## Import",
                "",
                f"`import_dataset` of a data package with the statements said in {imported['year']} and everything "
                "they need (their speakers, sources and outlets, what those refer to, and every topic), into a new empty database, "
                "timed as a whole command (start-up, validation of every file, writing, documents, history, commit):",
                "",
                "| table | rows |",
                "|---|---:|",
                *[f"| {name} | {n:,} |" for name, n in sorted(counts.items())],
                f"| **all** | **{sum(counts.values()):,}** |",
                "",
                f"{seconds:.1f} s: **{rate:,.0f} statements/s** (target {IMPORT_TARGET:,}: "
                f"{'met' if rate >= IMPORT_TARGET else 'not met'}), {sum(counts.values()) / seconds:,.0f} rows/s; "
                f"the best of {len(imported['runs'])} {'run' if len(imported['runs']) == 1 else 'runs'}, each into a new database "
                f"({', '.join(f'{run:.1f}' for run in imported['runs'])} s).",
                "",
                f"Writing the package with `export_dataset` (the same filter, every file and `claimreview.jsonl`) "
                f"took {imported['exported']:.1f} s (no target).",
            ]
        return "\n".join(lines) + "\n"
