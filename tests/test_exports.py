"""Streaming exports (CSV, JSON Lines, ClaimReview) and the ClaimReview JSON-LD of one review."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from claims import models
from claims.datasets import claims as claim_formats
from claims.datasets import statements as statement_formats
from claims.datasets import streaming
from claims.documents import statements as statement_documents
from claims.models import Appearance, Claim, Statement, StatementLink, StatementSpeaker, Status
from tests.factories import ClaimFactory, FactCheckerFactory, ReviewFactory, StatementFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"


def body(response):
    assert response.status_code == 200, response
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def csv_rows(response):
    return list(csv.DictReader(io.StringIO(body(response))))


def jsonl(response):
    return [json.loads(line) for line in body(response).splitlines()]


@pytest.fixture
def seed(db):
    call_command("loaddata", "seed", verbosity=0)


@pytest.fixture
def reviewed(seed):
    """The seed's missile claim, reviewed by a fact-checker on its own 0-5 scale."""
    claim = Claim.objects.get(text__contains="ballistic missiles")
    claim.statement = Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")
    claim.save()
    checker = FactCheckerFactory(
        name="Example Check", slug="example-check", homepage="https://check.example/"
    )
    return ReviewFactory(
        claim=claim,
        reviewer=checker,
        rating_text="Mostly True",
        verdict="mostly_true",
        rating_value=Decimal(4),
        best_rating=Decimal(5),
        worst_rating=Decimal(0),
        url="https://check.example/missiles",
        published_on="2020-01-10",
        summary="Confirmed by several sources.",
        status=Status.PUBLISHED,
    )


