"""The statements JSON Lines and CSV that the API exports import back (import_statements)."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from claims.models import Appearance, Statement, StatementLink, StatementSpeaker

# The exports come from COPY on a connection of their own: the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seed(db):
    call_command("loaddata", "seed", verbosity=0)


def exported(anon_api, fmt):
    response = anon_api.get("/api/v1/statements/export/", {"format": fmt})
    return b"".join(response.streaming_content).decode()


def run(tmp_path, content, name="statements.jsonl"):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    out = io.StringIO()
    call_command("import_statements", str(path), stdout=out)
    return out.getvalue()


def remove_statements():
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "TRUNCATE claims_statement, claims_statementspeaker, claims_appearance, claims_statementlink, "
            "claims_statement_topics, claims_claim, claims_claim_topics, claims_review, claims_review_evidence CASCADE"
        )


def facts():
    mesmari = Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")
    return {
        "count": Statement.objects.count(),
        "roles": sorted(
            StatementSpeaker.objects.values_list("statement__public_id", "speaker__slug", "role")
        ),
        "appearances": sorted(
            Appearance.objects.values_list("statement__public_id", "source__public_id", "quote", "is_first")
        ),
        "links": sorted(
            StatementLink.objects.values_list("from_statement__public_id", "to_statement__public_id", "type")
        ),
        "vow": Statement.objects.filter(said_on_precision="month").values_list("said_on", flat=True).get(),
        "mesmari": (mesmari.public_id, mesmari.said_on, mesmari.context, mesmari.status),
    }


def test_json_lines_round_trip(anon_api, seed, tmp_path):
    before = facts()
    content = exported(anon_api, "jsonl")
    remove_statements()
    assert "statements: 9 created" in run(tmp_path, content)
    after = facts()
    # Everything but the rejects link, which is not a responds_to link (the export carries responds_to only).
    before["links"] = [link for link in before["links"] if link[2] == "responds_to"]
    assert after == before
    assert "0 created, 0 updated, 9 unchanged" in run(tmp_path, content)


@pytest.mark.django_db(transaction=True)  # the CSV comes from COPY, on its own connection
def test_csv_imports_and_leaves_existing_appearances_alone(anon_api, seed, tmp_path):
    content = exported(anon_api, "csv")
    appearances = Appearance.objects.count()
    assert "0 created, 0 updated, 9 unchanged" in run(tmp_path, content, "statements.csv")
    assert Appearance.objects.count() == appearances
    edited = content.replace("Video posted to social media.", "Video posted online.")
    assert "0 created, 1 updated" in run(tmp_path, edited, "statements.csv")
    assert Statement.objects.filter(context="Video posted online.").count() == 1


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda t: t.replace('"ahmad-al-mesmari"', '"nobody-at-all"', 1), "speakers"),
        (lambda t: t.replace('"2020-01-09"', '"2020-02-30"', 1), "said_on is not a date"),
        (lambda t: t.replace('"status":"published"', '"status":"hidden"', 1), "status"),
        (lambda t: t + "{not json\n", "not JSON"),
    ],
)
def test_bad_files_are_rejected_with_line_numbers_and_nothing_written(
    anon_api, seed, tmp_path, mangle, message
):
    content = mangle(exported(anon_api, "jsonl"))
    remove_statements()
    with pytest.raises(CommandError) as error:
        run(tmp_path, content)
    assert "line " in str(error.value) and message in str(error.value)
    assert not Statement.objects.exists()


def test_links_to_unknown_statements_are_rejected(anon_api, seed, tmp_path):
    content = exported(anon_api, "jsonl")
    mesmari_only = [line for line in content.splitlines() if "ahmad-al-mesmari" in line]
    remove_statements()
    with pytest.raises(CommandError, match=r"responds_to .* is neither in the file nor in the archive"):
        run(tmp_path, "\n".join(mesmari_only) + "\n")
    assert not Statement.objects.exists()
