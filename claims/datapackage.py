"""The archive as a Frictionless Data Package: one CSV per table, read back losslessly.

Every record is identified by its public UUID and refers to others by theirs,
so packages from different installations can be merged, and exporting,
importing into an empty database and exporting again gives identical files
(apart from the generation time in datapackage.json).
"""

import csv
import datetime
import io
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from . import exports, models, search
from .imports import ImportRejected, Report, check_size
from .services import record_missing_history

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"  # Table Schema type
    ref: str = ""  # another table this column refers to (by public id)
    enum: tuple = ()
    required: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    model: type
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ("id",)

    @property
    def identified(self) -> bool:
        return self.key == ("id",)


def _audit():
    return (Column("created_at", "datetime", required=True), Column("updated_at", "datetime", required=True))


def _status():
    return Column("status", enum=tuple(models.Status.values), required=True)


ID = Column("id", required=True)
TABLES = (
    Table(
        "topics",
        models.Topic,
        (ID, Column("slug", required=True), Column("name", required=True), Column("description"), *_audit()),
    ),
    Table(
        "speakers",
        models.Speaker,
        (
            ID,
            Column("slug", required=True),
            Column("name", required=True),
            Column("kind", enum=tuple(models.SpeakerKind.values), required=True),
            Column("aliases", "array"),
            Column("description"),
            Column("wikidata_qid"),
            *_audit(),
        ),
    ),
    Table(
        "affiliations",
        models.Affiliation,
        (
            ID,
            Column("speaker", ref="speakers", required=True),
            Column("organisation", ref="speakers", required=True),
            Column("role", required=True),
            Column("start_date", "date"),
            Column("end_date", "date"),
            *_audit(),
        ),
    ),
    Table(
        "outlets",
        models.Outlet,
        (
            ID,
            Column("slug", required=True),
            Column("name", required=True),
            Column("kind", enum=tuple(models.OutletKind.values), required=True),
            Column("homepage"),
            Column("country"),
            Column("language"),
            Column("description"),
            *_audit(),
        ),
    ),
    Table(
        "sources",
        models.Source,
        (
            ID,
            Column("url"),
            Column("title"),
            Column("outlet", ref="outlets"),
            Column("kind", enum=tuple(models.SourceKind.values), required=True),
            Column("published_on", "date"),
            Column("language"),
            Column("archive_url"),
            Column("description"),
            Column("cites", ref="sources"),
            *_audit(),
        ),
    ),
    Table(
        "statements",
        models.Statement,
        (
            ID,
            _status(),
            Column("text", required=True),
            Column("text_type", enum=tuple(models.TextType.values), required=True),
            Column("original_text"),
            Column("original_language"),
            Column("language", required=True),
            Column("said_on", "date"),
            Column("said_on_precision", enum=tuple(models.DatePrecision.values), required=True),
            Column("place"),
            Column("context"),
            Column("topics", "array"),
            *_audit(),
        ),
    ),
    Table(
        "statement_speakers",
        models.StatementSpeaker,
        (
            Column("statement", ref="statements", required=True),
            Column("speaker", ref="speakers", required=True),
            Column("role", enum=tuple(models.SpeakerRole.values), required=True),
            Column("position", "integer", required=True),
        ),
        key=("statement", "speaker", "role"),
    ),
    Table(
        "appearances",
        models.Appearance,
        (
            ID,
            Column("statement", ref="statements", required=True),
            Column("source", ref="sources", required=True),
            Column("quote"),
            Column("is_first", "boolean", required=True),
            *_audit(),
        ),
    ),
    Table(
        "statement_links",
        models.StatementLink,
        (
            Column("from_statement", ref="statements", required=True),
            Column("to_statement", ref="statements", required=True),
            Column("type", enum=tuple(models.LinkType.values), required=True),
            Column("note"),
        ),
        key=("from_statement", "to_statement", "type"),
    ),
    Table(
        "claims",
        models.Claim,
        (
            ID,
            _status(),
            Column("text", required=True),
            Column("statement", ref="statements"),
            Column("topics", "array"),
            *_audit(),
        ),
    ),
    Table(
        "reviews",
        models.Review,
        (
            ID,
            _status(),
            Column("claim", ref="claims", required=True),
            Column("reviewer", ref="outlets", required=True),
            Column("rating_text", required=True),
            Column("rating_value", "number"),
            Column("best_rating", "number"),
            Column("worst_rating", "number"),
            Column("verdict", enum=tuple(models.Verdict.values), required=True),
            Column("summary"),
            Column("url"),
            Column("published_on", "date"),
            Column("evidence", "array"),
            *_audit(),
        ),
    ),
)
BY_NAME = {t.name: t for t in TABLES}


