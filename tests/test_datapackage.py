"""export_dataset / import_dataset: a valid Data Package, read back losslessly."""

import csv
import io
import json
import re

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from claims import documents
from claims.models import (
    EXPORT_FIELDS,
    Appearance,
    Claim,
    Outlet,
    Review,
    Source,
    Speaker,
    Statement,
    Status,
    Topic,
)
from tests.factories import FactCheckerFactory, ReviewFactory, SourceFactory

pytestmark = pytest.mark.django_db
TABLES = ["topics", "speakers", "affiliations", "outlets", "sources", "statements", "statement_speakers",
          "appearances", "statement_links", "claims", "reviews"]  # fmt: skip


@pytest.fixture
def archive(db):
    call_command("loaddata", "seed", verbosity=0)
    claim = Claim.objects.get(text__contains="ballistic missiles")
    review = ReviewFactory(
        claim=claim,
        reviewer=FactCheckerFactory(name="Example Check", slug="example-check"),
        rating_text="Mostly True",
        verdict="mostly_true",
        rating_value="4.5",
        best_rating="5",
        worst_rating="0",
        status=Status.PUBLISHED,
    )
    review.evidence.add(Source.objects.get(kind="video"))
    # A source citing one created after it.
    early = SourceFactory(url="https://early.example/")
    early.cites = SourceFactory(url="https://later.example/")
    early.save()


def export(path, *args):
    call_command("export_dataset", str(path), *args, stdout=io.StringIO())
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def wipe():
    tables = [
        m._meta.db_table
        for m in apps.get_app_config("claims").get_models()
        if m._meta.db_table.startswith("claims_")
    ]
    with connection.cursor() as cursor:
        # Deferred foreign-key checks from the set-up must run before a TRUNCATE.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


class Bars:
    """Progress bars for export_package (``progress(name)``) and import_package
    (``progress(name, size)``): each one made is kept, with the rows or bytes it was told."""

    def __init__(self, on_new=None):
        self.told: dict[str, int] = {}
        self.on_new = on_new or (lambda name: None)

    def __call__(self, name, size=None):
        self.told[name] = 0
        self.on_new(name)
        return self.Bar(self, name)

    class Bar:
        def __init__(self, bars, name):
            self.bars, self.name = bars, name

        def update(self, n):
            self.bars.told[self.name] += n

        def close(self):
            pass


