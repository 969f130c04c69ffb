"""Dataset formats: querysets in, rows and records out; used by the API and the commands.

Every function here streams: it iterates the queryset in chunks (related rows
prefetched per chunk) and yields, so memory stays flat whatever the size.
"""

import contextlib
import csv
import io
import json
import queue
import threading
from collections.abc import Iterable, Iterator

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.db.models import Prefetch, QuerySet

from . import models

CHUNK = 2000
# Memory PostgreSQL may use for each sort and hash of a COPY export (its own connection).
EXPORT_WORK_MEM = "256MB"
LIST_SEPARATOR = "; "
SCHEMA_ORG = "https://schema.org"


def _joined(values: Iterable) -> str:
    return LIST_SEPARATOR.join(str(v) for v in values if v not in (None, ""))


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, cls=DjangoJSONEncoder, separators=(",", ":"))


# ---------------------------------------------------------------- statements

STATEMENT_COLUMNS = [
    "id",
    "status",
    "text",
    "text_type",
    "original_text",
    "original_language",
    "language",
    "said_on",
    "said_on_precision",
    "place",
    "context",
    "speakers",
    "speaker_roles",
    "topics",
    "source_urls",
    "quotes",
    "responds_to",
    "created_at",
    "updated_at",
]


# Columns both statement exports compute in PostgreSQL. The related lists come
# from the statement's export_* columns, which database triggers keep current
# (migration 0010): an export is one scan of one table.
_SAID_ON = """CASE WHEN s.said_on IS NULL THEN ''
         WHEN s.said_on_precision = 'month' THEN to_char(s.said_on, 'YYYY-MM')
         WHEN s.said_on_precision = 'year' THEN to_char(s.said_on, 'YYYY')
         ELSE to_char(s.said_on, 'YYYY-MM-DD') END"""
_PRECISION = "CASE WHEN s.said_on IS NULL THEN '' ELSE s.said_on_precision END"
_TIMESTAMP = """to_char(s.{} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""

STATEMENTS_CSV_SQL = f"""
COPY (
    SELECT s.public_id AS id, s.status, s.text, s.text_type, s.original_text, s.original_language, s.language,
        {_SAID_ON} AS said_on, {_PRECISION} AS said_on_precision, s.place, s.context,
        s.export_speakers AS speakers, s.export_speaker_roles AS speaker_roles, s.export_topics AS topics,
        s.export_source_urls AS source_urls, s.export_quotes AS quotes, s.export_responds_to AS responds_to,
        {_TIMESTAMP.format("created_at")} AS created_at, {_TIMESTAMP.format("updated_at")} AS updated_at
    FROM claims_statement s WHERE s.id IN ({{ids}}) ORDER BY s.id
) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')
"""


def _list(column: str) -> str:
    """A "; "-joined export column (slugs, roles, UUIDs: none contains "; ") as a JSON array."""
    return f"CASE WHEN s.{column} = '' THEN '[]'::json ELSE to_json(string_to_array(s.{column}, '; ')) END"


# One JSON object per line. COPY's CSV format with a quote and a delimiter
# that JSON text never contains raw (it escapes control characters) writes
# each object exactly as PostgreSQL produced it.
STATEMENTS_JSONL_SQL = f"""
COPY (
    SELECT row_to_json(r) FROM (
        SELECT s.public_id AS id, s.status, s.text, s.text_type, s.original_text, s.original_language,
            s.language, {_SAID_ON} AS said_on, {_PRECISION} AS said_on_precision, s.place, s.context,
            {_list("export_speakers")} AS speakers, {_list("export_speaker_roles")} AS speaker_roles,
            {_list("export_topics")} AS topics,
            jsonb_path_query_array(s.export_appearances, '$[*] ? (@.url != "").url') AS source_urls,
            jsonb_path_query_array(s.export_appearances, '$[*] ? (@.quote != "").quote') AS quotes,
            {_list("export_responds_to")} AS responds_to,
            {_TIMESTAMP.format("created_at")} AS created_at, {_TIMESTAMP.format("updated_at")} AS updated_at,
            s.export_appearances AS appearances
        FROM claims_statement s WHERE s.id IN ({{ids}}) ORDER BY s.id
    ) r
) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02', ENCODING 'UTF8')
"""


def _copy_statements(template: str, statements: QuerySet) -> Iterator[bytes]:
    ids_sql, params = statements.order_by().values("pk").query.sql_with_params()
    return copy_to_stdout(template.format(ids=ids_sql), params)


def statements_csv(statements: QuerySet) -> Iterator[bytes]:
    """The filtered statements as CSV, produced by PostgreSQL's COPY and streamed as it comes."""
    return _copy_statements(STATEMENTS_CSV_SQL, statements)


