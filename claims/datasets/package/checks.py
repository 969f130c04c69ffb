"""Checking a staged package: every cell, reference, uniqueness rule and model rule, set-based."""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db.models import CharField, Model, TextField, UniqueConstraint, URLField

from ... import models
from ...documents import statements as statement_documents
from .schema import MANY, Column, Table


def _valid_uuid(cell: str) -> str:
    """SQL: the cell is a UUID, hyphenated (8-4-4-4-12) or as 32 hex digits. Positions and
    lengths, and a regular expression without counted repetitions: PostgreSQL's engine
    expands those into states, and ``[0-9a-f]{8}-…{12}`` cost 2.3 µs a cell (2 s of a
    100,000-statement package), this a third of that."""
    return (
        f"((length({cell}) = 36 AND substr({cell}, 9, 1) = '-' AND substr({cell}, 14, 1) = '-' "
        f"AND substr({cell}, 19, 1) = '-' AND substr({cell}, 24, 1) = '-' "
        f"AND length(replace({cell}, '-', '')) = 32 AND {cell} ~ '^[-0-9a-fA-F]+$') "
        f"OR (length({cell}) = 32 AND {cell} ~ '^[0-9a-fA-F]+$'))"
    )


def _matching(pattern: str) -> Callable[[str], str]:
    """The FAST check of TYPES for a regular expression: SQL on a cell."""
    return lambda cell: f"{cell} ~ {_quote(pattern)}"


# What a valid cell of each type looks like. Values that pass FAST (SQL on a cell) are
# valid; those that only match SHAPE (a regular expression) are tried with a cast.
_YEAR = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
# Every day of the calendar: days 29 and 30 of months but February, 31 of the long months,
# and 29 February of leap years (a quarter slower than days 1-28 only, which left one date in
# ten to the cast).
_LEAP_YEAR = r"([0-9][0-9](0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_SURE_DAY = (
    f"({_YEAR}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)"
    f"|{_LEAP_YEAR}-02-29)"
)
_TIME = r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)"
_JSON_STRING = r'"([^"\\\x01-\x1f]|\\["\\/bfnrt])*"'
TYPES = {
    # For each type: (fast, shape, cast, name in messages)
    "uuid": (_valid_uuid, None, None, "UUID"),
    "date": (_matching(f"^{_SURE_DAY}$"), r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "date", "date"),
    "datetime": (
        _matching(f"^{_SURE_DAY}{_TIME}$"),
        f"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}{_TIME}$",
        "timestamptz",
        "datetime",
    ),
    "integer": (_matching(r"^-?[0-9]{1,9}$"), None, None, "integer"),
    "number": (_matching(r"^-?[0-9]{1,20}(\.[0-9]{1,20})?$"), None, None, "number"),
    "array": (
        _matching(rf"^\[\s*({_JSON_STRING}(\s*,\s*{_JSON_STRING})*)?\s*\]$"),
        r"^\s*\[",
        "array",
        "JSON array of strings",
    ),
}
# URLs that certainly pass Django's URLValidator (with a host of at most 63 characters, so
# that no label is longer; tested apart: a counted repetition in the expression made it ten
# times slower); the others are checked by it.
SURE_URL = r"^https?://([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z]+(:[0-9]{1,4})?([/?#][!-~]*)?$"


def _sure_url(cell: str) -> str:
    return (
        f"({cell} ~* {_quote(SURE_URL)} AND length({cell}) < 250 "
        f"AND length(split_part(split_part({cell}, '://', 2), '/', 1)) <= 63)"
    )