def _table_schema(table: Table) -> dict:
    fields = []
    for c in table.columns:
        spec = {"name": c.name, "type": c.type}
        constraints = {}
        if c.required:
            constraints["required"] = True
        if c.enum:
            constraints["enum"] = list(c.enum)
        if constraints:
            spec["constraints"] = constraints
        fields.append(spec)
    schema = {"fields": fields, "primaryKey": list(table.key), "missingValues": [""]}
    foreign = [
        {"fields": c.name, "reference": {"resource": "" if c.ref == table.name else c.ref, "fields": "id"}}
        for c in table.columns
        if c.ref and c.type != "array"
    ]
    if foreign:
        schema["foreignKeys"] = foreign
    return schema


# ---------------------------------------------------------------- export


def _cell(value, column: Column) -> str:
    if value is None:
        return ""
    if column.type == "array":
        return json.dumps(value, ensure_ascii=False)
    if column.type == "boolean":
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _row(obj, table: Table) -> list[str]:
    cells = []
    for column in table.columns:
        if column.name == "id":
            value = obj.public_id
        elif column.name == "topics":
            value = sorted(t.slug for t in obj.topics.all())
        elif column.name == "evidence":
            value = sorted(str(s.public_id) for s in obj.evidence.all())
        elif column.ref:
            related = getattr(obj, column.name)
            value = related.public_id if related is not None else None
        else:
            value = getattr(obj, column.name)
        cells.append(_cell(value, column))
    return cells


def _queryset(table: Table, statements):
    """Everything the selected statements need, or the whole table (statements=None)."""
    model = table.model
    qs = model._default_manager.all()
    related = [c.name for c in table.columns if c.ref and c.type != "array"]
    if related:
        qs = qs.select_related(*related)
    if table.name in ("statements", "claims"):
        qs = qs.prefetch_related("topics")
    if table.name == "reviews":
        qs = qs.prefetch_related("evidence")
    if statements is not None:
        selected = {
            "statements": lambda: qs.filter(pk__in=statements),
            "statement_speakers": lambda: qs.filter(statement__in=statements),
            "appearances": lambda: qs.filter(statement__in=statements),
            "statement_links": lambda: qs.filter(from_statement__in=statements, to_statement__in=statements),
            "claims": lambda: qs.filter(statement__in=statements),
            "reviews": lambda: qs.filter(claim__statement__in=statements),
        }.get(table.name)
        if selected:
            qs = selected()
    if table.identified:
        order = ("created_at", "public_id")
    else:
        order = tuple(k if k in ("role", "type") else f"{k}__public_id" for k in table.key)
    return qs.order_by(*order)