@pytest.mark.django_db(transaction=True)
def test_statements_csv_for_the_seed(anon_api, seed):
    response = anon_api.get(f"{API}/statements/export/", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="statements-')
    rows = csv_rows(response)
    assert list(rows[0]) == statement_formats.STATEMENT_COLUMNS
    assert len(rows) == Statement.objects.count()
    mesmari = next(r for r in rows if "ahmad-al-mesmari" in r["speakers"])
    assert mesmari["speakers"] == "ahmad-al-mesmari; khalifa-haftar"
    assert mesmari["speaker_roles"] == "speaker; on_behalf_of"
    assert mesmari["topics"] == "ceasefire; libya"
    assert mesmari["said_on"] == "2020-01-09"
    call = Statement.objects.get(text__startswith="Turkey and Russia call")
    assert mesmari["responds_to"] == str(call.public_id)
    vow = next(r for r in rows if "ali-khamenei" in r["speakers"])
    assert (vow["said_on"], vow["said_on_precision"]) == ("2020-01", "month")


@pytest.mark.django_db(transaction=True)
def test_statements_jsonl_keeps_lists_and_quotes_as_printed(anon_api, seed):
    records = jsonl(anon_api.get(f"{API}/statements/export/", {"format": "jsonl"}))
    strike = next(r for r in records if r["text"].startswith("We evaluate"))
    assert strike["speakers"] == ["turkey", "russia"]
    assert any("Weevaluate" in q for q in strike["quotes"])


@pytest.mark.django_db(transaction=True)
def test_filtered_export_equals_the_filtered_list(anon_api, seed):
    params = {"speaker": "recep-tayyip-erdogan", "said_after": "2020-01-08", "topic": "libya"}
    listed = {
        r["id"] for r in anon_api.get(f"{API}/statements/", {**params, "page_size": 100}).json()["results"]
    }
    exported = {
        r["id"] for r in jsonl(anon_api.get(f"{API}/statements/export/", {**params, "format": "jsonl"}))
    }
    assert exported == listed and listed


@pytest.mark.django_db(transaction=True)
def test_drafts_never_leak_into_anonymous_exports(anon_api):
    from django.contrib.auth.models import Permission

    from tests.conftest import token_client
    from tests.factories import UserFactory

    # A curator by permission (transactional tests flush the groups the migrations made).
    curator = UserFactory(username="curator")
    curator.user_permissions.add(Permission.objects.get(codename="view_statement"))
    editor_api = token_client(curator)
    draft = StatementFactory(status=Status.DRAFT, text="Secret draft.")
    retracted = StatementFactory(status=Status.RETRACTED)
    ReviewFactory(claim=ClaimFactory(status=Status.PUBLISHED), status=Status.DRAFT)
    rows = csv_rows(anon_api.get(f"{API}/statements/export/", {"format": "csv"}))
    assert {r["id"] for r in rows} == {str(retracted.public_id)}
    assert rows[0]["status"] == "retracted"  # kept, with its status
    assert jsonl(anon_api.get(f"{API}/claims/export/", {"format": "claimreview"})) == []
    assert jsonl(anon_api.get(f"{API}/claims/export/", {"format": "jsonl"}))[0]["verdicts"] == []
    curated = {r["id"] for r in jsonl(editor_api.get(f"{API}/statements/export/", {"format": "jsonl"}))}
    assert str(draft.public_id) in curated


@pytest.mark.django_db(transaction=True)
def test_updated_since_for_incremental_sync(anon_api, seed):
    from django.utils import timezone

    since = timezone.now()
    changed = Statement.objects.first()
    changed.save()
    rows = jsonl(
        anon_api.get(f"{API}/statements/export/", {"format": "jsonl", "updated_since": since.isoformat()})
    )
    assert [r["id"] for r in rows] == [str(changed.public_id)]


def test_claims_csv_with_verdicts(anon_api, reviewed):
    rows = csv_rows(anon_api.get(f"{API}/claims/export/", {"format": "csv", "reviewed": "true"}))
    assert list(rows[0]) == claim_formats.CLAIM_COLUMNS
    assert [(r["id"], r["verdicts"], r["reviewers"]) for r in rows] == [
        (str(reviewed.claim.public_id), "mostly_true", "example-check")
    ]


def test_claimreview_of_one_review_checks_every_field(anon_api, reviewed):
    response = anon_api.get(f"{API}/reviews/{reviewed.public_id}/claimreview/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    doc = response.json()
    assert doc["@context"] == "https://schema.org" and doc["@type"] == "ClaimReview"
    assert doc["claimReviewed"] == reviewed.claim.text
    assert doc["url"] == "https://check.example/missiles"
    assert doc["datePublished"] == "2020-01-10"
    assert doc["author"] == {
        "@type": "Organization",
        "name": "Example Check",
        "url": "https://check.example/",
    }
    # The reviewer's own scale, not constants.
    assert doc["reviewRating"] == {
        "@type": "Rating",
        "alternateName": "Mostly True",
        "ratingValue": 4,
        "bestRating": 5,
        "worstRating": 0,
    }
    item = doc["itemReviewed"]
    assert item["@type"] == "Claim"
    # Who made the claim (not who it was made on behalf of), and when it was made.
    assert item["author"] == [{"@type": "Person", "name": "Ahmad al-Mesmari"}]
    assert item["datePublished"] == "2020-01-09"
    first = reviewed.claim.statement.appearances.get(is_first=True).source
    # An untitled source is named as everywhere else ("Video by …, 9 January 2020").
    assert item["firstAppearance"]["name"] == str(first)
    assert item["firstAppearance"]["name"].startswith("Video")
    assert len(item["appearance"]) == 3
    duvar = next(a for a in item["appearance"] if a.get("headline", "").startswith("Libya's Haftar"))
    assert duvar["publisher"] == {"@type": "Organization", "name": "Duvar English"}


def test_claimreview_links_speakers_to_wikidata(anon_api, seed):
    call = Statement.objects.get(text__startswith="Turkey and Russia call")
    review = ReviewFactory(
        claim=ClaimFactory(statement=call, status=Status.PUBLISHED), status=Status.PUBLISHED
    )
    item = anon_api.get(f"{API}/reviews/{review.public_id}/claimreview/").json()["itemReviewed"]
    assert item["author"] == [
        {"@type": "Person", "name": "Recep Tayyip Erdoğan", "sameAs": "https://www.wikidata.org/wiki/Q39259"},
        {"@type": "Person", "name": "Vladimir Putin", "sameAs": "https://www.wikidata.org/wiki/Q7747"},
    ]
    review.rating_value, review.best_rating, review.worst_rating = Decimal("2.5"), Decimal(3), Decimal(1)
    review.save()
    rating = anon_api.get(f"{API}/reviews/{review.public_id}/claimreview/").json()["reviewRating"]
    assert (rating["ratingValue"], rating["bestRating"], rating["worstRating"]) == (2.5, 3, 1)
    review.rating_value = review.best_rating = review.worst_rating = None
    review.save()
    # A review without a numeric scale claims no numbers.
    assert set(anon_api.get(f"{API}/reviews/{review.public_id}/claimreview/").json()["reviewRating"]) == {
        "@type",
        "alternateName",
    }


@pytest.mark.django_db(transaction=True)  # the export comes from COPY on its own connection
def test_claimreview_export_is_one_complete_object_per_line(anon_api, reviewed):
    second = ReviewFactory(claim=reviewed.claim, status=Status.PUBLISHED, rating_text="True", verdict="true")
    response = anon_api.get(f"{API}/claims/export/", {"format": "claimreview"})
    assert response["Content-Type"].startswith("application/ld+json")
    docs = jsonl(response)
    assert {d["identifier"] for d in docs} == {str(reviewed.public_id), str(second.public_id)}
    assert all(d["@context"] == "https://schema.org" and d["itemReviewed"]["@type"] == "Claim" for d in docs)


def test_unknown_format_is_a_400(anon_api):
    response = anon_api.get(f"{API}/claims/export/", {"format": "xml"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["attr"] == "format"


def test_bad_filters_on_export_are_a_400(anon_api):
    response = anon_api.get(f"{API}/statements/export/", {"format": "csv", "said_after": "2020-02-30"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "said_after"


def test_export_streams_and_reads_rows_a_chunk_at_a_time(anon_api, monkeypatch):
    """Exports built in Python (claims) read the queryset in chunks, never whole."""
    monkeypatch.setattr(streaming, "CHUNK", 5)

    def export(n):
        while Claim.objects.count() < n:
            ClaimFactory(status=Status.PUBLISHED)
        with CaptureQueriesContext(connection) as before_body:
            response = anon_api.get(f"{API}/claims/export/", {"format": "jsonl"})
        with CaptureQueriesContext(connection) as while_streaming:
            assert len(body(response).splitlines()) == n
        # Before the body only its first chunk is read (so that a database that is down is a
        # 503): the queryset is iterated, not loaded, and the rest is read while streaming.
        first = [q["sql"] for q in before_body.captured_queries if "claims_claim" in q["sql"]]
        return len(while_streaming.captured_queries), first

    (five, first_of_five), (fifteen, first_of_fifteen) = export(5), export(15)
    assert first_of_five and len(first_of_fifteen) == len(first_of_five)  # one chunk, whatever n
    # Two more chunks, each with its related rows: the count grows per chunk, not per row.
    per_chunk = (fifteen - five) / 2
    assert per_chunk == int(per_chunk) and 1 <= per_chunk <= 6
    assert fifteen < 15


@pytest.mark.django_db(transaction=True)
def test_statements_csv_comes_from_copy_and_equals_the_jsonl_export(anon_api, seed):
    with CaptureQueriesContext(connection) as ctx:
        response = anon_api.get(f"{API}/statements/export/", {"format": "csv", "topic": "libya"})
        rows = csv_rows(response)
    # COPY runs on its own connection: the request's shows no row-by-row reading.
    assert not [q for q in ctx.captured_queries if "claims_statement" in q["sql"]]
    records = jsonl(anon_api.get(f"{API}/statements/export/", {"format": "jsonl", "topic": "libya"}))
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    for row, record in zip(rows, records, strict=True):
        for column in statement_formats.STATEMENT_COLUMNS:
            expected = record[column]
            expected = streaming.LIST_SEPARATOR.join(expected) if isinstance(expected, list) else expected
            if column in ("created_at", "updated_at"):
                continue  # the same instant; COPY always writes the microseconds
            assert row[column] == expected, column


@pytest.mark.django_db(transaction=True)
def test_abandoned_csv_download_stops_the_copy(anon_api):
    for _ in range(30):
        StatementFactory(status=Status.PUBLISHED, text="x" * 5000)
    response = anon_api.get(f"{API}/statements/export/", {"format": "csv"})
    stream = iter(response.streaming_content)
    next(stream)
    response.close()  # the client went away
    import threading

    assert not [t for t in threading.enumerate() if t.name == "copy-to-stdout" and t.is_alive()]


def export_columns(statement):
    statement.refresh_from_db()
    return {f: getattr(statement, f) for f in models.EXPORT_FIELDS}


def test_export_columns_follow_every_change_to_a_statements_parts():
    """The triggers keep the stored export lists current, whatever changed."""
    from tests.factories import SourceFactory, SpeakerFactory, TopicFactory

    statement = StatementFactory()
    assert export_columns(statement)["export_speakers"] == ""
    speaker = SpeakerFactory(slug="first-speaker")
    StatementSpeaker.objects.create(statement=statement, speaker=speaker, role="speaker", position=0)
    source = SourceFactory(url="https://example.org/a")
    Appearance.objects.create(statement=statement, source=source, quote="As printed", is_first=True)
    topic = TopicFactory(slug="b-topic")
    statement.topics.add(topic, TopicFactory(slug="a-topic"))
    earlier = StatementFactory()
    StatementLink.objects.create(from_statement=statement, to_statement=earlier, type="responds_to")
    columns = export_columns(statement)
    assert columns["export_speakers"] == "first-speaker"
    assert columns["export_speaker_roles"] == "speaker"
    assert columns["export_topics"] == "a-topic; b-topic"
    assert columns["export_source_urls"] == "https://example.org/a"
    assert columns["export_quotes"] == "As printed"
    assert columns["export_responds_to"] == str(earlier.public_id)
    assert columns["export_appearances"] == [
        {
            "source": str(source.public_id),
            "url": "https://example.org/a",
            "quote": "As printed",
            "is_first": True,
        }
    ]

    # Renames elsewhere reach the statement.
    speaker.slug = "renamed-speaker"
    speaker.save()
    source.url = "https://example.org/moved"
    source.save()
    topic.slug = "c-topic"
    topic.save()
    columns = export_columns(statement)
    assert columns["export_speakers"] == "renamed-speaker"
    assert columns["export_source_urls"] == "https://example.org/moved"
    assert columns["export_topics"] == "a-topic; c-topic"

    # Removals too.
    statement.topics.clear()
    StatementLink.objects.filter(from_statement=statement).delete()
    Appearance.objects.filter(statement=statement).delete()
    columns = export_columns(statement)
    assert (columns["export_topics"], columns["export_responds_to"], columns["export_quotes"]) == ("", "", "")
    assert columns["export_appearances"] == []


def built_now(statement) -> str:
    """The statement's JSON Lines line as documents.statements.statement_line defines it, from its row now."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {statement_documents.statement_line()} FROM claims_statement s WHERE s.id = %s",
            [statement.pk],
        )
        return cursor.fetchone()[0]


def stored_line(statement) -> str:
    return Statement.objects.values_list("export_jsonl", flat=True).get(pk=statement.pk)


def test_stored_jsonl_line_follows_every_change():
    """The trigger keeps each statement's stored line equal to the definition, whatever
    changed: the statement itself, its parts, or the names of what its parts refer to; and
    writes dates in ISO 8601 whatever the writing connection's DateStyle."""
    from tests.factories import SourceFactory, SpeakerFactory, TopicFactory

    statement = StatementFactory(status=Status.DRAFT)
    assert stored_line(statement) == built_now(statement)
    assert list(json.loads(stored_line(statement))) == statement_documents.STATEMENT_LINE_FIELDS
    speaker = SpeakerFactory(slug="first-speaker")
    StatementSpeaker.objects.create(statement=statement, speaker=speaker, role="speaker", position=0)
    source = SourceFactory(url="https://example.org/a")
    Appearance.objects.create(statement=statement, source=source, quote="As printed", is_first=True)
    statement.topics.add(TopicFactory(slug="a-topic"))
    line = json.loads(stored_line(statement))
    assert (line["speakers"], line["source_urls"], line["quotes"], line["topics"]) == (
        ["first-speaker"],
        ["https://example.org/a"],
        ["As printed"],
        ["a-topic"],
    )
    assert stored_line(statement) == built_now(statement)

    # An edit made in SQL on a connection with another DateStyle (as from psql).
    with connection.cursor() as cursor:
        cursor.execute("SET datestyle = 'SQL, DMY'")
        cursor.execute(
            "UPDATE claims_statement SET status = 'published', text = 'Changed.', said_on = '2020-03-01', "
            "said_on_precision = 'month' WHERE id = %s",
            [statement.pk],
        )
        cursor.execute("SET datestyle = 'ISO, MDY'")
    line = json.loads(stored_line(statement))
    assert (line["status"], line["text"], line["said_on"], line["said_on_precision"]) == (
        "published",
        "Changed.",
        "2020-03",
        "month",
    )
    assert stored_line(statement) == built_now(statement)

    speaker.slug = "renamed-speaker"
    speaker.save()
    source.url = "https://example.org/moved"
    source.save()
    line = json.loads(stored_line(statement))
    assert (line["speakers"], line["source_urls"]) == (["renamed-speaker"], ["https://example.org/moved"])
    assert stored_line(statement) == built_now(statement)


def test_statement_rows_of_a_few_kilobytes_are_stored_uncompressed():
    """Rows with their documents (2-3 kB) are neither compressed on write nor decompressed on
    read (migration 0016); a longer one is compressed as before."""
    from tests.factories import SourceFactory

    typical = StatementFactory(status=Status.PUBLISHED, text="word " * 60, context="context " * 5)
    Appearance.objects.create(statement=typical, source=SourceFactory(), quote="quoted " * 8, is_first=True)
    long = StatementFactory(status=Status.PUBLISHED, text="a longer text " * 600)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, pg_column_size(s.*), pg_column_compression(public_document), "
            "pg_column_compression(export_jsonl) FROM claims_statement s WHERE id IN (%s, %s)",
            [typical.pk, long.pk],
        )
        rows = {pk: rest for pk, *rest in cursor.fetchall()}
    size, *compression = rows[typical.pk]
    assert 2100 < size < 4080 and compression == [None, None]
    assert rows[long.pk][1] is not None


@pytest.mark.django_db(transaction=True)
def test_statements_jsonl_writes_the_stored_lines_as_they_are(anon_api, seed):
    """The export is the stored lines, in id order, byte for byte."""
    exported = body(anon_api.get(f"{API}/statements/export/", {"format": "jsonl"}))
    stored = Statement.objects.public().order_by("pk").values_list("export_jsonl", flat=True)
    assert exported == "".join(line + "\n" for line in stored)


@pytest.mark.django_db(transaction=True)
def test_statements_jsonl_keeps_awkward_text_exactly(anon_api):
    """JSON Lines from COPY: quotes, backslashes, newlines and control characters survive as they were."""
    text = 'He said "no"; then\\nnothing.\nA tab\there, \x01 and \x02, עברית\u200f, é (e\u0301).'
    statement = StatementFactory(status=Status.PUBLISHED, text=text, context="line one\r\nline two")
    [record] = jsonl(anon_api.get(f"{API}/statements/export/", {"format": "jsonl"}))
    assert record["id"] == str(statement.public_id)
    assert record["text"] == text
    assert record["context"] == "line one\r\nline two"
    [row] = csv_rows(anon_api.get(f"{API}/statements/export/", {"format": "csv"}))
    assert row["text"] == text


@pytest.mark.django_db(transaction=True)
def test_dates_are_iso_whatever_the_servers_datestyle(anon_api, seed):
    """Exports write dates with date::text: ISO 8601, since psycopg2 sets the ISO DateStyle
    on every connection it opens, whatever the database's default."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        database = cursor.fetchone()[0]
        cursor.execute(f"ALTER DATABASE \"{database}\" SET datestyle = 'SQL, DMY'")
    try:
        # The COPY runs on a new connection of its own, which starts with the database's default.
        rows = csv_rows(anon_api.get(f"{API}/statements/export/", {"format": "csv"}))
        said = {row["said_on"] for row in rows}
        assert {"2020-01-09", "2020-01"} <= said
        assert all(len(value) in (0, 4, 7, 10) and "/" not in value for value in said)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{database}" RESET datestyle')