def test_package_has_every_table_and_passes_frictionless(archive, tmp_path):
    from frictionless import validate

    files = export(tmp_path / "pkg")
    assert set(files) == {f"{t}.csv" for t in TABLES} | {"datapackage.json", "claimreview.jsonl"}
    package = json.loads(files["datapackage.json"])
    assert package["licenses"] == [{"name": "CC-BY-4.0"}]
    assert package["claims:counts"]["statements"] == 9 and package["claims:counts"]["reviews"] == 1
    reviews = next(r for r in package["resources"] if r["name"] == "reviews")
    assert {"fields": "claim", "reference": {"resource": "claims", "fields": "id"}} in reviews["schema"][
        "foreignKeys"
    ]
    verdict = next(f for f in reviews["schema"]["fields"] if f["name"] == "verdict")
    assert "mostly_true" in verdict["constraints"]["enum"]
    report = validate(str(tmp_path / "pkg" / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    lines = files["claimreview.jsonl"].decode().splitlines()
    assert json.loads(lines[0])["reviewRating"]["ratingValue"] == 4.5


def test_round_trip_is_byte_for_byte(archive, tmp_path):
    first = export(tmp_path / "first")
    wipe()
    assert not Statement.objects.exists()
    out = io.StringIO()
    call_command("import_dataset", str(tmp_path / "first"), stdout=out)
    assert "statements: 9 created" in out.getvalue()
    second = export(tmp_path / "second")
    assert set(first) == set(second)
    for name in first:
        if name != "datapackage.json":
            assert first[name] == second[name], name
    one, two = json.loads(first["datapackage.json"]), json.loads(second["datapackage.json"])
    one.pop("created"), two.pop("created")
    assert one == two
    # The facts survived, not only the bytes.
    mesmari = Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")
    assert {(r.speaker.slug, r.role) for r in mesmari.speaker_roles.all()} == {
        ("ahmad-al-mesmari", "speaker"),
        ("khalifa-haftar", "on_behalf_of"),
    }
    assert Statement.objects.get(speaker_roles__speaker__slug="ali-khamenei").said_on_precision == "month"
    assert Source.objects.get(url="https://early.example/").cites.url == "https://later.example/"
    assert Review.objects.get().evidence.get().kind == "video"
    # Imported records are searchable and have a first history entry.
    assert Statement.objects.filter(search_vector__isnull=True).count() == 0
    assert mesmari.history.count() == 1


def test_importing_twice_changes_nothing(archive, tmp_path):
    export(tmp_path / "pkg")
    out = io.StringIO()
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=out)
    assert "created" in out.getvalue()
    assert all(" 0 created, 0 updated" in line for line in out.getvalue().splitlines())


def test_history_entries_for_what_the_import_wrote_only(archive, tmp_path):
    """Each created record gets one "+" entry; records the import did not write get none,
    even those without history (a bulk load's): the import does not read whole tables for them."""
    export(tmp_path / "pkg", "--filter", "speaker=ahmad-al-mesmari")
    wipe()
    # Already in the archive, saved without history (as generate_data and bulk loads save rows).
    Topic.objects.bulk_create([Topic(slug="unrelated", name="Unrelated")])
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert not Topic.history.filter(slug="unrelated").exists()
    statement = Statement.objects.get()
    entry = statement.history.get()
    assert (entry.history_type, entry.history_change_reason) == ("+", "Imported from a data package")
    for model in (Speaker, Source, Appearance, Topic):
        for record in model.objects.exclude(**({"slug": "unrelated"} if model is Topic else {})):
            assert [h.history_type for h in record.history.all()] == ["+"], record


def test_filtered_export_keeps_what_the_statements_need(archive, tmp_path):
    files = export(tmp_path / "pkg", "--filter", "speaker=ahmad-al-mesmari")
    statements = files["statements.csv"].decode().splitlines()
    assert len(statements) == 2  # header and al-Mesmari's statement
    assert json.loads(files["datapackage.json"])["claims:filters"] == {"speaker": ["ahmad-al-mesmari"]}
    # Only the speakers, sources and outlets it needs, and whole: it imports into an empty archive.
    statement = Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")
    speakers = {r.speaker.slug for r in statement.speaker_roles.all()}
    for speaker in list(speakers):
        speakers |= {a.organisation.slug for a in Speaker.objects.get(slug=speaker).affiliations.all()}
    exported = {row.split(",")[1] for row in files["speakers.csv"].decode().splitlines()[1:]}
    assert exported == speakers
    sources = {str(a.source.public_id) for a in statement.appearances.all()}
    cited = {str(s.cites.public_id) for s in Source.objects.filter(public_id__in=sources) if s.cites}
    exported = {row.split(",")[0] for row in files["sources.csv"].decode().splitlines()[1:]}
    assert exported == sources | cited and Source.objects.count() > len(exported)
    roles = statement.speaker_roles.count()
    wipe()
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert Statement.objects.get().speaker_roles.count() == roles
    with pytest.raises(CommandError, match="said_after"):
        export(tmp_path / "bad", "--filter", "said_after=2020-02-30")
    with pytest.raises(CommandError, match="Unknown filter"):
        export(tmp_path / "bad", "--filter", "colour=red")


@pytest.mark.parametrize(
    ("table", "mangle", "message"),
    [
        (
            "statements.csv",
            lambda t: t.replace(",published,", ",hidden,", 1),
            "statements.csv line 2: status 'hidden'",
        ),
        ("statements.csv", lambda t: t.replace("2020-01-08", "2020-02-30", 1), "is not a valid date"),
        (
            "appearances.csv",
            lambda t: t.replace(",true,", ",yes,", 1),
            "is_first 'yes' is not a valid boolean",
        ),
        ("speakers.csv", lambda t: t.splitlines()[0] + "\n", None),
        ("reviews.csv", lambda t: t.replace("mostly_true", "pants"), "verdict 'pants'"),
        ("statements.csv", lambda t: "wrong,header\n", "the header should be"),
    ],
)
def test_bad_packages_are_rejected_with_line_numbers_and_nothing_written(
    archive, tmp_path, table, mangle, message
):
    export(tmp_path / "pkg")
    wipe()
    path = tmp_path / "pkg" / table
    path.write_text(mangle(path.read_text()))
    if message is None:  # speakers removed: what refers to them cannot be resolved
        message = "refers to nothing in speakers.csv"
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert message in str(error.value)
    assert not Statement.objects.exists() and not Appearance.objects.exists()


def test_references_to_statements_waiting_to_be_inserted_are_checked(archive, tmp_path, monkeypatch):
    """Loaded in bulk, statements are inserted last: the other files' references to them are
    resolved, and checked, against the rows waiting; nothing is written when one is unknown."""
    from claims.datasets.package import load as datapackage

    monkeypatch.setattr(datapackage, "BULK_ROWS", 1)
    export(tmp_path / "pkg")
    edit(
        tmp_path / "pkg",
        "appearances",
        set_cells(lambda rows: 0, statement="0f0f0f0f-0000-4000-8000-00000000000a"),
    )
    wipe()
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert (
        "appearances.csv line 2: statement 0f0f0f0f-0000-4000-8000-00000000000a refers to nothing in statements.csv"
        in str(error.value)
    )
    assert not Statement.objects.exists() and not Appearance.objects.exists()


def stored_documents():
    columns = ", ".join(["search_vector", *EXPORT_FIELDS, "public_document"])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT public_id, {columns} FROM claims_statement ORDER BY public_id")
        statements = cursor.fetchall()
        cursor.execute("SELECT public_id, search_vector FROM claims_source ORDER BY public_id")
        sources = cursor.fetchall()
        cursor.execute(
            "SELECT public_id, search_vector, normalized_text FROM claims_claim ORDER BY public_id"
        )
        return statements + sources + cursor.fetchall()


@pytest.mark.parametrize("bulk", [False, True], ids=["row-sized", "bulk"])
def test_imported_statements_are_indexed_as_the_triggers_index_them(archive, tmp_path, monkeypatch, bulk):
    """The import builds documents and export lists once, set-based (statements', and the
    sources' and claims' for their INSERT): the same as the triggers build. Loaded in bulk,
    the statements are inserted last, with their documents, from a table of their rows."""
    from django.test.utils import CaptureQueriesContext

    from claims.datasets.package import load as datapackage

    if bulk:
        monkeypatch.setattr(datapackage, "BULK_ROWS", 1)
    export(tmp_path / "pkg")
    wipe()
    with CaptureQueriesContext(connection) as ctx:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    sql = [" ".join(q["sql"].split()) for q in ctx.captured_queries]
    written = [text for text in sql if "INTO claims_statement (" in text]
    updated = [
        text for text in sql if text.startswith("WITH responses") and "UPDATE claims_statement" in text
    ]
    # Loaded in bulk: inserted once, with the documents, from the rows waiting; else inserted
    # from the file, then given their documents by one UPDATE.
    assert len(written) == 1 and ("_statements_rows s" in written[0]) == bulk
    assert len(updated) == (0 if bulk else 1)
    imported = stored_documents()
    assert all(row[1] for row in imported)  # every statement has a document
    public = set(Statement.objects.public().values_list("public_id", flat=True))
    assert public and all(row[-1] for row in imported if row[0] in public)
    call_command("rebuild_search", stdout=io.StringIO())  # recomputed by the triggers, row by row
    assert stored_documents() == imported
    # The deferral ends with the import: edits are indexed at once again.
    statement = Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")
    statement.topics.clear()
    statement.refresh_from_db()
    assert statement.export_topics == ""


@pytest.mark.django_db(transaction=True)
def test_every_file_of_a_package_comes_from_one_view_of_the_archive(tmp_path):
    """A statement and its appearance written (and committed, by another connection) while the
    package is being written are in none of its files, not only in the later ones."""
    import threading

    from django.db import connections

    from claims.datasets.package import export_package
    from tests.factories import StatementFactory

    call_command("loaddata", "seed", verbosity=0)
    written = {}

    def write_elsewhere():
        try:
            statement = StatementFactory(status=Status.PUBLISHED)
            Appearance.objects.create(statement=statement, source=Source.objects.first(), is_first=True)
            written["statement"] = str(statement.public_id)
        finally:
            connections.close_all()

    def on_new(name):
        if name == "appearances":  # statements.csv is written by now
            thread = threading.Thread(target=write_elsewhere)
            thread.start()
            thread.join()

    export_package(tmp_path / "pkg", progress=Bars(on_new))
    assert written["statement"] and Statement.objects.filter(public_id=written["statement"]).exists()
    with (tmp_path / "pkg" / "statements.csv").open(newline="", encoding="utf-8") as f:
        statements = {row["id"] for row in csv.DictReader(f)}
    with (tmp_path / "pkg" / "appearances.csv").open(newline="", encoding="utf-8") as f:
        appearing = {row["statement"] for row in csv.DictReader(f)}
    assert written["statement"] not in statements | appearing
    assert appearing <= statements


def test_import_reports_its_steps(archive, tmp_path):
    """After the files are read (the progress bars), each step of the import is told."""
    from claims.datasets.package import import_package

    export(tmp_path / "pkg")
    wipe()
    steps: list[str] = []
    bars = Bars()
    import_package(tmp_path / "pkg", progress=bars, step=steps.append)
    assert list(bars.told) == TABLES
    assert steps[0] == "Checking every cell" and steps[-2:] == ["Recording history", "Committing"]
    assert [f"Checking references and writing {name}" for name in TABLES] == steps[1:-3]
    assert steps[-3] == "Building the statements' search and API documents"


def test_import_is_set_based_not_row_by_row(archive, tmp_path):
    """The number of queries does not grow with the number of rows."""
    from django.test.utils import CaptureQueriesContext

    from tests.factories import SpeakerFactory, StatementFactory

    def queries_to_import(path):
        wipe()
        with CaptureQueriesContext(connection) as ctx:
            call_command("import_dataset", str(path), stdout=io.StringIO())
        return len(ctx.captured_queries)

    export(tmp_path / "small")
    small = queries_to_import(tmp_path / "small")
    call_command("import_dataset", str(tmp_path / "small"), stdout=io.StringIO())
    speaker = SpeakerFactory()
    for _ in range(60):
        StatementFactory(status=Status.PUBLISHED, speakers=[speaker]).topics.add(Topic.objects.first())
    export(tmp_path / "large")
    assert queries_to_import(tmp_path / "large") == small


def test_export_is_one_copy_a_file_and_counts_its_rows(archive, tmp_path):
    """Each CSV is written by one COPY, whatever the number of rows (no row becomes a model
    instance); the progress bars are told every row, and the counts are the files' rows."""
    from django.test.utils import CaptureQueriesContext

    from claims.datasets.package import export_package
    from tests.factories import SpeakerFactory, StatementFactory

    speaker = SpeakerFactory()
    for _ in range(30):
        StatementFactory(status=Status.PUBLISHED, speakers=[speaker]).topics.add(Topic.objects.first())

    bars = Bars()
    with CaptureQueriesContext(connection) as ctx:
        counts = export_package(tmp_path / "pkg", progress=bars)
    # The COPYs run on psycopg2's cursor, outside Django's query log: a model query would show.
    assert len(ctx.captured_queries) == 0, ctx.captured_queries
    assert bars.told == counts
    for name, count in counts.items():
        with (tmp_path / "pkg" / f"{name}.csv").open(newline="", encoding="utf-8") as f:
            assert len(list(csv.reader(f))) == count + 1  # and the header
    assert counts["statements"] == Statement.objects.count() > 30


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        # Two sources citing each other.
        (
            lambda rows: [
                rows[0],
                [*rows[1][:9], rows[2][0], *rows[1][10:]],
                [*rows[2][:9], rows[1][0], *rows[2][10:]],
            ],
            "cites: This would make a citation cycle.",
        ),
        (lambda rows: [rows[0], rows[1], rows[1]], "appears twice"),
        (lambda rows: [rows[0], ["not-a-uuid", *rows[1][1:]]], "id 'not-a-uuid' is not a valid UUID"),
    ],
)
@pytest.mark.parametrize("bulk", [False, True], ids=["row-sized", "bulk"])
def test_bad_sources_are_rejected(archive, tmp_path, monkeypatch, mangle, message, bulk):
    """Also loaded in bulk, where citations are set by the INSERT (ids taken in advance)."""
    import csv

    from claims.datasets.package import load as datapackage

    if bulk:
        monkeypatch.setattr(datapackage, "BULK_ROWS", 1)
    export(tmp_path / "pkg")
    path = tmp_path / "pkg" / "sources.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][9] == "cites"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(mangle(rows))
    wipe()
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert message in str(error.value)
    assert "sources.csv line " in str(error.value)
    assert not Source.objects.exists()