def export_package(directory: Path, *, statements=None, filters: dict | None = None, progress=None) -> dict:
    """Write the package into ``directory``; return the counts per table."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        path = directory / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow([c.name for c in table.columns])
            n = 0
            rows = _queryset(table, statements).iterator(chunk_size=exports.CHUNK)
            for obj in progress(rows, table.name) if progress else rows:
                writer.writerow(_row(obj, table))
                n += 1
        counts[table.name] = n
    reviews = _queryset(BY_NAME["reviews"], statements)
    with (directory / "claimreview.jsonl").open("wb") as f:
        exports.write_claimreviews(reviews, f)
    package = {
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


# ---------------------------------------------------------------- import


def _parse(value: str, column: Column):
    if value == "":
        return [] if column.type == "array" else None
    if column.type == "array":
        parsed = json.loads(value)
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ValueError("not a JSON array of strings")
        return [str(uuid.UUID(v)) for v in parsed] if column.ref else parsed
    if column.name == "id" or column.ref:
        return str(uuid.UUID(value))  # one spelling of each id
    if column.type == "date":
        return datetime.date.fromisoformat(value)
    if column.type == "datetime":
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if column.type == "boolean":
        if value not in ("true", "false"):
            raise ValueError("not true or false")
        return value == "true"
    if column.type == "integer":
        return int(value)
    if column.type == "number":
        return Decimal(value)
    return value


def _read(directory: Path, table: Table, problems: list[str]) -> list[dict]:
    path = directory / f"{table.name}.csv"
    if not path.exists():
        problems.append(f"{path.name}: missing")
        return []
    try:
        check_size(path)
    except ImportRejected as rejected:
        problems.extend(rejected.problems)
        return []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            return _read_rows(path, table, problems, reader)
        except UnicodeDecodeError:
            # Text is decoded ahead in blocks: the bad byte is at or after this line.
            problems.append(
                f"{path.name} near line {reader.line_num + 1}: not UTF-8 text; save the file as UTF-8"
            )
            return []


def _read_rows(path: Path, table: Table, problems: list[str], reader) -> list[dict]:
    rows = []
    header = next(reader, [])
    expected = [c.name for c in table.columns]
    if header != expected:
        problems.append(f"{path.name}: the header should be {','.join(expected)}")
        return []
    for line, cells in enumerate(reader, 2):
        if len(cells) != len(expected):
            problems.append(f"{path.name} line {line}: {len(cells)} cells, expected {len(expected)}")
            continue
        row = {}
        for column, cell in zip(table.columns, cells, strict=True):
            if column.required and cell == "":
                problems.append(f"{path.name} line {line}: {column.name} is required")
                continue
            if column.enum and cell and cell not in column.enum:
                problems.append(
                    f"{path.name} line {line}: {column.name} {cell!r} is not one of {', '.join(column.enum)}"
                )
                continue
            if "\x00" in cell:
                problems.append(f"{path.name} line {line}: {column.name} contains a NUL character")
                continue
            try:
                row[column.name] = _parse(cell, column)
            except (ValueError, ArithmeticError) as error:
                problems.append(
                    f"{path.name} line {line}: {column.name} {cell[:40]!r} is not a valid {column.type} ({error})"
                )
        row["_line"] = line
        rows.append(row)
    return rows


def import_package(directory: Path, *, progress=None) -> Report:
    """Read a package back: validate every file first, then write it all in one transaction.

    Rows are written in batches (one query per batch and table for lookups,
    one multi-row INSERT for new rows); the database's constraints catch what
    the per-row checks leave to it, and a batch they refuse is checked row by
    row to name the lines. Statement documents are built once, set-based, at
    the end (the triggers are deferred meanwhile).
    """
    problems: list[str] = []
    if not (directory / "datapackage.json").exists():
        raise ImportRejected([f"{directory}: no datapackage.json"])
    try:
        package = json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ImportRejected([f"datapackage.json: not valid JSON ({error})"]) from None
    if str(package.get("claims:schema_version")) != SCHEMA_VERSION:
        raise ImportRejected(
            [
                f"datapackage.json: schema version {package.get('claims:schema_version')!r}, expected {SCHEMA_VERSION}"
            ]
        )
    data = {table.name: _read(directory, table, problems) for table in TABLES}
    if problems:
        raise ImportRejected(problems)
    report = Report()
    with transaction.atomic():
        writer = _Writer(report)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('claims.defer_documents', 'on', true)")
            try:
                for table in TABLES:
                    rows = data[table.name]
                    writer.write(table, progress(rows, table.name) if progress else rows)
                    if writer.problems:
                        raise ImportRejected(writer.problems)
                if sum(writer.report.created.values()) >= ANALYZE_AFTER:
                    # Statistics for what was just written: the planner would otherwise
                    # take the filled tables for empty ones and build each document by scans.
                    cursor.execute("ANALYZE " + ", ".join(_written_tables()))
                search.build_statement_documents(cursor, writer.statements_to_index())
            finally:
                cursor.execute("SELECT set_config('claims.defer_documents', 'off', true)")
        record_missing_history(reason="Imported from a data package")
    return report


BATCH = 2000
# Rows created after which the import refreshes the tables' statistics before building documents.
ANALYZE_AFTER = 10_000
# Relations that a model's clean() reads: loaded for each batch, not row by row.
CLEANED_RELATIONS = {"affiliations": ("organisation",), "reviews": ("reviewer",)}
# Tables whose changes alter the documents of the statements that use them.
INDEXED_THROUGH = {
    "speakers": "SELECT statement_id FROM claims_statementspeaker WHERE speaker_id = ANY(%s)",
    "sources": "SELECT statement_id FROM claims_appearance WHERE source_id = ANY(%s)",
    "outlets": "SELECT a.statement_id FROM claims_appearance a JOIN claims_source s ON s.id = a.source_id "
    "WHERE s.outlet_id = ANY(%s)",
    "topics": "SELECT statement_id FROM claims_statement_topics WHERE topic_id = ANY(%s)",
}


# Columns the database fills in (search documents, export lists).
MAINTAINED_BY_TRIGGERS = {"search_vector", *models.EXPORT_FIELDS, "public_document"}
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _written_tables() -> list[str]:
    """The tables an import writes to, many-to-many ones included."""
    tables = []
    for table in TABLES:
        tables.append(table.model._meta.db_table)
        tables += [f.remote_field.through._meta.db_table for f in table.model._meta.local_many_to_many]
    return tables


def _copy_text(value) -> str:
    """A value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):  # a text array
        value = "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}"
    elif isinstance(value, datetime.date):  # dates and datetimes
        value = value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def _checked_fields(model, table: Table, exclude: set) -> list:
    """The fields whose values reading the file did not already check: validators, lengths, choices."""
    enforced = {c.name for c in table.columns if c.enum or c.type not in ("string", "array")}
    return [
        f
        for f in model._meta.concrete_fields
        if f.name not in exclude
        and f.editable
        and not f.generated
        and (f.validators or (f.choices and f.name not in enforced) or not f.blank)
    ]


