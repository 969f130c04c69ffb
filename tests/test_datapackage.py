"""export_dataset / import_dataset: a valid Data Package, read back losslessly."""

import io
import json

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from claims.models import EXPORT_FIELDS, Appearance, Claim, Review, Source, Statement, Status, Topic
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


def test_filtered_export_keeps_what_the_statements_need(archive, tmp_path):
    files = export(tmp_path / "pkg", "--filter", "speaker=ahmad-al-mesmari")
    statements = files["statements.csv"].decode().splitlines()
    assert len(statements) == 2  # header and al-Mesmari's statement
    assert json.loads(files["datapackage.json"])["claims:filters"] == {"speaker": ["ahmad-al-mesmari"]}
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


def stored_documents():
    columns = ", ".join(["search_vector", *EXPORT_FIELDS, "public_document"])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT public_id, {columns} FROM claims_statement ORDER BY public_id")
        return cursor.fetchall()


def test_imported_statements_are_indexed_as_the_triggers_index_them(archive, tmp_path):
    """The import builds documents and export lists once, set-based: the same as the triggers build."""
    export(tmp_path / "pkg")
    wipe()
    call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
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
def test_bad_sources_are_rejected(archive, tmp_path, mangle, message):
    import csv

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