# A cast that fails returns false instead of ending the transaction (checks only).
CASTABLE = r"""
CREATE OR REPLACE FUNCTION pg_temp.claims_castable(value text, type text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF type = 'array' THEN
        RETURN jsonb_typeof(value::jsonb) = 'array' AND NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(value::jsonb) e WHERE jsonb_typeof(e) <> 'string');
    END IF;
    EXECUTE format('SELECT %L::%s', value, type);
    RETURN true;
EXCEPTION WHEN others THEN
    RETURN false;
END $$;
"""
# The rules of the models' clean() methods, for rows of the file (alias s) joined as
# given: (table, join, condition, column, message). tests/test_datapackage.py breaks each.
CLEAN_RULES = (
    (
        "affiliations",
        "JOIN claims_speaker o ON o.public_id = s.organisation::uuid",
        "o.kind = 'person'",
        "organisation",
        "Choose an organisation, not a person.",
    ),
    (
        "sources",
        "",
        "nullif(s.cites, '')::uuid = s.id::uuid",
        "cites",
        "A source cannot cite itself.",
    ),
    (
        "statements",
        "",
        "coalesce(s.original_text, '') <> '' AND s.text_type <> 'translation'",
        "original_text",
        "Only a translation has an original text.",
    ),
    (
        "statement_links",
        "",
        "s.from_statement::uuid = s.to_statement::uuid",
        "to_statement",
        models.SELF_LINK,
    ),
    (
        "reviews",
        "JOIN claims_outlet o ON o.public_id = s.reviewer::uuid",
        "o.kind <> 'fact_checker'",
        "reviewer",
        "The reviewer must be an outlet of kind fact-checker.",
    ),
)
# Statement.clean() moves a month's or year's date to its first day.
SAID_ON = """CASE s.said_on_precision
    WHEN 'month' THEN date_trunc('month', nullif(s.said_on, '')::date)::date
    WHEN 'year' THEN date_trunc('year', nullif(s.said_on, '')::date)::date
    ELSE nullif(s.said_on, '')::date END"""
DB_TYPES = {
    "CharField": "varchar",
    "SlugField": "varchar",
    "URLField": "varchar",
    "TextField": "text",
    "ArrayField": "varchar[]",
    "DecimalField": "numeric",
    "DateField": "date",
    "DateTimeField": "timestamptz",
    "BooleanField": "boolean",
    "PositiveSmallIntegerField": "integer",
    "ForeignKey": "bigint",
}


def _kind(column: Column) -> str:
    """The type a column's cells are checked as."""
    if column.name == "id" or (column.ref and column.type != "array"):
        return "uuid"
    return column.type


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _condition(condition: Any, columns: set[str]) -> str | None:
    """A UniqueConstraint's condition as SQL on the file's text cells, for the simple
    forms the models use (field = value, negated or not); None for anything else."""
    if condition is None:
        return "true"
    if len(condition.children) != 1 or not isinstance(condition.children[0], tuple):
        return None
    name, value = condition.children[0]
    if name not in columns:
        return None
    cell = "'true'" if value is True else "'false'" if value is False else _quote(str(value))
    test = f"coalesce(s.{name}, '') = {cell}"
    return f"NOT ({test})" if condition.negated else test