def edit(path, table, change):
    """Rewrite one CSV of a package: ``change(rows)`` gets and returns dicts by column name."""
    import csv

    file = path / f"{table}.csv"
    with file.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with file.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def rejected(path) -> str:
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(path), stdout=io.StringIO())
    return str(error.value)


def first(rows, **match):
    return next(i for i, r in enumerate(rows) if all(r[k] == v for k, v in match.items()))


def set_cells(index_of, **cells):
    def change(rows):
        rows[index_of(rows)].update(cells)
        return rows

    return change


def public_id(model, **lookup):
    return str(model.objects.filter(**lookup).first().public_id)


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        # The models' clean() rules, each on its own.
        (
            "affiliations",
            lambda: set_cells(lambda rows: 0, organisation=public_id(Speaker, slug="ahmad-al-mesmari")),
            "affiliations.csv line 2: organisation: Choose an organisation, not a person.",
        ),
        (
            "statements",
            lambda: set_cells(lambda rows: first(rows, text_type="verbatim"), original_text="Original"),
            "original_text: Only a translation has an original text.",
        ),
        (
            "statement_links",
            lambda: lambda rows: [{**rows[0], "to_statement": rows[0]["from_statement"]}, *rows[1:]],
            "to_statement: A statement cannot be linked to itself.",
        ),
        (
            "reviews",
            lambda: set_cells(lambda rows: 0, reviewer=public_id(Outlet, kind="newspaper")),
            "reviews.csv line 2: reviewer: The reviewer must be an outlet of kind fact-checker.",
        ),
        (
            "sources",
            lambda: lambda rows: [{**rows[0], "cites": rows[0]["id"]}, *rows[1:]],
            "sources.csv line 2: cites: A source cannot cite itself.",
        ),
        # Field validators that only Python has, and lengths.
        (
            "sources",
            lambda: set_cells(lambda rows: 0, url="https://exa mple.com/"),
            "sources.csv line 2: url: Enter a valid URL.",
        ),
        (
            "statements",
            lambda: set_cells(lambda rows: 0, language="English"),
            "statements.csv line 2: language: Use a BCP 47 language tag",
        ),
        (
            "speakers",
            lambda: set_cells(lambda rows: 0, name="x" * 201),
            "speakers.csv line 2: name: Ensure this value has at most 200 characters (it has 201).",
        ),
        (
            "statements",
            lambda: set_cells(lambda rows: 0, said_on="2999-01-01"),
            "statements.csv line 2: said_on: This date is in the future.",
        ),
        (
            "reviews",
            lambda: set_cells(lambda rows: 0, rating_value="12345.5"),
            "reviews.csv line 2: rating_value: Ensure that there are no more than 4 digits before the decimal point.",
        ),
        # Collisions within the file, and with other records.
        (
            "speakers",
            lambda: lambda rows: [rows[0], {**rows[1], "slug": rows[0]["slug"]}, *rows[2:]],
            "speakers.csv line 3: slug ",
        ),
        (
            "appearances",
            lambda: lambda rows: [*rows, {**rows[0], "id": "0f0f0f0f-0000-4000-8000-000000000000"}],
            "appearances.csv line 17: This statement is already recorded in this source. appears twice (first on line 2)",
        ),
        (
            "topics",
            lambda: (
                lambda rows: [*rows, {**rows[0], "id": "0f0f0f0f-0000-4000-8000-000000000001", "slug": "x"}]
            ),
            "name ",
        ),
        # Cells of the wrong type.
        (
            "statements",
            lambda: set_cells(lambda rows: 0, created_at="yesterday"),
            "created_at 'yesterday' is not a valid datetime",
        ),
        (
            "statements",
            lambda: set_cells(lambda rows: 0, topics='["a", 1]'),
            "topics '[\"a\", 1]' is not a valid JSON array of strings",
        ),
        (
            "reviews",
            lambda: set_cells(lambda rows: 0, evidence='["nope"]'),
            "evidence 'nope' is not a valid UUID",
        ),
        (
            "statement_speakers",
            lambda: set_cells(lambda rows: 0, position="first"),
            "position 'first' is not a valid integer",
        ),
        # UUIDs: 8-4-4-4-12 or 32 hex digits (checked by lengths and positions).
        (
            "topics",
            lambda: set_cells(lambda rows: 0, id="0f0f0f0f0-000-4000-8000-000000000000"),
            "id '0f0f0f0f0-000-4000-8000-000000000000' is not a valid UUID",
        ),
        (
            "topics",
            lambda: set_cells(lambda rows: 0, id="-f0f0f0f-0000-4000-8000-00000000000-"),
            "is not a valid UUID",
        ),
        (
            "topics",
            lambda: set_cells(lambda rows: 0, id="0f0f0f0f-0000-4000-8000-00000000000g"),
            "is not a valid UUID",
        ),
        (
            "topics",
            lambda: set_cells(lambda rows: 0, id="0f0f0f0f000040008000000000000000" + "0"),
            "is not a valid UUID",
        ),
        # A host label over 63 characters is left to Django's validator, which refuses it.
        (
            "sources",
            lambda: set_cells(lambda rows: 0, url="https://" + "a" * 64 + ".example.com/"),
            "sources.csv line 2: url: Enter a valid URL.",
        ),
    ],
)
def test_each_rule_rejects_its_row_with_its_line(archive, tmp_path, table, change, message):
    """Every check of the set-based import names the file, line and column; nothing is written."""
    export(tmp_path / "pkg")
    edit(tmp_path / "pkg", table, change())
    wipe()
    text = rejected(tmp_path / "pkg")
    assert message in text, text
    assert not Statement.objects.exists() and not Source.objects.exists()


