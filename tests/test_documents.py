"""Stored documents: generated triggers that match the code, one build per statement and transaction."""

import io
import json
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from claims import documents, services
from claims.documents import triggers
from claims.models import Statement, Status
from tests.factories import SourceFactory, SpeakerFactory, StatementFactory, TopicFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


def test_installed_functions_and_triggers_are_what_claims_documents_generates():
    with connection.cursor() as cursor:
        assert triggers.drift(cursor) == []
    out = io.StringIO()
    call_command("document_migration", "--check", stdout=out)
    assert "are what claims/documents/ generates" in out.getvalue()


def test_the_drift_check_finds_a_changed_function_a_missing_trigger_and_an_extra_one():
    """The test of the test above: each kind of difference is reported, and nothing else."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION claims_normalize(value text) RETURNS text LANGUAGE sql "
            "STABLE PARALLEL SAFE AS $$ SELECT lower(coalesce(value, '')) $$"
        )
        cursor.execute("DROP TRIGGER claims_topic_shown ON claims_topic")
        cursor.execute(
            "CREATE TRIGGER claims_extra AFTER INSERT ON claims_topic FOR EACH ROW "
            "EXECUTE FUNCTION claims_topic_shown()"
        )
        problems = triggers.drift(cursor)
        # The comparison left the database as it found it.
        assert triggers.drift(cursor) == problems
    assert problems == [
        "function claims_normalize(value text): installed differs from generated",
        "trigger ('claims_topic', 'claims_extra'): installed, not generated",
        "trigger ('claims_topic', 'claims_topic_shown'): generated, not installed",
    ]


def test_no_trigger_order_matters_one_before_trigger_per_table():
    """PostgreSQL fires a table's triggers of the same timing in the order of their names; with
    at most one BEFORE trigger a table (the AFTER ones only mark statements), none depends on it."""
    before = [t.table for t in triggers.triggers() if t.timing == "BEFORE"]
    assert len(before) == len(set(before)) == 3


def test_bulk_loads_pause_documents_one_way_only():
    """``documents.paused`` (the claims.defer_documents setting) is the one way: no code turns
    triggers off (session_replication_role) or sets the setting itself."""
    found = subprocess.run(
        [
            "git",
            "grep",
            "-n",
            "-e",
            "session_replication_role",
            "-e",
            "claims.defer_documents",
            "--",
            "claims",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    outside = [line for line in found if not line.startswith(("claims/migrations/", "claims/documents/"))]
    assert outside == []


def counts() -> tuple[int, int]:
    """This transaction's calls of the statements' document builder, and updates of statement rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce((SELECT calls FROM pg_stat_xact_user_functions "
            "WHERE funcname = 'claims_build_statement_documents'), 0), "
            "(SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'claims_statement')"
        )
        return cursor.fetchone()


@pytest.fixture
def deferred():
    """Documents built at the commit, as outside the tests (see conftest), and the builder's calls counted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('claims.build_documents', '', true)")
        cursor.execute("SET LOCAL track_functions = 'all'")


def test_a_statement_posted_with_all_its_parts_is_built_once(admin_api, deferred):
    """Two speakers, two topics, two appearances and a link: one build of the new statement's
    documents (and of the statement it links to, in the same set-based call), and each of the
    two rows written once by it, instead of once per part written."""
    erdogan, putin = SpeakerFactory(name="Recep Tayyip Erdoğan"), SpeakerFactory(name="Vladimir Putin")
    topics = [TopicFactory(slug="libya"), TopicFactory(slug="ceasefire")]
    sources = [SourceFactory(url="https://example.org/a"), SourceFactory(url="https://example.org/b")]
    earlier = StatementFactory(status=Status.PUBLISHED, text="An earlier call.")
    payload = {
        "text": "We call for a ceasefire in Libya.",
        "status": "published",
        "said_on": "2020-01-08",
        "speakers": [{"speaker": erdogan.slug}, {"speaker": putin.slug}],
        "topics": [t.slug for t in topics],
        "appearances": [
            {"source": str(sources[0].public_id), "quote": "ceasefire", "is_first": True},
            {"source": str(sources[1].public_id), "quote": "Libya"},
        ],
        "links": [{"type": "responds_to", "statement": str(earlier.public_id)}],
    }
    builds, updates = counts()
    response = admin_api.post("/api/v1/statements/", payload, format="json")
    assert response.status_code == 201, response.content
    after_builds, after_updates = counts()
    assert after_builds - builds == 1
    # The builder's one UPDATE of each of the two statements; nothing else rewrites them.
    assert after_updates - updates == 2
    statement = Statement.objects.get(public_id=response.json()["id"])
    stored = json.loads(statement.public_document)
    assert [s["name"] for s in stored["speakers"]] == ["Recep Tayyip Erdoğan", "Vladimir Putin"]
    assert statement.export_topics == "ceasefire; libya"
    assert statement.export_source_urls == "https://example.org/a; https://example.org/b"
    assert statement.export_responds_to == str(earlier.public_id)
    earlier.refresh_from_db()
    assert json.loads(earlier.public_document)["linked_from"][0]["statement"]["id"] == str(
        statement.public_id
    )


def test_inside_the_writing_transaction_documents_wait_for_the_commit_or_a_workflow_end(deferred):
    """A reader later in the writing transaction sees the documents as they were until the
    transaction commits, a workflow of services.py ends, or documents.build_pending() is called."""
    statement = StatementFactory(status=Status.PUBLISHED, text="First words.")
    statement.refresh_from_db()
    assert statement.public_document is None  # not built yet: the commit would build it
    with connection.cursor() as cursor:
        documents.build_pending(cursor)
    statement.refresh_from_db()
    assert json.loads(statement.public_document)["text"] == "First words."
    Statement.objects.filter(pk=statement.pk).update(text="Second words.")
    statement.refresh_from_db()
    assert json.loads(statement.public_document)["text"] == "First words."
    services.set_status(records=[statement], status=Status.RETRACTED, user=None)
    statement.refresh_from_db()
    assert json.loads(statement.public_document)["text"] == "Second words."
    assert json.loads(statement.public_document)["status"] == "retracted"


@pytest.mark.django_db(transaction=True)
def test_documents_are_built_by_the_commit():
    """As outside the tests: each write commits (autocommit), and its commit builds the documents
    of the statements it changed, leaving nothing pending."""
    speaker = SpeakerFactory(name="Ahmad al-Mesmari")
    statement = StatementFactory(status=Status.PUBLISHED, text="Committed words.", speakers=[speaker])
    statement.refresh_from_db()
    assert json.loads(statement.public_document)["speakers"][0]["name"] == "Ahmad al-Mesmari"
    speaker.name = "Ahmed al-Mismari"
    speaker.save()
    statement.refresh_from_db()
    assert json.loads(statement.public_document)["speakers"][0]["name"] == "Ahmed al-Mismari"
    assert "mismari" in str(statement.search_vector)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {triggers.PENDING}")
        assert cursor.fetchone()[0] == 0