class Checks:
    """The loader's checks of each staged table (a part of ``load._Loader``, which stages them)."""

    cursor: Any
    problems: list[str]
    if TYPE_CHECKING:  # provided by the loader

        def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]: ...
        def staged(self, name: str) -> str: ...
        def target(self, name: str) -> str: ...

    def check_rows(self, table: Table) -> None:
        """Each cell on its own: required, one of its enum, of its type, not too long.

        One scan of the file's rows: a row with any problem (all checks, OR-ed) is then
        told apart, check by check (scanning the rows once per check cost twice as much).
        That scan (which parallel workers can share) leaves out the cast tried on cells of
        an unusual form, whose exception handler cannot run in parallel: the rows it finds
        suspect, if any, are checked again with it."""
        checks: list[
            tuple[str, str, str, str, str | None]
        ] = []  # (condition, column, problem, value shown, condition in the first scan)
        lists = []  # checks of a list's elements: queries of their own
        fields = {f.name: f for f in table.model._meta.concrete_fields}
        for column in table.columns:
            cell, name = column.name, _quote(column.name)
            field = fields.get(column.name)
            blank_allowed = field is None or field.blank or not isinstance(field, CharField | TextField)
            if column.required or not blank_allowed:
                checks.append((f"coalesce({cell}, '') = ''", name, "'required'", "NULL", None))
            if column.enum:
                allowed = ", ".join(_quote(v) for v in column.enum)
                checks.append(
                    (f"coalesce({cell}, '') <> '' AND {cell} NOT IN ({allowed})", name, "'enum'", cell, None)
                )
            kind = _kind(column)
            if kind == "boolean":
                checks.append(
                    (f"coalesce({cell}, '') NOT IN ('', 'true', 'false')", name, "'boolean'", cell, None)
                )
            elif kind in TYPES:
                fast, shape, cast, _ = TYPES[kind]
                valid = fast(cell)
                if shape:
                    valid += f" OR ({cell} ~ {_quote(shape)} AND pg_temp.claims_castable({cell}, {_quote(cast or '')}))"
                checks.append(
                    (
                        f"coalesce({cell}, '') <> '' AND NOT ({valid})",
                        name,
                        _quote(kind),
                        f"left({cell}, 40)",
                        f"coalesce({cell}, '') <> '' AND NOT ({fast(cell)})",
                    )
                )
                if kind == "array" and MANY.get(column.name) == "public_id":  # a list of ids
                    lists.append(
                        f"SELECT line, {name}, 'uuid', left(e, 40) FROM {self.staged(table.name)} s, "
                        f"jsonb_array_elements_text(CASE WHEN {fast(cell)} THEN {cell}::jsonb ELSE '[]' END) e "
                        f"WHERE NOT {_valid_uuid('e')}"
                    )
            max_length = getattr(field, "max_length", None) if field is not None and not column.ref else None
            if max_length and kind == "string":
                checks.append(
                    (f"length({cell}) > {int(max_length)}", name, "'long'", f"length({cell})::text", None)
                )

        # Each condition is true, false or NULL (no value): NULL is no problem, in either place.
        staged = self.staged(table.name)
        suspect = " OR ".join(f"({c if f is None else f})" for c, _, _, _, f in checks)
        suspects = [
            line
            for (line,) in statement_documents.shared(
                self.cursor, f"SELECT line FROM {staged} WHERE {suspect}"
            )
            or []
        ]
        if suspects:
            where = " OR ".join(f"({condition})" for condition, *_ in checks)
            described = ", ".join(f"(({c}), {n}, {p}, {v})" for c, n, p, v, _ in checks)
            for line, column, problem, value in self.rows(
                f"SELECT s.line, c.name, c.problem, c.value FROM (SELECT * FROM {staged} "
                f"WHERE line = ANY(%s) AND ({where})) s "
                f"CROSS JOIN LATERAL (VALUES {described}) AS c(bad, name, problem, value) WHERE c.bad "
                "ORDER BY 1, 2 LIMIT 1000",
                [suspects],
            ):
                self.report_cell(table, line, column, problem, value)
        for sql in lists:
            for line, column, problem, value in self.rows(sql + " ORDER BY 1 LIMIT 1000"):
                self.report_cell(table, line, column, problem, value)

    def report_cell(self, table: Table, line: int, name: str, problem: str, value: Any) -> None:
        column = next(c for c in table.columns if c.name == name)
        if problem == "required":
            message = f"{name} is required"
        elif problem == "enum":
            message = f"{name} {value!r} is not one of {', '.join(column.enum)}"
        elif problem == "long":
            field = table.model._meta.get_field(name)
            message = f"{name}: Ensure this value has at most {field.max_length} characters (it has {value})."
        else:
            label = "boolean" if problem == "boolean" else TYPES[problem][3]
            message = f"{name} {value!r} is not a valid {label}"
        self.problem(table, line, message)

    def problem(self, table: Table, line: int, message: str) -> None:
        self.problems.append(f"{table.name}.csv line {line}: {message}")

    def check_references(self, table: Table) -> None:
        for column in table.columns:
            if column.ref and column.type != "array" and column.ref != table.name:
                self.check_reference(table, column)

    def check_reference(self, table: Table, column: Column) -> None:
        """Cells of a reference column that name no record of the table it refers to."""
        target = self.target(column.ref)
        for line, value in self.rows(
            f"SELECT s.line, s.{column.name} FROM {self.staged(table.name)} s LEFT JOIN {target} r "
            f"ON r.public_id = nullif(s.{column.name}, '')::uuid "
            f"WHERE coalesce(s.{column.name}, '') <> '' AND r.id IS NULL ORDER BY 1 LIMIT 1000"
        ):
            self.problem(table, line, f"{column.name} {value} refers to nothing in {column.ref}.csv")

    def check_unique(self, table: Table) -> None:
        """Rows of the file that collide with each other, or with other records of the archive."""
        model, names = table.model, {c.name for c in table.columns}
        refs = {c.name for c in table.columns if c.ref} | {"id"}

        def as_key(name: str) -> str:
            return f"s.{name}::uuid" if name in refs else f"s.{name}"

        groups: list[tuple[tuple[str, ...], str, Any]] = []  # (columns, condition, message)
        if table.identified:
            groups.append((("id",), "true", None))
        else:
            groups.append((table.key, "true", None))
        for constraint in model._meta.constraints:
            if (
                isinstance(constraint, UniqueConstraint)
                and constraint.fields
                and set(constraint.fields) <= names
            ):
                condition = _condition(constraint.condition, names)
                if condition is not None and tuple(constraint.fields) != table.key:
                    groups.append((tuple(constraint.fields), condition, constraint.violation_error_message))
        unique_fields = [
            f.name for f in model._meta.concrete_fields if f.unique and not f.primary_key and f.name in names
        ]
        for name in unique_fields:
            groups.append(((name,), f"coalesce(s.{name}, '') <> ''", None))
        for columns, condition, message in groups:
            keys = ", ".join(as_key(c) for c in columns)
            for line, first, values in self.rows(
                f"SELECT line, first, concat_ws(', ', {', '.join(columns)}) FROM ("
                f"SELECT s.*, min(line) OVER (PARTITION BY {keys}) AS first FROM {self.staged(table.name)} s "
                f"WHERE {condition}) x WHERE line > first ORDER BY 1 LIMIT 1000"
            ):
                what = message or f"{', '.join(columns)} {values}"
                self.problem(table, line, f"{what} appears twice (first on line {first})")
        if table.identified:
            db_table = model._meta.db_table
            for name in unique_fields:
                for line, value in self.rows(
                    f"SELECT s.line, s.{name} FROM {self.staged(table.name)} s JOIN {db_table} t "
                    f"ON t.{model._meta.get_field(name).column} = s.{name} AND t.public_id <> s.id::uuid "
                    "ORDER BY 1 LIMIT 1000"
                ):
                    self.problem(
                        table, line, f"{name} {value!r} is already used by another record in the archive"
                    )

    def check_validators(self, table: Table) -> None:
        """Field validators that only Python has, once per distinct value."""
        for column in table.columns:
            if column.ref or column.name == "id" or column.type == "array":
                continue
            field = table.model._meta.get_field(column.name)
            validators = [v for v in field.validators if not isinstance(v, MaxLengthValidator)]
            if not validators:
                continue
            sure = f"AND NOT {_sure_url(column.name)}"
            values = self.rows(
                f"SELECT DISTINCT {column.name} FROM {self.staged(table.name)} WHERE coalesce({column.name}, '') <> '' "
                + (sure if isinstance(field, URLField) else "")
            )
            bad = {}
            for (value,) in values:
                try:
                    typed = field.to_python(value)
                    for validator in validators:
                        validator(typed)
                except ValidationError as error:
                    bad[value] = " ".join(error.messages)
            if bad:
                for line, value in self.rows(
                    f"SELECT line, {column.name} FROM {self.staged(table.name)} WHERE {column.name} = ANY(%s) ORDER BY 1 LIMIT 1000",
                    [list(bad)],
                ):
                    self.problem(table, line, f"{column.name}: {bad[value]}")

    def check_model_rules(self, table: Table) -> None:
        for name, join, condition, field_name, message in CLEAN_RULES:
            if name == table.name:
                for (line,) in self.rows(
                    f"SELECT s.line FROM {self.staged(name)} s {join} WHERE {condition} ORDER BY 1 LIMIT 1000"
                ):
                    self.problem(table, line, f"{field_name}: {message}")
        model = table.model
        if model.clean_fields is Model.clean_fields:
            return
        # The model adjusts values before checking them (speakers' aliases): row by row,
        # for the rows that have a value in such a column.
        for column in table.columns:
            if column.type != "array" or column.ref or column.name in MANY:
                continue
            changed = []
            for line, cell in self.rows(
                f"SELECT line, {column.name} FROM {self.staged(table.name)} WHERE coalesce({column.name}, '[]') <> '[]'"
            ):
                obj = model(**{column.name: json.loads(cell)})
                others = [f.name for f in model._meta.fields if f.name != column.name]
                try:
                    obj.clean_fields(exclude=others)
                except ValidationError as error:
                    for messages in error.message_dict.values():
                        self.problem(table, line, f"{column.name}: {' '.join(messages)}")
                    continue
                cleaned = json.dumps(getattr(obj, column.name), ensure_ascii=False)
                if json.loads(cell) != getattr(obj, column.name):
                    changed.append((line, cleaned))
            if changed:
                self.cursor.execute(
                    f"UPDATE {self.staged(table.name)} s SET {column.name} = v.cell "
                    "FROM unnest(%s::bigint[], %s::text[]) AS v(line, cell) WHERE s.line = v.line",
                    [[line for line, _ in changed], [cell for _, cell in changed]],
                )