def test_a_file_copy_cannot_read_is_diagnosed_row_by_row(archive, tmp_path):
    """COPY stops at the first broken row; the import then names every one."""
    export(tmp_path / "pkg")
    path = tmp_path / "pkg" / "outlets.csv"
    lines = path.read_text().splitlines()
    lines[1] += ",extra"
    lines[2] = lines[2].replace(",", ",\x00", 1)
    path.write_text("\n".join(lines) + "\n")
    wipe()
    text = rejected(tmp_path / "pkg")
    assert "outlets.csv line 2: 11 cells, expected 10" in text
    assert "outlets.csv line 3: slug contains a NUL character" in text


def test_urls_outside_the_quick_check_are_validated_by_django(archive, tmp_path):
    """An internationalised URL is checked by Django's validator, not refused by the SQL shortcut."""
    export(tmp_path / "pkg")
    edit(tmp_path / "pkg", "sources", set_cells(lambda rows: 0, url="https://例え.jp/ページ"))
    wipe()
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert Source.objects.filter(url="https://例え.jp/ページ").exists()


def test_uuids_in_capitals_or_without_hyphens_are_read(archive, tmp_path):
    export(tmp_path / "pkg")
    edit(tmp_path / "pkg", "topics", set_cells(lambda rows: 0, id="0F0F0F0F-0000-4000-8000-00000000000A"))
    edit(tmp_path / "pkg", "topics", set_cells(lambda rows: 1, id="0f0f0f0f00004000800000000000000b"))
    wipe()
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert {"0f0f0f0f-0000-4000-8000-00000000000a", "0f0f0f0f-0000-4000-8000-00000000000b"} <= {
        str(pk) for pk in Topic.objects.values_list("public_id", flat=True)
    }