def statements_jsonl(statements: QuerySet) -> Iterator[bytes]:
    """The filtered statements as JSON Lines, built by PostgreSQL and streamed as it comes.

    Each record carries the statement's appearances whole, so the file imports
    back (``import_statements``).
    """
    return _copy_statements(STATEMENTS_JSONL_SQL, statements)


class _Cancelled(Exception):
    pass


def copy_to_stdout(sql: str, params) -> Iterator[bytes]:
    """Stream the output of ``COPY ... TO STDOUT`` while PostgreSQL writes it.

    psycopg2 hands COPY output to a file object and returns only at the end;
    so the COPY runs in a thread, on its own connection, writing into a small
    bounded queue that this generator drains: memory stays flat, and a client
    that goes away stops the COPY.
    """
    chunks: queue.Queue = queue.Queue(maxsize=64)
    cancelled = threading.Event()
    done = object()

    class Sink:
        def write(self, data):
            while not cancelled.is_set():
                try:
                    chunks.put(data, timeout=0.5)
                    return
                except queue.Full:
                    continue
            raise _Cancelled

    def run():
        connection = connections["default"]  # this thread's own connection
        try:
            with connection.cursor() as cursor:
                # One big sort-and-aggregate: in memory, not spilled to disk.
                cursor.execute("SET work_mem = %s", [EXPORT_WORK_MEM])
                cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params).decode(), Sink())
        except _Cancelled:
            pass
        except Exception as error:  # handed to the reader, which re-raises it
            chunks.put(error)
        finally:
            connection.close()
            chunks.put(done)

    worker = threading.Thread(target=run, name="copy-to-stdout", daemon=True)
    worker.start()
    try:
        while (chunk := chunks.get()) is not done:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk if isinstance(chunk, bytes) else chunk.encode()
    finally:
        cancelled.set()
        while worker.is_alive():  # unblock the writer, then let it finish
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)


def _reduced_date(statement) -> str:
    """ISO 8601 at the date's precision: 2020-01-09, 2020-01 or 2020."""
    if not statement.said_on:
        return ""
    return {
        models.DatePrecision.DAY: statement.said_on.isoformat(),
        models.DatePrecision.MONTH: statement.said_on.strftime("%Y-%m"),
        models.DatePrecision.YEAR: statement.said_on.strftime("%Y"),
    }[statement.said_on_precision]


# ---------------------------------------------------------------- claims

CLAIM_COLUMNS = [
    "id",
    "status",
    "text",
    "statement",
    "speakers",
    "said_on",
    "topics",
    "verdicts",
    "reviewers",
    "review_urls",
    "created_at",
    "updated_at",
]


def claims_for_export(queryset: QuerySet, reviews: QuerySet) -> QuerySet:
    return queryset.select_related("statement").prefetch_related(
        Prefetch("statement__speaker_roles", models.StatementSpeaker.objects.select_related("speaker")),
        "topics",
        Prefetch("reviews", reviews.select_related("reviewer").order_by("published_on", "id")),
    )


def claim_record(claim: models.Claim) -> dict:
    statement = claim.statement
    reviews = list(claim.reviews.all())
    return {
        "id": str(claim.public_id),
        "status": claim.status,
        "text": claim.text,
        "statement": str(statement.public_id) if statement else "",
        "speakers": [r.speaker.slug for r in statement.speaker_roles.all()] if statement else [],
        "said_on": _reduced_date(statement) if statement else "",
        "topics": sorted(t.slug for t in claim.topics.all()),
        "verdicts": [r.verdict for r in reviews],
        "reviewers": [r.reviewer.slug for r in reviews],
        "review_urls": [r.url for r in reviews if r.url],
        "created_at": claim.created_at.isoformat(),
        "updated_at": claim.updated_at.isoformat(),
    }


