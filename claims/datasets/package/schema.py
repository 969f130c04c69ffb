"""The data package's tables and columns, and their Table Schema: what a package holds."""

from dataclasses import dataclass
from typing import Any

from ... import models

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"  # Table Schema type
    ref: str = ""  # another table this column refers to (by public id)
    enum: tuple[Any, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    model: type[Any]  # a model class (typed loosely: its _meta is read generically)
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ("id",)

    @property
    def identified(self) -> bool:
        return self.key == ("id",)


def _audit() -> tuple[Column, Column]:
    return (Column("created_at", "datetime", required=True), Column("updated_at", "datetime", required=True))


def _status() -> Column:
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
# Many-to-many columns: which model field, and how a target is named in the file.
MANY = {"topics": "slug", "evidence": "public_id"}


def _table_schema(table: Table) -> dict[str, Any]:
    fields = []
    for c in table.columns:
        spec: dict[str, Any] = {"name": c.name, "type": c.type}
        constraints: dict[str, Any] = {}
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