@pytest.mark.parametrize(
    ("day", "valid"),
    [
        ("2024-02-29", True),
        ("2000-02-29", True),
        ("1996-02-29", True),
        ("2023-02-29", False),
        ("1900-02-29", False),
        ("2024-02-30", False),
        ("2024-04-30", True),
        ("2024-04-31", False),
        ("2024-12-31", True),
        ("2024-13-01", False),
        ("0000-01-01", False),
        ("2024-1-05", False),  # not ISO 8601: refused even though PostgreSQL would read it
    ],
)
def test_every_day_of_the_calendar_and_only_those(archive, tmp_path, day, valid):
    """The quick check of date cells knows every valid day (29 February of leap years too), so
    that valid files never need the slower cast; invalid ones are still named."""
    from claims.datasets.package import checks as datapackage

    assert bool(re.fullmatch(datapackage._SURE_DAY, day)) == valid or day == "2024-1-05"
    export(tmp_path / "pkg")
    edit(tmp_path / "pkg", "sources", set_cells(lambda rows: 0, published_on=day))
    wipe()
    if valid:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
        assert Source.objects.filter(published_on=day).exists()
    else:
        with pytest.raises(CommandError) as error:
            call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
        assert f"sources.csv line 2: published_on {day!r} is not a valid date" in str(error.value)


