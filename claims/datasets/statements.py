"""The statements CSV and JSON Lines: written by PostgreSQL's COPY, read back by ``import_statements``."""

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from .. import models, services
from ..documents.public import PUBLIC_SQL
from ..documents.statements import TIMESTAMP, json_list, precision_text, said_on_text
from ..serializers import StatementWriteSerializer
from .reading import ImportRejected, Report, loads, partial_date
from .streaming import JSONL_COPY_OPTIONS, copy_to_stdout, selected_ids

STATEMENT_COLUMNS = [
    "id",
    *models.STATEMENT_CONTENT_FIELDS,
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


def _copy_statements(template: str, statements: QuerySet[Any]) -> Iterator[bytes]:
    ids_sql, params = selected_ids(statements)
    return copy_to_stdout(template.format(ids=ids_sql), params)


def statements_csv(statements: QuerySet[Any], *, public_only: bool = False) -> Iterator[bytes]:
    """The filtered statements as CSV, produced by PostgreSQL's COPY and streamed as it comes.
    ``public_only``: for readers who see no drafts (no draft's id in ``responds_to``)."""
    return _copy_statements(statements_csv_sql(public_only=public_only), statements)


def statements_jsonl(statements: QuerySet[Any], *, public_only: bool = False) -> Iterator[bytes]:
    """The filtered statements as JSON Lines: their stored lines (``documents.statements.statement_line``),
    written out by PostgreSQL's COPY and streamed as they come.

    Each record carries the statement's appearances whole, so the file imports
    back (``import_statements``). ``public_only`` as for ``statements_csv``.
    """
    return _copy_statements(statements_jsonl_sql(public_only=public_only), statements)


def read_statement_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) from the statements JSON Lines or CSV that the API exports."""
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("["):
        try:
            loads(text)
        except json.JSONDecodeError as error:
            raise ImportRejected(
                [f"line {error.lineno}: not JSON ({error.msg}, column {error.colno})"]
            ) from None
        raise ImportRejected(
            ["A JSON array: the statements import reads JSON Lines (one object a line) or CSV."]
        )
    if lines and lines[0].lstrip().startswith("{"):
        rows, problems = [], []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"line {n}: not JSON ({error.msg}, column {error.colno})")
                continue
            if not isinstance(record, dict):
                problems.append(f"line {n}: expected a JSON object")
                continue
            rows.append((n, record))
        if problems:
            raise ImportRejected(problems)
        return rows
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise ImportRejected([f"line 1: not JSON Lines, nor CSV as the export writes it ({error})"]) from None
    if not header or "text" not in header:
        raise ImportRejected(
            ["Expected the statements JSON Lines or CSV export (a header with a text column)."]
        )
    rows = []
    try:
        for n, row in enumerate(reader, 2):
            rows.append((n, _csv_record(row)))
    except csv.Error as error:
        raise ImportRejected([f"line {reader.line_num}: not CSV as the export writes it ({error})"]) from None
    return rows


def _csv_record(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV row as the record a JSON Lines line gives."""
    record = dict(row)
    for column in ("speakers", "speaker_roles", "topics", "source_urls", "responds_to"):
        record[column] = [v for v in (record.get(column) or "").split("; ") if v]
    # CSV quotes cannot be paired with their sources: a new statement gets its appearances
    # from the URLs; an existing one keeps its appearances as they are.
    record["appearances"] = None
    return record


def _statement_data(record: dict[str, Any], problems: list[str], where: str, *, new: bool) -> dict[str, Any]:
    said_on, precision = partial_date(record.get("said_on") or None, problems, where, "said_on")
    speakers = record.get("speakers") or []
    roles = record.get("speaker_roles") or []
    if roles and len(roles) != len(speakers):
        problems.append(f"{where}: speaker_roles has {len(roles)} entries for {len(speakers)} speakers")
    data = {
        key: record.get(key) or ""
        for key in models.STATEMENT_CONTENT_FIELDS
        if key not in ("said_on", "said_on_precision")
    }
    data = {
        k: v
        for k, v in data.items()
        if v != "" or k in ("original_text", "original_language", "place", "context")
    }
    data["said_on"] = said_on
    data["said_on_precision"] = record.get("said_on_precision") or precision
    data["speakers"] = [
        {"speaker": slug, **({"role": roles[i]} if i < len(roles) else {})} for i, slug in enumerate(speakers)
    ]
    data["topics"] = list(record.get("topics") or [])
    given = record.get("appearances")
    if given is None and not new:
        return data  # appearances left alone
    if given is None:
        given = [{"url": url} for url in record.get("source_urls") or []]
    appearances = []
    for appearance in given:
        source = appearance.get("source")
        url = appearance.get("url") or ""
        if not source and url:
            found = models.Source.objects.filter(url=url).values_list("public_id", flat=True).first()
            source = str(found) if found else None
            if source is None:
                problems.append(f"{where}: no source with URL {url!r} (import or log the source first)")
                continue
        appearances.append(
            {
                "source": source,
                "quote": appearance.get("quote") or "",
                "is_first": bool(appearance.get("is_first")),
            }
        )
    data["appearances"] = appearances
    return data


