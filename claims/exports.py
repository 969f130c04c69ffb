"""Dataset formats: querysets in, rows and records out; used by the API and the commands.

Everything here streams, so memory stays flat whatever the size. Statements
and ClaimReview are written by PostgreSQL itself (``COPY ... TO STDOUT`` of
the queryset's ids, see ``copy_to_stdout``); claims are built in Python from
the queryset read in chunks, related rows prefetched per chunk.
"""

import contextlib
import csv
import io
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, connections, router
from django.db.models import Prefetch, QuerySet

from . import models
from .documents.public import PUBLIC_SQL
from .documents.statements import TIMESTAMP, json_list, precision_text, said_on_text

CHUNK = 2000
# Bytes of COPY output handed on at a time.
COPY_BLOCK = 64 * 1024
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


# A statement's stored responds_to list names every statement it responds to, drafts too. For
# readers who see no drafts, the (few) statements that respond to a draft get the list of the
# public ones instead, built at export time; every other row's stored list is already right.
_RESPONDS_TO_A_DRAFT = f"""(s.export_responds_to <> '' AND EXISTS (
        SELECT 1 FROM claims_statementlink hl JOIN claims_statement ht ON ht.id = hl.to_statement_id
        WHERE hl.from_statement_id = s.id AND hl.type = 'responds_to' AND ht.status NOT IN {PUBLIC_SQL}))"""
_PUBLIC_RESPONSES = f"""coalesce((
        SELECT string_agg(pt.public_id::text, '; ' ORDER BY pl.id)
        FROM claims_statementlink pl JOIN claims_statement pt ON pt.id = pl.to_statement_id
        WHERE pl.from_statement_id = s.id AND pl.type = 'responds_to' AND pt.status IN {PUBLIC_SQL}), '')"""


def statements_csv_sql(*, public_only: bool = False) -> str:
    responds_to = (
        f"CASE WHEN {_RESPONDS_TO_A_DRAFT} THEN {_PUBLIC_RESPONSES} ELSE s.export_responds_to END"
        if public_only
        else "s.export_responds_to"
    )
    return f"""
COPY (
    SELECT s.public_id AS id, s.status, s.text, s.text_type, s.original_text, s.original_language, s.language,
        {said_on_text()} AS said_on, {precision_text()} AS said_on_precision, s.place, s.context,
        s.export_speakers AS speakers, s.export_speaker_roles AS speaker_roles, s.export_topics AS topics,
        s.export_source_urls AS source_urls, s.export_quotes AS quotes, {responds_to} AS responds_to,
        {TIMESTAMP.format("s.created_at")} AS created_at, {TIMESTAMP.format("s.updated_at")} AS updated_at
    FROM claims_statement s WHERE s.id IN ({{ids}}) ORDER BY s.id
) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')
"""


STATEMENTS_CSV_SQL = statements_csv_sql()


# One JSON object per line. COPY's CSV format with a quote and a delimiter
# that JSON text never contains raw (it escapes control characters) writes
# each stored line exactly as PostgreSQL produced it.
JSONL_COPY_OPTIONS = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02', ENCODING 'UTF8'"


def statements_jsonl_sql(*, public_only: bool = False) -> str:
    # The stored line's "responds_to" array, replaced for a statement that responds to a draft:
    # the key occurs once, and nowhere else unescaped (text values escape their quotes).
    line = (
        f"""CASE WHEN {_RESPONDS_TO_A_DRAFT} THEN regexp_replace(s.export_jsonl, '"responds_to":\\[[^]]*\\]',
            '"responds_to":' || ({json_list(_PUBLIC_RESPONSES)})::text) ELSE s.export_jsonl END"""
        if public_only
        else "s.export_jsonl"
    )
    return f"""
COPY (SELECT {line} FROM claims_statement s WHERE s.id IN ({{ids}}) ORDER BY s.id)
TO STDOUT WITH ({JSONL_COPY_OPTIONS})
"""


STATEMENTS_JSONL_SQL = statements_jsonl_sql()


def selected_ids(queryset: QuerySet) -> tuple[str, tuple]:
    """The SQL (and its parameters) selecting the ids of a filtered queryset, to embed in a COPY."""
    return queryset.order_by().values("pk").query.sql_with_params()


def _copy_statements(template: str, statements: QuerySet) -> Iterator[bytes]:
    ids_sql, params = selected_ids(statements)
    return copy_to_stdout(template.format(ids=ids_sql), params)


def statements_csv(statements: QuerySet, *, public_only: bool = False) -> Iterator[bytes]:
    """The filtered statements as CSV, produced by PostgreSQL's COPY and streamed as it comes.
    ``public_only``: for readers who see no drafts (no draft's id in ``responds_to``)."""
    return _copy_statements(statements_csv_sql(public_only=public_only), statements)