def test_files_are_staged_in_unlogged_tables_of_the_import_only(archive, tmp_path):
    """Unlogged, not temporary: parallel workers can share the scans that check every cell (the
    scan passing back line numbers only is costed as such); gone when the import ends, whether
    it is written or refused."""
    from django.test.utils import CaptureQueriesContext

    def staging_tables():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'claims_import_%%'")
            return cursor.fetchone()[0]

    export(tmp_path / "pkg")
    wipe()
    with CaptureQueriesContext(connection) as ctx:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    sql = [q["sql"] for q in ctx.captured_queries]
    created = [text for text in sql if re.match(r"CREATE (\w+ )?TABLE claims_import_", text)]
    assert len(created) == 11 and all(
        text.startswith("CREATE UNLOGGED TABLE claims_import_") for text in created
    )
    at = next(
        i
        for i, text in enumerate(sql)
        if re.match(r"SELECT line FROM claims_import_\d+_statements WHERE", text)
    )
    assert (sql[at - 1], sql[at + 1]) == ("SET LOCAL parallel_tuple_cost = 0.01", "RESET parallel_tuple_cost")
    assert "claims_castable" not in sql[at]  # an exception handler: not in a parallel scan
    assert staging_tables() == 0
    edit(tmp_path / "pkg", "statements", set_cells(lambda rows: 0, status="lost"))
    wipe()
    with pytest.raises(CommandError):
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert staging_tables() == 0


def test_changes_are_merged_counted_recorded_and_indexed(archive, tmp_path):
    """Re-importing an edited package updates what changed, with a history entry and new documents."""
    export(tmp_path / "pkg")
    statement = Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")
    sid = str(statement.public_id)
    edit(
        tmp_path / "pkg",
        "statements",
        set_cells(lambda rows: first(rows, id=sid), text="An edited text about drones", topics="[]"),
    )
    edit(
        tmp_path / "pkg",
        "speakers",
        set_cells(lambda rows: first(rows, slug="ahmad-al-mesmari"), aliases='[" Mesmari ", "Mesmari", ""]'),
    )
    out = io.StringIO()
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=out)
    assert "statements: 0 created, 1 updated, 8 unchanged" in out.getvalue()
    assert "speakers: 0 created, 1 updated" in out.getvalue()
    statement.refresh_from_db()
    assert statement.text == "An edited text about drones" and not statement.topics.exists()
    assert statement.speaker_roles.get(role="speaker").speaker.aliases == ["Mesmari"]
    latest = statement.history.latest()
    assert latest.history_type == "~" and latest.text == "An edited text about drones"
    assert latest.history_change_reason == "Updated from a data package"
    assert statement.export_topics == "" and "'edit':" in str(statement.search_vector)
    assert "An edited text about drones" in statement.public_document


def test_a_collision_with_another_record_of_the_archive_is_named(archive, tmp_path):
    export(tmp_path / "pkg")
    edit(
        tmp_path / "pkg",
        "topics",
        lambda rows: [{**rows[0], "id": "0f0f0f0f-0000-4000-8000-000000000002"}, *rows[1:]],
    )
    text = rejected(tmp_path / "pkg")
    assert "topics.csv line 2: slug " in text and "is already used by another record in the archive" in text