def _differs(statement: models.Statement, data: dict[str, Any]) -> bool:
    """Whether importing ``data`` would change the statement or its speakers, topics or appearances."""
    relations = ("speakers", "topics", "appearances", "links")
    if any(getattr(statement, k) != v for k, v in data.items() if k not in relations):
        return True
    speakers = [(r["speaker"].pk, r["role"]) for r in data.get("speakers", [])]
    if speakers != [(r.speaker_id, r.role) for r in statement.speaker_roles.order_by("position", "id")]:
        return True
    if {t.pk for t in data.get("topics", [])} != set(statement.topics.values_list("pk", flat=True)):
        return True
    if "appearances" not in data:
        return False
    appearances = {(a["source"].pk, a["quote"], a["is_first"]) for a in data["appearances"]}
    return appearances != set(statement.appearances.values_list("source_id", "quote", "is_first"))


def import_statements(*, text: str, progress: Callable[[list[Any]], Iterable[Any]] | None = None) -> Report:
    """The statements export read back: validated first, matched by public id, all or nothing.

    Speakers, topics and sources must already exist (a Data Package carries
    them all); links (``responds_to``) may point to statements later in the file.
    """
    report = Report()
    problems: list[str] = []
    prepared = []
    ids_in_file: dict[str, int] = {}  # id: the line it is first on
    for line, record in read_statement_rows(text):
        where = f"line {line}"
        public_id = record.get("id") or None
        if public_id:
            try:
                public_id = str(uuid.UUID(str(public_id)))
            except ValueError:
                problems.append(f"{where}: id {public_id!r} is not a UUID")
                continue
            if public_id in ids_in_file:
                problems.append(
                    f"{where}: id {public_id} appears twice (first on line {ids_in_file[public_id]})"
                )
                continue
            ids_in_file[public_id] = line
        existing = models.Statement.objects.filter(public_id=public_id).first() if public_id else None
        data = _statement_data(record, problems, where, new=existing is None)
        serializer = StatementWriteSerializer(instance=existing, data=data, context={"operator": True})
        if not serializer.is_valid():
            for field_name, messages in serializer.errors.items():
                problems.append(f"{where}: {field_name}: {messages}")
            continue
        prepared.append((line, public_id, existing, serializer, list(record.get("responds_to") or [])))
    for line, _, _, _, targets in prepared:
        for target in targets:
            if target not in ids_in_file and not models.Statement.objects.filter(public_id=target).exists():
                problems.append(
                    f"line {line}: responds_to {target} is neither in the file nor in the archive"
                )
    if problems:
        raise ImportRejected(problems)
    with transaction.atomic():
        saved = {}
        for line, public_id, existing, serializer, _ in progress(prepared) if progress else prepared:
            if existing is None:
                saved[line] = serializer.save(**({"public_id": public_id} if public_id else {}))
                report.created["statements"] += 1
            elif _differs(existing, serializer.validated_data):
                saved[line] = serializer.save()
                report.updated["statements"] += 1
            else:  # not saved: its updated_at and history stay as they are
                saved[line] = existing
                report.unchanged["statements"] += 1
        for line, _, _, _, targets in prepared:
            statement = saved[line]
            links = [{"type": models.LinkType.RESPONDS_TO, "statement": t, "note": ""} for t in targets]
            kept = [
                {"type": link.type, "statement": str(link.to_statement.public_id), "note": link.note}
                for link in statement.outgoing_links.exclude(type=models.LinkType.RESPONDS_TO).select_related(
                    "to_statement"
                )
            ]
            writer = StatementWriteSerializer(
                statement, data={"links": kept + links}, partial=True, context={"operator": True}
            )
            writer.is_valid(raise_exception=True)
            services.replace_statement_relations(
                statement=statement, user=None, links=writer.validated_data["links"]
            )
    return report