def statements_jsonl(statements: QuerySet, *, public_only: bool = False) -> Iterator[bytes]:
    """The filtered statements as JSON Lines: their stored lines (``documents.statements.statement_line``),
    written out by PostgreSQL's COPY and streamed as they come.

    Each record carries the statement's appearances whole, so the file imports
    back (``import_statements``). ``public_only`` as for ``statements_csv``.
    """
    return _copy_statements(statements_jsonl_sql(public_only=public_only), statements)


class _Cancelled(Exception):
    pass


def copy_to_stdout(sql: str, params) -> Iterator[bytes]:
    """Stream the output of ``COPY ... TO STDOUT`` while PostgreSQL writes it, from a read
    replica when the request may read from one (chosen now: the stream runs after the view)."""
    return _copy_stream(sql, params, router.db_for_read(models.Statement))


def _copy_stream(sql: str, params, alias: str) -> Iterator[bytes]:
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
        """Receives COPY's output a row at a time; hands it on in blocks of about 64 kB."""

        def __init__(self):
            self.rows, self.size = [], 0

        def write(self, data):
            self.rows.append(data if isinstance(data, bytes) else data.encode())
            self.size += len(data)
            if self.size >= COPY_BLOCK:
                self.flush()

        def flush(self):
            if not self.rows:
                return
            block, self.rows, self.size = b"".join(self.rows), [], 0
            while not cancelled.is_set():
                try:
                    chunks.put(block, timeout=0.5)
                    return
                except queue.Full:
                    continue
            raise _Cancelled

    def run():
        connection = connections[alias]  # this thread's own connection
        try:
            with connection.cursor() as cursor:
                # One big sort-and-aggregate: in memory, not spilled to disk.
                cursor.execute("SET work_mem = %s", [EXPORT_WORK_MEM])
                # A whole export may take longer than one request's query may (settings).
                cursor.execute("SET statement_timeout = %s", [settings.EXPORT_STATEMENT_TIMEOUT_MS])
                sink = Sink()
                cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params).decode(), sink)
                sink.flush()
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
            yield chunk
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


def claim_record(claim: models.Claim, *, public_only: bool = False) -> dict:
    """``public_only``: for readers who see no drafts, a draft statement is no statement."""
    statement = claim.statement
    if public_only and statement is not None and not statement.is_public:
        statement = None
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


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _creative_work(source: str, outlet: str) -> str:
    """A source as a schema.org CreativeWork; untitled ones are named as Source.__str__ names them."""
    kinds = " ".join(
        f"WHEN {_sql_text(value)} THEN {_sql_text(str(label))}" for value, label in models.SourceKind.choices
    )
    label = (
        f"(CASE {source}.kind {kinds} ELSE {source}.kind END"
        f" || coalesce(' by ' || {outlet}.name, '')"
        f" || coalesce(', ' || to_char({source}.published_on, 'DD FMMonth YYYY'), ''))"
    )
    return f"""json_build_object(
        '@type', 'CreativeWork', 'url', NULLIF({source}.url, ''), 'headline', NULLIF({source}.title, ''),
        'name', CASE WHEN {source}.title = '' THEN {label} END, 'datePublished', {source}.published_on,
        'publisher', CASE WHEN {outlet}.id IS NOT NULL THEN json_build_object('@type', 'Organization', 'name', {outlet}.name) END)"""


