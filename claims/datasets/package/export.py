"""Writing a data package: one CSV per table, by PostgreSQL's COPY."""

import contextlib
import datetime
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from ... import models
from ...documents import public
from .. import claimreview, streaming
from .schema import BY_NAME, MANY, SCHEMA_VERSION, TABLES, Column, Table, _table_schema

# A JSON array of strings as json.dumps writes one ('["a", "b"]'): ``value`` of each row of the
# query it is put in, in ``order``; '[]' for none.
_JSON_LIST = "coalesce('[' || string_agg(to_json({value})::text, ', ' ORDER BY {order}) || ']', '[]')"


def _cell_sql(table: Table, column: Column, joins: list[str]) -> str:
    """The column's cell for the row ``t`` as text, NULL for an empty cell (adds the joins
    it needs). Each format is the one the import reads back: UUIDs hyphenated, timestamps
    in UTC with ``Z`` (microseconds when not 0), dates ISO 8601, numbers without trailing
    zeros, booleans ``true``/``false``, lists as JSON arrays (topics by slug and evidence by
    id, sorted by code point)."""
    model = table.model
    if column.name == "id":
        return "t.public_id::text"
    if column.name in MANY:
        field = model._meta.get_field(column.name)
        through = field.remote_field.through._meta.db_table
        value = "g.slug" if MANY[column.name] == "slug" else "g.public_id::text"
        listed = _JSON_LIST.format(value=value, order=value + ' COLLATE "C"')
        return (
            f"(SELECT {listed} FROM {through} x "
            f"JOIN {field.related_model._meta.db_table} g ON g.id = x.{field.m2m_reverse_field_name()}_id "
            f"WHERE x.{field.m2m_field_name()}_id = t.id)"
        )
    db_column = f"t.{model._meta.get_field(column.name).column}"
    if column.ref:
        alias = f"r_{column.name}"
        joins.append(
            f"LEFT JOIN {BY_NAME[column.ref].model._meta.db_table} {alias} ON {alias}.id = {db_column}"
        )
        return f"{alias}.public_id::text"
    return {
        "array": f"(SELECT {_JSON_LIST.format(value='e', order='n')} FROM unnest({db_column}) WITH ORDINALITY u(e, n))",
        "boolean": f"CASE WHEN {db_column} THEN 'true' WHEN NOT {db_column} THEN 'false' END",
        "datetime": public.timestamp(db_column),
        "date": f"to_char({db_column}, 'YYYY-MM-DD')",
        "number": f"trim_scale({db_column})::text",
        "integer": f"{db_column}::text",
    }.get(column.type, f"nullif({db_column}, '')")


def _copy_sql(table: Table, selected: QuerySet[Any] | None) -> tuple[str, Any]:
    """COPY of the table's CSV file: the rows of ``selected`` (a queryset; None: all), ordered by
    creation (then id), or by their key."""
    joins: list[str] = []
    cells = [f'{_cell_sql(table, column, joins)} AS "{column.name}"' for column in table.columns]
    where, params = "", ()
    if selected is not None:
        ids_sql, params = streaming.selected_ids(selected)
        where = f"WHERE t.id IN ({ids_sql})"
    if table.identified:
        order = "t.created_at, t.public_id"
    else:
        order = ", ".join(f"r_{k}.public_id" if k not in ("role", "type") else f"t.{k}" for k in table.key)
    return (
        f"COPY (SELECT {', '.join(cells)} FROM {table.model._meta.db_table} t {' '.join(joins)} "
        f"{where} ORDER BY {order}) TO STDOUT WITH (FORMAT csv, HEADER, ENCODING 'UTF8')",
        list(params),
    )


class _Rows:
    """A binary file that counts the rows COPY writes into it (one write a row) and
    advances a progress bar by them."""

    def __init__(self, file: Any, bar: Any) -> None:
        self.file, self.bar, self.count, self.pending = file, bar, -1, 0  # the header is no row

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.count += 1
        self.pending += self.count > 0
        if self.bar is not None and self.pending >= 10_000:
            self.bar.update(self.pending)
            self.pending = 0


# What the selected statements ({ids}: their ids) need beyond their own rows: the sources
# they appeared in, that their reviews cite as evidence, and what those cite in turn; the
# outlets of those sources and the reviewers; their speakers, and the organisations those
# speakers are affiliated with. Topics are exported whole (a small vocabulary).
_REVIEWS = "SELECT r.id, r.reviewer_id FROM claims_review r JOIN claims_claim c ON c.id = r.claim_id WHERE c.statement_id IN ({ids})"
NEEDED_SOURCES = f"""
WITH RECURSIVE needed(id) AS (
    SELECT source_id FROM claims_appearance WHERE statement_id IN ({{ids}})
    UNION SELECT e.source_id FROM claims_review_evidence e WHERE e.review_id IN (SELECT id FROM ({_REVIEWS}) r)
    UNION SELECT s.cites_id FROM claims_source s JOIN needed n ON n.id = s.id WHERE s.cites_id IS NOT NULL
) SELECT id FROM needed"""
NEEDED_OUTLETS = f"""
SELECT outlet_id FROM claims_source WHERE outlet_id IS NOT NULL AND id IN ({NEEDED_SOURCES})
UNION SELECT reviewer_id FROM ({_REVIEWS}) r"""
SPOKEN = "SELECT speaker_id FROM claims_statementspeaker WHERE statement_id IN ({ids})"
NEEDED_SPEAKERS = f"""
{SPOKEN} UNION SELECT organisation_id FROM claims_affiliation WHERE speaker_id IN ({SPOKEN})"""