# ---------------------------------------------------------------- ClaimReview


def reviews_for_claimreview(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("claim__statement", "reviewer").prefetch_related(
        Prefetch(
            "claim__statement__speaker_roles", models.StatementSpeaker.objects.select_related("speaker")
        ),
        Prefetch(
            "claim__statement__appearances",
            models.Appearance.objects.select_related("source__outlet").order_by("-is_first", "id"),
        ),
    )


def _organisation_or_person(speaker: models.Speaker) -> dict:
    person = {
        "@type": "Person" if speaker.kind == models.SpeakerKind.PERSON else "Organization",
        "name": speaker.name,
    }
    if speaker.wikidata_qid:
        person["sameAs"] = speaker.wikidata_url
    return person


def _creative_work(source: models.Source) -> dict:
    work = {"@type": "CreativeWork"}
    if source.url:
        work["url"] = source.url
    if source.title:
        work["headline"] = source.title
    else:
        work["name"] = str(source)
    if source.published_on:
        work["datePublished"] = source.published_on.isoformat()
    if source.outlet_id:
        work["publisher"] = {"@type": "Organization", "name": source.outlet.name}
    return work


def claimreview(review: models.Review) -> dict:
    """One review as schema.org ClaimReview JSON-LD (Google's fact-check markup)."""
    claim = review.claim
    statement = claim.statement
    reviewer = review.reviewer
    author = {"@type": "Organization", "name": reviewer.name}
    if reviewer.homepage:
        author["url"] = reviewer.homepage
    rating = {"@type": "Rating", "alternateName": review.rating_text}
    # The reviewer's own scale, never constants: without one, no numbers are claimed.
    for key, value in (
        ("ratingValue", review.rating_value),
        ("bestRating", review.best_rating),
        ("worstRating", review.worst_rating),
    ):
        if value is not None:
            rating[key] = _number(value)
    item = {"@type": "Claim"}
    if statement is not None:
        speakers = [
            r.speaker
            for r in statement.speaker_roles.all()
            if r.role in (models.SpeakerRole.SPEAKER, models.SpeakerRole.CO_SIGNATORY)
        ]
        if speakers:
            item["author"] = [_organisation_or_person(s) for s in speakers]
        if statement.said_on:
            # When the claim was made (at its known precision), not when it was checked.
            item["datePublished"] = _reduced_date(statement)
        appearances = list(statement.appearances.all())
        if appearances:
            item["appearance"] = [_creative_work(a.source) for a in appearances]
            first = next((a for a in appearances if a.is_first), None)
            if first is not None:
                item["firstAppearance"] = _creative_work(first.source)
    record = {
        "@context": SCHEMA_ORG,
        "@type": "ClaimReview",
        "identifier": str(review.public_id),
        "claimReviewed": claim.text,
        "author": author,
        "reviewRating": rating,
        "itemReviewed": item,
    }
    if review.url:
        record["url"] = review.url
    if review.published_on:
        record["datePublished"] = review.published_on.isoformat()
    if review.summary:
        record["reviewBody"] = review.summary
    return record


def _number(value):
    return int(value) if value == int(value) else float(value)


# ---------------------------------------------------------------- streaming


def stream_csv(records: Iterable[dict], columns: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush():
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return data

    writer.writerow(columns)
    yield flush()
    for n, record in enumerate(records, 1):
        writer.writerow([_joined(v) if isinstance(v, list) else v for v in (record[c] for c in columns)])
        if n % 500 == 0:
            yield flush()
    yield flush()


def stream_jsonl(records: Iterable[dict]) -> Iterator[str]:
    batch = []
    for record in records:
        batch.append(_dumps(record))
        if len(batch) == 500:
            yield "\n".join(batch) + "\n"
            batch = []
    if batch:
        yield "\n".join(batch) + "\n"


def iterate(queryset: QuerySet) -> Iterator:
    """Rows in chunks, related rows prefetched per chunk: memory stays flat."""
    return queryset.iterator(chunk_size=CHUNK)