def claimreview_sql(ids_sql: str, *, public_only: bool = False) -> str:
    """One row per review (``ids_sql`` selects their ids): its schema.org ClaimReview as JSON text.

    Google's fact-check markup: the reviewer as author, the rating on the
    reviewer's own scale (no numbers when it has none, never constants), and
    the claim with its speakers (``sameAs`` Wikidata when known), when it was
    made (at its precision, not when it was checked), and where it appeared.
    Fields without a value are left out (``json_strip_nulls``). Speakers and
    sources are aggregated per statement set-based, not looked up per review.
    ``public_only`` (readers who see no drafts): a claim's draft statement is left out,
    with its speakers, date and appearances.
    """
    work = _creative_work("so", "po")
    statement_id = (
        f"(SELECT cs.id FROM claims_statement cs WHERE cs.id = c.statement_id AND cs.status IN {PUBLIC_SQL})"
        if public_only
        else "c.statement_id"
    )
    return f"""
    WITH selected AS MATERIALIZED (
        SELECT r.id, r.public_id, r.rating_text, r.rating_value, r.best_rating, r.worst_rating, r.url,
               r.published_on, r.summary, r.reviewer_id, c.text AS claim_text, {statement_id} AS statement_id
        FROM claims_review r JOIN claims_claim c ON c.id = r.claim_id
        WHERE r.id IN ({ids_sql})
    ), authors AS (
        SELECT ss.statement_id, json_agg(json_build_object(
                '@type', CASE WHEN sp.kind = 'person' THEN 'Person' ELSE 'Organization' END,
                'name', sp.name, 'sameAs', 'https://www.wikidata.org/wiki/' || NULLIF(sp.wikidata_qid, ''))
                ORDER BY ss.position, ss.id) AS authors
        FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id
        WHERE ss.statement_id IN (SELECT statement_id FROM selected) AND ss.role IN ('speaker', 'co_signatory')
        GROUP BY 1
    ), works AS (
        SELECT a.statement_id, json_agg({work} ORDER BY a.is_first DESC, a.id) AS works,
               (array_agg({work} ORDER BY a.id) FILTER (WHERE a.is_first))[1] AS first
        FROM claims_appearance a JOIN claims_source so ON so.id = a.source_id
        LEFT JOIN claims_outlet po ON po.id = so.outlet_id
        WHERE a.statement_id IN (SELECT statement_id FROM selected)
        GROUP BY 1
    )
    SELECT json_strip_nulls(json_build_object(
        '@context', {_sql_text(SCHEMA_ORG)}, '@type', 'ClaimReview', 'identifier', r.public_id,
        'claimReviewed', r.claim_text,
        'author', json_build_object('@type', 'Organization', 'name', o.name, 'url', NULLIF(o.homepage, '')),
        'reviewRating', json_build_object(
            '@type', 'Rating', 'alternateName', r.rating_text, 'ratingValue', trim_scale(r.rating_value),
            'bestRating', trim_scale(r.best_rating), 'worstRating', trim_scale(r.worst_rating)),
        'itemReviewed', json_build_object(
            '@type', 'Claim', 'author', au.authors, 'datePublished', NULLIF({said_on_text("st")}, ''),
            'appearance', w.works, 'firstAppearance', w.first),
        'url', NULLIF(r.url, ''), 'datePublished', r.published_on, 'reviewBody', NULLIF(r.summary, '')))
    FROM selected r
    JOIN claims_outlet o ON o.id = r.reviewer_id
    LEFT JOIN claims_statement st ON st.id = r.statement_id
    LEFT JOIN authors au ON au.statement_id = r.statement_id
    LEFT JOIN works w ON w.statement_id = r.statement_id
    ORDER BY r.id
    """


def _claimreviews_copy(reviews: QuerySet, *, public_only: bool = False) -> tuple[str, tuple]:
    ids_sql, params = selected_ids(reviews)
    sql = claimreview_sql(ids_sql, public_only=public_only)
    return f"COPY ({sql}) TO STDOUT WITH ({JSONL_COPY_OPTIONS})", params


def claimreviews_jsonl(reviews: QuerySet, *, public_only: bool = False) -> Iterator[bytes]:
    """The reviews as ClaimReview JSON Lines, built by PostgreSQL and streamed as it comes."""
    return copy_to_stdout(*_claimreviews_copy(reviews, public_only=public_only))


def write_claimreviews(reviews: QuerySet, file) -> None:
    """The reviews as ClaimReview JSON Lines into a binary file, on this connection (and transaction)."""
    sql, params = _claimreviews_copy(reviews)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params).decode(), file)


def claimreview(review: models.Review, *, public_only: bool = False) -> dict:
    """One review as a ClaimReview object."""
    with connection.cursor() as cursor:
        cursor.execute(claimreview_sql("%s", public_only=public_only), [review.pk])
        return cursor.fetchone()[0]  # psycopg2 parses JSON


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


class ExportRows:
    """Rows in chunks, related rows prefetched per chunk: memory stays flat.

    Read on the request's connection under the exports' time limit
    (``EXPORT_STATEMENT_TIMEOUT_MS``, as the COPY exports on their own connections), not the
    web requests' (``DATABASE_STATEMENT_TIMEOUT_MS``), which would cut a long export short.
    Nothing is read before the first row is asked for; ``close()`` (at the end of the rows, or
    when the response is closed, a reader gone) gives the connection its own limit back."""

    def __init__(self, queryset: QuerySet):
        self._queryset, self._closed = queryset, False
        self._rows: Iterator[Any] | None = None
        self._first: list = []

    def start(self) -> None:
        """Read the first chunk now (the view does, so that a database that is down is an
        ordinary error answer, a 503, instead of a body that breaks before its first byte)."""
        if self._rows is not None or self._closed:
            return
        with connections[self._queryset.db].cursor() as cursor:
            cursor.execute("SET statement_timeout = %s", [settings.EXPORT_STATEMENT_TIMEOUT_MS])
        self._rows = self._queryset.iterator(chunk_size=CHUNK)
        self._first = [row for row in [next(self._rows, None)] if row is not None]

    def __iter__(self):
        return self

    def __next__(self):
        self.start()
        if self._first:
            return self._first.pop()
        if self._rows is None:  # closed before it started
            raise StopIteration
        try:
            return next(self._rows)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._rows is not None:
            with contextlib.suppress(DatabaseError), connections[self._queryset.db].cursor() as cursor:
                cursor.execute("RESET statement_timeout")


def iterate(queryset: QuerySet) -> ExportRows:
    return ExportRows(queryset)