def _clean_fields(obj, fields) -> None:
    """Model.clean_fields() for these fields only; empty values are checked against blank=False."""
    errors = {}
    for field in fields:
        raw = getattr(obj, field.attname)
        if raw in field.empty_values:
            if not field.blank:
                errors[field.name] = [field.error_messages["blank" if raw == "" else "null"]]
            continue
        try:
            setattr(obj, field.attname, field.clean(raw, obj))
        except ValidationError as error:
            errors[field.name] = error.error_list
    if errors:
        raise ValidationError(errors)


def _batches(rows, size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Writer:
    """Writes validated rows table by table, remembering each public id's primary key."""

    def __init__(self, report: Report):
        self.report = report
        self.problems: list[str] = []
        self.ids: dict[str, dict[str, int]] = {}  # table -> public id -> pk
        self.unchanged: dict[str, set[int]] = {}  # table -> pks left as they were (so far)
        self.updated: dict[str, set[int]] = {}
        self.statements: set[int] = set()  # whose documents need building
        self.empty = False  # whether the table being written had no rows before
        self._topics: dict[str, int] | None = None

    def problem(self, table: Table, row: dict, message: str) -> None:
        self.problems.append(f"{table.name}.csv line {row['_line']}: {message}")

    # ---- lookups

    def lookup(self, name: str, public_ids) -> dict[str, int]:
        """Public id -> pk for these ids of a table, from this import or the database."""
        known = self.ids.setdefault(name, {})
        wanted = set(public_ids) - known.keys()
        if wanted:
            found = BY_NAME[name].model._default_manager.filter(public_id__in=wanted)
            known.update((str(p), pk) for p, pk in found.values_list("public_id", "pk"))
        return known

    def topics(self) -> dict[str, int]:
        if self._topics is None:
            self._topics = dict(models.Topic.objects.values_list("slug", "pk"))
        return self._topics

    # ---- writing

    def write(self, table: Table, rows) -> None:
        self.ids.setdefault(table.name, {})
        # Into an empty table every row is new: no need to look for existing ones.
        self.empty = not table.model._default_manager.exists()
        self.unchanged[table.name], self.updated[table.name] = set(), set()
        written = []
        for batch in _batches(rows, BATCH):
            self.write_batch(table, batch)
            if self.problems:
                return
            written.extend(batch)
        for column in table.columns:
            if column.ref == table.name:
                self.write_self_references(table, column, written)

    def write_batch(self, table: Table, batch: list[dict]) -> None:
        model = table.model
        refs = [c for c in table.columns if c.ref and c.ref != table.name and c.type != "array"]
        for column in refs:
            known = self.lookup(column.ref, {r[column.name] for r in batch if r.get(column.name) is not None})
            for row in batch:
                value = row.get(column.name)
                if value is not None and value not in known:
                    self.problem(table, row, f"{column.name} {value} refers to nothing in {column.ref}.csv")
        if table.identified:
            seen = set(self.ids[table.name])
            for row in batch:
                if row["id"] in seen:
                    self.problem(table, row, f"id {row['id']} appears twice")
                seen.add(row["id"])
        if self.problems:
            return
        values = [self.values(table, row) for row in batch]
        existing = self.existing(table, batch, values)
        new, changed, fields = [], [], set()
        objs = []
        for row, vals, obj in zip(batch, values, existing, strict=True):
            if obj is None:
                obj = model(**vals, **({"public_id": row["id"]} if table.identified else {}))
                new.append((row, obj))
            else:
                differs = [k for k, v in vals.items() if getattr(obj, k) != v]
                if differs:
                    for key in differs:
                        setattr(obj, key, vals[key])
                    self.check(table, row, obj)  # rare: the whole validation
                    changed.append(obj)
                    fields.update(differs)
                else:
                    self.unchanged[table.name].add(obj.pk)
            objs.append(obj)
        self.quick_check(table, new)
        if self.problems:
            return
        self.insert(table, new)
        if self.problems or not self.save_changes(table, batch, changed, fields):
            return
        self.report.created[table.name] += len(new)
        self.report.unchanged[table.name] += len(batch) - len(new) - len(changed)
        self.report.updated[table.name] += len(changed)
        self.updated[table.name].update(o.pk for o in changed)
        if table.identified:
            self.ids[table.name].update((row["id"], obj.pk) for row, obj in zip(batch, objs, strict=True))
        for name in ("topics", "evidence"):
            if any(c.name == name for c in table.columns):
                self.write_many(table, name, batch, objs)
        if table.name == "statements":
            self.statements.update(o.pk for o in objs)
        elif table.name in ("statement_speakers", "appearances"):
            self.statements.update(o.statement_id for o in objs)
        elif table.name == "statement_links":
            self.statements.update(o.from_statement_id for o in objs)
            self.statements.update(o.to_statement_id for o in objs)  # its public document lists it
        elif table.name == "claims":
            # Its statement's public document lists it.
            self.statements.update(o.statement_id for o in objs if o.statement_id is not None)

    def values(self, table: Table, row: dict) -> dict:
        values = {}
        for column in table.columns:
            if column.name in ("id", "topics", "evidence") or column.ref == table.name:
                continue  # many-to-many and self-references are written afterwards
            value = row.get(column.name)
            if column.ref:
                values[f"{column.name}_id"] = None if value is None else self.ids[column.ref][value]
            else:
                values[column.name] = value if value is not None or column.type != "string" else ""
        return values

    def existing(self, table: Table, batch: list[dict], values: list[dict]) -> list:
        if self.empty:
            return [None] * len(batch)
        manager = table.model._default_manager
        if table.identified:
            found = {str(o.public_id): o for o in manager.filter(public_id__in=[r["id"] for r in batch])}
            return [found.get(r["id"]) for r in batch]
        keys = [k if k in ("role", "type") else f"{k}_id" for k in table.key]
        candidates = manager.filter(**{f"{keys[0]}__in": {v[keys[0]] for v in values}})
        found = {tuple(getattr(o, k) for k in keys): o for o in candidates}
        return [found.get(tuple(v[k] for k in keys)) for v in values]

    def quick_check(self, table: Table, new: list) -> None:
        """Each new row's fields and clean(); uniqueness and constraints are left to the database."""
        model = table.model
        for name in CLEANED_RELATIONS.get(table.name, ()):
            field = model._meta.get_field(name)
            related = field.related_model._default_manager.in_bulk(
                {getattr(o, field.attname) for _, o in new}
            )
            for _, obj in new:
                setattr(obj, name, related[getattr(obj, field.attname)])
        exclude = {c.name for c in table.columns if c.ref} | {"topics", "evidence"}
        if model.clean_fields is not Model.clean_fields:
            checked = None  # the model adds to the field checks (speakers' aliases): all of them
        else:
            checked = _checked_fields(model, table, exclude)
        for row, obj in new:
            try:
                if checked is None:
                    obj.clean_fields(exclude=list(exclude))
                else:
                    _clean_fields(obj, checked)
                obj.clean()
            except ValidationError as error:
                self.report_error(table, row, error)

    def insert(self, table: Table, new: list) -> None:
        """New rows in one COPY, with primary keys taken from the table's sequence beforehand."""
        if not new:
            return
        model = table.model
        fields = [
            f
            for f in model._meta.concrete_fields
            if not f.generated and not f.primary_key and f.name not in MAINTAINED_BY_TRIGGERS
        ]
        db_table = model._meta.db_table
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [db_table, len(new)],
                )
                for (pk,), (_, obj) in zip(cursor.fetchall(), new, strict=True):
                    obj.pk = pk
                buffer = io.StringIO()
                for _, obj in new:
                    buffer.write(str(obj.pk))
                    for field in fields:
                        buffer.write("\t")
                        buffer.write(_copy_text(getattr(obj, field.attname)))
                    buffer.write("\n")
                buffer.seek(0)
                columns = ", ".join(f'"{f.column}"' for f in [model._meta.pk, *fields])
                with connection.wrap_database_errors:
                    cursor.copy_expert(f"COPY {db_table} ({columns}) FROM STDIN", buffer)
        except (IntegrityError, DataError) as error:
            for row, obj in new:  # which rows: the whole validation names them
                obj.pk = None
                self.check(table, row, obj)
            if not self.problems:
                first, last = new[0][0]["_line"], new[-1][0]["_line"]
                self.problems.append(f"{table.name}.csv lines {first}-{last}: {str(error).splitlines()[0]}")

    def save_changes(self, table: Table, batch, changed: list, fields: set) -> bool:
        if not changed:
            return True
        try:
            with transaction.atomic():
                table.model._default_manager.bulk_update(changed, sorted(fields))
        except (IntegrityError, DataError) as error:
            first, last = batch[0]["_line"], batch[-1]["_line"]
            self.problems.append(f"{table.name}.csv lines {first}-{last}: {str(error).splitlines()[0]}")
            return False
        return True

    def write_many(self, table: Table, name: str, batch: list[dict], objs: list) -> None:
        """A many-to-many column (topics by slug, evidence by source id): add and remove the difference."""
        field = table.model._meta.get_field(name)
        through = field.remote_field.through
        own, other = f"{field.m2m_field_name()}_id", f"{field.m2m_reverse_field_name()}_id"
        if name == "topics":
            targets = self.topics()
        else:
            targets = self.lookup("sources", {v for r in batch for v in r.get(name, [])})
        wanted = {}
        for row, obj in zip(batch, objs, strict=True):
            unknown = [v for v in row.get(name, []) if v not in targets]
            if unknown:
                self.problem(table, row, f"{name}: unknown {', '.join(map(str, unknown))}")
                continue
            wanted[obj.pk] = {targets[v] for v in row.get(name, [])}
        if self.problems:
            return
        current = {pk: set() for pk in wanted}
        for pk, target in through.objects.filter(**{f"{own}__in": list(wanted)}).values_list(own, other):
            current[pk].add(target)
        through.objects.bulk_create(
            [through(**{own: pk, other: t}) for pk, ts in wanted.items() for t in sorted(ts - current[pk])]
        )
        for pk, ts in wanted.items():
            if current[pk] - ts:
                through.objects.filter(**{own: pk, f"{other}__in": current[pk] - ts}).delete()
            if ts != current[pk]:
                self.mark_updated(table, pk)

    def mark_updated(self, table: Table, pk: int) -> None:
        if pk in self.unchanged[table.name]:
            self.unchanged[table.name].discard(pk)
            self.report.unchanged[table.name] -= 1
            self.report.updated[table.name] += 1
            self.updated[table.name].add(pk)

    def write_self_references(self, table: Table, column: Column, rows: list[dict]) -> None:
        """A source may cite one listed after it: references within a table once every row exists."""
        known = self.lookup(table.name, {r[column.name] for r in rows if r.get(column.name) is not None})
        wanted = {}
        for row in rows:
            target = row.get(column.name)
            if target is not None and target not in known:
                self.problem(table, row, f"{column.name} {target} refers to nothing in {table.name}.csv")
            elif target is not None and target == row["id"]:
                self.problem(table, row, f"{column.name}: a record cannot refer to itself")
            else:
                wanted[known[row["id"]]] = (known.get(target), row)
        if self.problems:
            return
        model, attname = table.model, f"{column.name}_id"
        current = dict(model._default_manager.filter(pk__in=list(wanted)).values_list("pk", attname))
        changes = {pk: target for pk, (target, _) in wanted.items() if current[pk] != target}
        if not changes:
            return
        db_table, db_column = model._meta.db_table, model._meta.get_field(column.name).column
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {db_table} t SET {db_column} = v.target "
                f"FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, target) WHERE t.id = v.id",
                [list(changes), list(changes.values())],
            )
            # A chain that comes back to where it started (A cites B cites A) is refused.
            cursor.execute(
                f"""
                WITH RECURSIVE walk(start, current) AS (
                    SELECT id, {db_column} FROM {db_table} WHERE id = ANY(%s) AND {db_column} IS NOT NULL
                    UNION ALL
                    SELECT w.start, t.{db_column} FROM walk w JOIN {db_table} t ON t.id = w.current
                    WHERE t.{db_column} IS NOT NULL
                ) CYCLE current SET is_cycle USING path
                SELECT DISTINCT start FROM walk WHERE current = start ORDER BY start
                """,
                [list(changes)],
            )
            for (pk,) in cursor.fetchall():
                self.problem(table, wanted[pk][1], f"{column.name}: this would make a citation cycle")
        for pk in changes:
            self.mark_updated(table, pk)

    def statements_to_index(self) -> list[int]:
        """Statements written, and those using speakers, sources, outlets or topics that changed."""
        with connection.cursor() as cursor:
            for name, sql in INDEXED_THROUGH.items():
                if self.updated.get(name):
                    cursor.execute(sql, [sorted(self.updated[name])])
                    self.statements.update(pk for (pk,) in cursor.fetchall())
        return sorted(self.statements)

    def check(self, table: Table, row: dict, obj) -> None:
        try:
            obj.full_clean(exclude=["topics", "evidence"], validate_unique=True)
        except ValidationError as error:
            self.report_error(table, row, error)

    def report_error(self, table: Table, row: dict, error: ValidationError) -> None:
        for name, messages in error.message_dict.items():
            self.problem(table, row, f"{name}: {' '.join(messages)}")
