import io

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection

from claims import search
from claims.models import Appearance, Claim, Review, Source, Speaker, Statement, StatementSpeaker

pytestmark = pytest.mark.django_db

SMALL = [
    "--statements",
    "300",
    "--speakers",
    "60",
    "--outlets",
    "20",
    "--sources",
    "100",
    "--claims",
    "40",
    "--reviews",
    "20",
]


def test_generates_a_searchable_archive():
    call_command("generate_data", *SMALL, stdout=io.StringIO())
    assert Statement.objects.count() == 300
    assert (
        Speaker.objects.count(),
        Source.objects.count(),
        Claim.objects.count(),
        Review.objects.count(),
    ) == (60, 100, 40, 20)
    assert Appearance.objects.count() == 300
    assert StatementSpeaker.objects.count() >= 300
    assert {p for (p,) in Statement.objects.values_list("said_on_precision").distinct()} >= {"day", "month"}
    # Documents were built even though triggers were off while loading.
    assert not Statement.objects.filter(search_vector__isnull=True).exists()
    assert not Speaker.objects.filter(search_names="").exists()
    assert search.search_statements(Statement.objects.all(), "ceasefire").exists()
    # Skewed: the busiest speaker says far more than an average one.
    counts = sorted((s.statement_roles.count() for s in Speaker.objects.all()), reverse=True)
    assert counts[0] > 5 * (sum(counts) / len(counts))
    # Sequences moved past the generated ids: normal inserts still work.
    assert Statement.objects.create(text="After.").pk > 300


def test_is_deterministic_for_a_seed():
    def generate():
        call_command("generate_data", *SMALL, "--seed", "7", stdout=io.StringIO())
        return list(Statement.objects.order_by("id").values_list("public_id", "text", "said_on", "status"))

    first = generate()
    with connection.cursor() as cursor:
        tables = [m._meta.db_table for m in apps.get_app_config("claims").get_models()]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    assert generate() == first


def test_refuses_a_database_with_data():
    Speaker.objects.create(name="X", slug="x")
    with pytest.raises(CommandError, match="already has data"):
        call_command("generate_data", *SMALL, stdout=io.StringIO())


def test_bulk_built_documents_equal_what_the_triggers_build():
    """generate_data builds search documents set-based; they must match the triggers' definition."""
    call_command("generate_data", *SMALL, stdout=io.StringIO())
    columns = {
        "claims_statement": "search_vector, "
        "export_speakers, export_speaker_roles, export_topics, export_source_urls, export_quotes, "
        "export_responds_to, export_appearances, export_jsonl, public_document",
        "claims_claim": "search_vector, normalized_text",
        "claims_source": "search_vector",
        "claims_speaker": "search_names",
    }

    def snapshot():
        with connection.cursor() as cursor:
            result = {}
            for table, cols in columns.items():
                cursor.execute(f"SELECT id, {cols} FROM {table} ORDER BY id")
                result[table] = cursor.fetchall()
            return result

    bulk = snapshot()
    call_command("rebuild_search", stdout=io.StringIO())  # recomputed by the triggers
    assert snapshot() == bulk


@pytest.mark.django_db(transaction=True)  # the exports read on connections of their own
def test_dataset_benchmark_runs_end_to_end(tmp_path):
    call_command("generate_data", *SMALL, stdout=io.StringIO())
    output = tmp_path / "datasets.md"
    out = io.StringIO()
    call_command("bench_datasets", "--repeat", "1", "--output", str(output), stdout=out)
    report = output.read_text()
    assert "| statements CSV | " in report and "| ClaimReview JSON Lines | " in report
    assert "statements/s" in report and "the best of 1 run, each into a new database" in report
    published = Statement.objects.filter(status__in=["published", "retracted"]).count()
    assert f"statements CSV: {published:,} records" in out.getvalue()
    # The scratch database is gone.
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname LIKE '%%_bench_import'")
        assert cursor.fetchone()[0] == 0