def test_only_a_bulk_load_keeps_the_search_documents_an_insert_brings():
    """The sources' and claims' triggers keep a document an INSERT brings only while a bulk
    load defers documents (migration 0017); otherwise, and on every update, they build it."""
    from tests.factories import StatementFactory

    outlet = Outlet.objects.create(name="Daily Example", slug="daily-example", kind="newspaper")
    statement = StatementFactory(text="Statement words")

    def insert(suffix):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO claims_source (public_id, url, title, outlet_id, kind, language, archive_url, "
                "description, created_at, updated_at, search_vector) VALUES (gen_random_uuid(), %s, "
                "'Budget speech', %s, 'article', 'en', '', '', now(), now(), 'bogus') RETURNING id",
                [f"https://example.org/{suffix}", outlet.pk],
            )
            source = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO claims_claim (public_id, status, text, statement_id, created_at, updated_at, "
                "search_vector, normalized_text) VALUES (gen_random_uuid(), 'draft', 'Claim words', %s, "
                "now(), now(), 'bogus', 'bogus') RETURNING id",
                [statement.pk],
            )
            claim = cursor.fetchone()[0]
            cursor.execute(
                "SELECT (SELECT search_vector::text FROM claims_source WHERE id = %s), "
                "(SELECT search_vector::text || ' ' || normalized_text FROM claims_claim WHERE id = %s)",
                [source, claim],
            )
            return source, claim, cursor.fetchone()

    source, claim, built = insert("a")
    assert "'bogus'" not in built[0] and "'daily':" in built[0] and "'budget':" in built[0]
    assert "'bogus'" not in built[1] and "'statement':" in built[1]
    with transaction.atomic(), connection.cursor() as cursor, documents.paused(cursor):
        _, _, kept = insert("b")
        assert kept == ("'bogus'", "'bogus' bogus")
        cursor.execute("UPDATE claims_source SET title = 'Other' WHERE id = %s", [source])
        cursor.execute("UPDATE claims_claim SET text = 'Other' WHERE id = %s", [claim])
        cursor.execute(
            "SELECT (SELECT search_vector::text FROM claims_source WHERE id = %s), "
            "(SELECT normalized_text FROM claims_claim WHERE id = %s)",
            [source, claim],
        )
        vector, normalized = cursor.fetchone()
        assert "'budget'" not in vector and "'daily':" in vector and normalized == "other"


def test_triggers_that_do_nothing_during_a_bulk_load_are_not_called_then(archive):
    """Their WHEN condition (claims/documents/triggers.py) is evaluated by the server: no PL/pgSQL
    call and no queued event for each row an import writes; outside a bulk load they still fire."""
    from claims.documents import triggers

    marking = [t.name for t in triggers.triggers() if t.function.endswith(("_written", "_shown"))]
    marking = [
        name for name in marking if name not in ("claims_outlet_name_shown", "claims_statement_text_shown")
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(%s)",
            [marking],
        )
        found = dict(cursor.fetchall())
    # The statement's own row, its five parts, the four records it shows and its neighbours.
    assert len(found) == len(marking) == 11
    assert all(" WHEN (" in d and "(NOT claims_documents_deferred())" in d for d in found.values())
    statement = Statement.objects.public().filter(speaker_roles__isnull=False).first()
    with transaction.atomic(), connection.cursor() as cursor, documents.paused(cursor):
        cursor.execute("DELETE FROM claims_statementspeaker WHERE statement_id = %s", [statement.pk])
        cursor.execute("UPDATE claims_statement SET text = 'Deferred words' WHERE id = %s", [statement.pk])
    statement.refresh_from_db()
    assert statement.export_speakers != "" and "Deferred words" not in statement.public_document
    statement.text = "Indexed words"
    statement.save()
    statement.refresh_from_db()
    assert statement.export_speakers == "" and "Indexed words" in statement.public_document


def test_a_large_import_refreshes_statistics_from_a_small_sample(archive, tmp_path, monkeypatch):
    """Before building the documents, the written tables are analyzed (sizes and join keys
    for the planner) with a statistics target of 10; the connection's own target is kept."""
    from django.test.utils import CaptureQueriesContext

    from claims.datasets.package import load as datapackage

    export(tmp_path / "pkg")
    wipe()
    monkeypatch.setattr(datapackage, "ANALYZE_AFTER", 1)
    with CaptureQueriesContext(connection) as ctx:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    sql = [q["sql"] for q in ctx.captured_queries]
    at = next(i for i, text in enumerate(sql) if text.startswith("ANALYZE "))
    assert "claims_statement," in sql[at] and "claims_appearance" in sql[at]
    assert (sql[at - 1], sql[at + 1]) == (
        "SET LOCAL default_statistics_target = 10",
        "RESET default_statistics_target",
    )
    # The statements' texts are tokenised by a CREATE TABLE AS that may run in parallel workers
    # (passing its small rows back costed as such), the setting restored after it.
    at = next(
        i for i, text in enumerate(sql) if text.startswith("CREATE TEMP TABLE statement_text_vectors AS")
    )
    assert (sql[at - 1], sql[at + 1]) == ("SET LOCAL parallel_tuple_cost = 0.01", "RESET parallel_tuple_cost")
    with connection.cursor() as cursor:
        cursor.execute("SHOW default_statistics_target")
        assert cursor.fetchone()[0] == "100"
        cursor.execute("SHOW parallel_tuple_cost")
        assert cursor.fetchone()[0] == "0.1"
        cursor.execute(
            "SELECT array_agg(proparallel ORDER BY proname) FROM pg_proc "
            "WHERE proname IN ('claims_config', 'claims_normalize')"
        )
        assert cursor.fetchone()[0] == ["s", "s"]
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'claims_statement'")
        assert cursor.fetchone()[0] == Statement.objects.count()