def _needed(template: str, statements: QuerySet[Any]) -> RawSQL:
    """The ids ``template`` selects for these statements (a queryset of their pks)."""
    ids_sql, params = statements.query.sql_with_params()
    return RawSQL(template.format(ids=ids_sql), params * template.count("{ids}"))


def _selected(
    table: Table, statements: QuerySet[Any] | None, *, public_only: bool = False
) -> QuerySet[Any] | None:
    """The rows of ``table`` the selected statements need (a queryset), or None for the
    whole table (statements=None). ``public_only``: of claims and reviews, only the public
    ones (and only reviews of public claims), for a package of public statements."""
    if statements is None:
        return None
    qs = table.model._default_manager.all()
    if public_only and table.name == "claims":
        qs = qs.filter(status__in=models.StatusQuerySet.PUBLIC_STATUSES)
    if public_only and table.name == "reviews":
        public = models.StatusQuerySet.PUBLIC_STATUSES
        qs = qs.filter(status__in=public, claim__status__in=public)
    selected = {
        "speakers": lambda: qs.filter(pk__in=_needed(NEEDED_SPEAKERS, statements)),
        "affiliations": lambda: qs.filter(speaker__in=_needed(SPOKEN, statements)),
        "outlets": lambda: qs.filter(pk__in=_needed(NEEDED_OUTLETS, statements)),
        "sources": lambda: qs.filter(pk__in=_needed(NEEDED_SOURCES, statements)),
        "statements": lambda: qs.filter(pk__in=statements),
        "statement_speakers": lambda: qs.filter(statement__in=statements),
        "appearances": lambda: qs.filter(statement__in=statements),
        "statement_links": lambda: qs.filter(from_statement__in=statements, to_statement__in=statements),
        "claims": lambda: qs.filter(statement__in=statements),
        "reviews": lambda: qs.filter(claim__statement__in=statements),
    }.get(table.name)
    return selected() if selected else None


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """One view of the archive for every file of a package: a REPEATABLE READ, read-only
    transaction (inside an enclosing transaction, that one's). Otherwise a record written
    while the files are written could be in one file and not in another (an appearance
    whose statement is missing), and the package would not import."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def export_package(
    directory: Path,
    *,
    statements: QuerySet[Any] | None = None,
    filters: dict[str, Any] | None = None,
    progress: Callable[[str], Any] | None = None,
    public_only: bool = False,
) -> dict[str, Any]:
    """Write the package into ``directory``; return the counts per table. ``public_only``
    (with ``statements``): leave out draft claims and reviews, and reviews of draft claims."""
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with _snapshot():
        for table in TABLES:
            sql, params = _copy_sql(table, _selected(table, statements, public_only=public_only))
            bar = progress(table.name) if progress is not None else None
            with (directory / f"{table.name}.csv").open("wb") as file, connection.cursor() as cursor:
                rows = _Rows(file, bar)
                cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params or None).decode(), rows)
            if bar is not None:
                bar.update(rows.pending)
                bar.close()
            counts[table.name] = rows.count
        reviews = _selected(BY_NAME["reviews"], statements, public_only=public_only)
        with (directory / "claimreview.jsonl").open("wb") as f:
            claimreview.write_claimreviews(models.Review.objects.all() if reviews is None else reviews, f)
    package: dict[str, Any] = {
        "profile": "data-package",
        "name": "claim-tracker-archive",
        "title": "Claim tracker archive: who said what, when, and where we know it from",
        "created": timezone.now().astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "licenses": [{"name": settings.DATASET_LICENSE}],
        "claims:schema_version": SCHEMA_VERSION,
        "claims:filters": filters or {},
        "claims:counts": counts,
        "claims:claimreview": "claimreview.jsonl",
        "resources": [
            {
                "name": table.name.replace("_", "-"),
                "path": f"{table.name}.csv",
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": _table_schema(table),
            }
            for table in TABLES
        ],
    }
    for resource in package["resources"]:
        for fk in resource["schema"].get("foreignKeys", []):
            if fk["reference"]["resource"]:
                fk["reference"]["resource"] = fk["reference"]["resource"].replace("_", "-")
    (directory / "datapackage.json").write_text(
        json.dumps(package, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return counts
