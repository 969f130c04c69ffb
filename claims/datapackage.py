"""The archive as a Frictionless Data Package: one CSV per table, read back losslessly.

Every record is identified by its public UUID and refers to others by theirs,
so packages from different installations can be merged, and exporting,
importing into an empty database and exporting again gives identical files
(apart from the generation time in datapackage.json).
"""

import csv
import datetime
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import exports, models
from .imports import ImportRejected, Report
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
        if not isinstance(parsed, list):
            raise ValueError("not a JSON array")
        return parsed
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
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
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
    """Read a package back: validate every file first, then write it all in one transaction."""
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
        ids: dict[str, dict[str, int]] = {}
        for table in TABLES:
            rows = data[table.name]
            _write(table, progress(rows, table.name) if progress else rows, ids, report, problems)
            if problems:
                raise ImportRejected(problems)
        record_missing_history(reason="Imported from a data package")
    return report


def _resolve(table: Table, row: dict, ids, problems) -> dict:
    values = {}
    for column in table.columns:
        if column.name in ("id", "topics", "evidence") or column.ref == table.name:
            continue  # many-to-many and self-references are set afterwards
        value = row.get(column.name)
        if column.ref:
            pk = None
            if value is not None:
                pk = ids.get(column.ref, {}).get(value)
                if pk is None:
                    pk = (
                        BY_NAME[column.ref]
                        .model._default_manager.filter(public_id=value)
                        .values_list("pk", flat=True)
                        .first()
                    )
                if pk is None:
                    problems.append(
                        f"{table.name}.csv line {row['_line']}: {column.name} {value} refers to nothing in {column.ref}.csv"
                    )
                    continue
            values[f"{column.name}_id"] = pk
        else:
            values[column.name] = value if value is not None or column.type != "string" else ""
    return values


def _write(table: Table, rows, ids, report: Report, problems) -> None:
    model = table.model
    ids[table.name] = known = {}
    rows = list(rows)
    _write_rows(table, rows, known, ids, report, problems)
    # A source may cite one listed after it: self-references once every row exists.
    for column in (c for c in table.columns if c.ref == table.name):
        for row in rows:
            target = row.get(column.name)
            pk = known.get(str(target)) if target is not None else None
            if target is not None and pk is None:
                problems.append(
                    f"{table.name}.csv line {row['_line']}: {column.name} {target} refers to nothing in {table.name}.csv"
                )
                return
            obj = model._default_manager.get(pk=known[str(row["id"])])
            if getattr(obj, f"{column.name}_id") != pk:
                setattr(obj, f"{column.name}_id", pk)
                _check(obj, table, row, problems)
                if problems:
                    return
                model._default_manager.bulk_update([obj], [column.name])


def _write_rows(table: Table, rows, known, ids, report: Report, problems) -> None:
    model = table.model
    for row in rows:
        values = _resolve(table, row, ids, problems)
        if problems:
            return
        if table.identified:
            existing = model._default_manager.filter(public_id=row["id"]).first()
        else:
            keys = [k if k in ("role", "type") else f"{k}_id" for k in table.key]
            existing = model._default_manager.filter(**{k: values[k] for k in keys}).first()
        if existing is None:
            obj = model(**values, **({"public_id": row["id"]} if table.identified else {}))
            _check(obj, table, row, problems)
            if problems:
                return
            # bulk_create, not save(): save() would stamp updated_at with the current time.
            model._default_manager.bulk_create([obj])
            report.created[table.name] += 1
        else:
            obj = existing
            changed = [k for k, v in values.items() if getattr(obj, k) != v]
            if changed:
                for key in changed:
                    setattr(obj, key, values[key])
                _check(obj, table, row, problems)
                if problems:
                    return
                model._default_manager.bulk_update([obj], changed)
                report.updated[table.name] += 1
            else:
                report.unchanged[table.name] += 1
        if table.identified:
            known[str(row["id"])] = obj.pk
        if "topics" in row:
            topics = models.Topic.objects.filter(slug__in=row["topics"])
            if topics.count() != len(set(row["topics"])):
                problems.append(f"{table.name}.csv line {row['_line']}: unknown topic in {row['topics']}")
                return
            if set(obj.topics.values_list("slug", flat=True)) != set(row["topics"]):
                obj.topics.set(topics)
        if "evidence" in row:
            sources = models.Source.objects.filter(public_id__in=row["evidence"])
            if {str(s.public_id) for s in sources} != set(row["evidence"]):
                problems.append(f"{table.name}.csv line {row['_line']}: unknown source in evidence")
                return
            if {str(p) for p in obj.evidence.values_list("public_id", flat=True)} != set(row["evidence"]):
                obj.evidence.set(sources)


def _check(obj, table: Table, row: dict, problems) -> None:
    try:
        obj.full_clean(exclude=["topics", "evidence"], validate_unique=True)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            problems.append(f"{table.name}.csv line {row['_line']}: {name}: {' '.join(messages)}")