def test_a_bulk_load_into_empty_tables_builds_their_indexes_afterwards(archive, tmp_path, monkeypatch):
    """As pg_restore does: secondary indexes (of the tables and their history tables)
    dropped for the load and created again, all of them; and foreign keys between tables
    that were empty, added back (each checked by one query), all of them as they were."""
    from django.test.utils import CaptureQueriesContext

    from claims.datasets.package import load as datapackage

    def indexes():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'claims_%' ORDER BY 1"
            )
            found = cursor.fetchall()
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
                "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE 'claims_%' ORDER BY 1, 2"
            )
            return found + cursor.fetchall()

    before = indexes()
    first = export(tmp_path / "first")
    wipe()
    monkeypatch.setattr(datapackage, "BULK_ROWS", 1)
    with CaptureQueriesContext(connection) as ctx:
        call_command("import_dataset", str(tmp_path / "first"), stdout=io.StringIO())
    # A source's citation of one further down the file is set by the INSERT (ids taken in
    # advance), not by an UPDATE of every citing source afterwards.
    assert Source.objects.get(url="https://early.example/").cites.url == "https://later.example/"
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE claims_source")]
    assert any(q["sql"].startswith("CREATE TEMP TABLE ids_sources AS") for q in ctx.captured_queries)
    dropped = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("DROP INDEX")]
    assert any("statement_search" in sql for sql in dropped) and len(dropped) > 20
    assert any("historicalstatement_" in sql for sql in dropped)  # empty history tables too
    keys = [q["sql"] for q in ctx.captured_queries if "DROP CONSTRAINT" in q["sql"]]
    assert any('"claims_appearance" DROP CONSTRAINT "claims_appearance_source_id' in sql for sql in keys)
    assert not any("created_by" in sql or "updated_by" in sql for sql in keys)  # auth_user's stay
    assert indexes() == before
    # Locked until the commit, so that all their rows are the import's: their history entries
    # are copied from the whole tables, not looked up by a list of every key.
    locks = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("LOCK TABLE")]
    assert len(locks) == 1 and "claims_statement," in locks[0] and locks[0].endswith("IN EXCLUSIVE MODE")
    copies = [
        q["sql"] for q in ctx.captured_queries if q["sql"].strip().startswith("INSERT INTO claims_historical")
    ]
    assert copies and not any("ANY(" in sql for sql in copies)
    for model in (Statement, Speaker, Source, Appearance, Topic):
        assert model.history.filter(history_type="+").count() == model.objects.count() > 0
        assert model.history.count() == model.objects.count()
    second = export(tmp_path / "second")
    assert {k: v for k, v in first.items() if k != "datapackage.json"} == {
        k: v for k, v in second.items() if k != "datapackage.json"
    }
    # Into tables that have rows, nothing is dropped.
    with CaptureQueriesContext(connection) as ctx:
        call_command("import_dataset", str(tmp_path / "first"), stdout=io.StringIO())
    assert not [
        q for q in ctx.captured_queries if q["sql"].startswith("DROP INDEX") or "DROP CONSTRAINT" in q["sql"]
    ]


def test_a_package_of_published_statements_holds_no_draft_claim_or_review(archive, tmp_path):
    """--filter status=published is a public package: no draft claim, review, or review of a
    draft claim, and ClaimReview only of what is public (issue 18, item 11)."""
    from tests.factories import ClaimFactory, ReviewFactory

    statement = Statement.objects.filter(status="published").first()
    draft_claim = ClaimFactory(statement=statement, status="draft", text="A draft claim.")
    review_of_draft = ReviewFactory(claim=draft_claim, status="published")
    public_claim = ClaimFactory(statement=statement, status="published", text="A public claim.")
    draft_review = ReviewFactory(claim=public_claim, status="draft")
    public_review = ReviewFactory(claim=public_claim, status="published")
    files = export(tmp_path / "pkg", "--filter", "status=published")
    everything = b"".join(files.values()).decode()
    for hidden in (draft_claim, review_of_draft, draft_review):
        assert str(hidden.public_id) not in everything
    for shown in (public_claim, public_review):
        assert str(shown.public_id) in everything
    # Without a status filter a curator's package is whole.
    everything = b"".join(export(tmp_path / "all").values()).decode()
    assert all(str(r.public_id) in everything for r in (draft_claim, review_of_draft, draft_review))
