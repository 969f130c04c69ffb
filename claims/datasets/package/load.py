"""Reading a data package into the archive: staged, checked, then merged, all or nothing."""

import csv
import datetime
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import Model

from ... import documents, models
from ...documents import dependencies
from ...documents import search as record_documents
from ...documents import statements as statement_documents
from ...history import EVERY_ROW, record_history
from ..reading import ImportRejected, Report, check_size
from .checks import CASTABLE, DB_TYPES, SAID_ON, Checks
from .schema import BY_NAME, MANY, SCHEMA_VERSION, TABLES, Column, Table


def _parse(value: str, column: Column) -> Any:
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


def _read(directory: Path, table: Table, problems: list[str]) -> list[dict[str, Any]]:
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


def _read_rows(
    path: Path, table: Table, problems: list[str], reader: Iterator[list[str]]
) -> list[dict[str, Any]]:
    rows = []
    header: list[str] = next(reader, [])
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


def import_package(
    directory: Path,
    *,
    progress: Callable[[str, int], Any] | None = None,
    step: Callable[[str], None] | None = None,
) -> Report:
    """Read a package back: check every file first, then write it all in one transaction.

    Set-based: each CSV is streamed with ``COPY`` into a temporary table of
    text columns, checked there by SQL (each problem named by its file, line
    and column), and merged into the archive table by table with
    ``INSERT … SELECT`` and ``UPDATE … FROM``. No row becomes a Python object,
    so the number of queries does not grow with the number of rows, and no
    file is held in memory. Field validators that only Python has (URLs,
    slugs, language codes…) run once per distinct value; the rules of the
    models' ``clean()`` are repeated in SQL (``CLEAN_RULES``). Statement
    documents are built once, set-based, at the end (the triggers are
    deferred meanwhile); sources' and claims' search documents, in the INSERT
    into a table that was empty (``BULK_DOCUMENTS``), else by their triggers. ``progress(name, size)`` returns a bar that is told
    the bytes read; ``step(message)`` is told each step after the files are read
    (most of a large import's time).
    """
    step = step or (lambda message: None)
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
    for table in TABLES:
        path = directory / f"{table.name}.csv"
        if not path.exists():
            problems.append(f"{path.name}: missing")
            continue
        try:
            check_size(path)
        except ImportRejected as rejected:
            problems.extend(rejected.problems)
    if problems:
        raise ImportRejected(problems)
    report = Report()
    with transaction.atomic(), connection.cursor() as cursor:
        # Sorts and aggregates over whole files in memory, not in temporary files.
        cursor.execute("SELECT set_config('work_mem', %s, true)", [IMPORT_WORK_MEM])
        # And for the indexes built again after a bulk load (a GIN index's pending entries).
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, true)", [IMPORT_WORK_MEM])
        with documents.paused(cursor):
            loader = _Loader(cursor, report)
            for table in TABLES:
                loader.stage(table, directory / f"{table.name}.csv", progress)
            loader.raise_problems()
            step("Checking every cell")
            for table in TABLES:
                loader.check_rows(table)
            loader.raise_problems()
            # Into empty tables, as pg_restore does: their secondary indexes (and those of their
            # history tables, if empty) are built once the rows are in, not kept up row by row;
            # their foreign keys to tables that were empty too are checked once, by one query
            # each, instead of by a trigger event per row (the others stay: auth_user's, which
            # dropping would lock against every login until the commit).
            bulk, history = loader.bulk_tables()
            if bulk:  # no one else writes them until the commit (their history: all the import's)
                cursor.execute(f"LOCK TABLE {', '.join(bulk)} IN EXCLUSIVE MODE")
            dropped = _drop_secondary_indexes(cursor, bulk + history)
            history_indexes = {name: dropped.pop(name) for name in history if name in dropped}
            # Statements inserted last (Loader.defer): every key to them from a table that was
            # empty waits for them, a small table's too.
            deferring = any(loader.defers(table) for table in TABLES)
            referring = sorted(loader.empty) if deferring else bulk
            foreign_keys = drop_foreign_keys(cursor, referring, sorted(loader.empty))
            for table in TABLES:
                step(f"Checking references and writing {table.name}")
                loader.load(table)
                loader.raise_problems()
            loader.drop_staged()
            statement_indexes = dropped.pop(models.Statement._meta.db_table, [])
            # The documents' lookups need the indexes; the foreign keys to statements inserted
            # last can only be added once they are in.
            waiting = foreign_keys if loader.deferred else []
            restore_indexes_and_keys(cursor, dropped, [key for key in foreign_keys if key not in waiting])
            if sum(report.created.values()) >= ANALYZE_AFTER:
                # Statistics for what was just written: the planner would otherwise
                # take the filled tables for empty ones and build each document by scans.
                # Sizes and join keys are all it needs: a sample of 3,000 rows a table, not
                # 30,000 (0.5 s); autovacuum analyzes them in full after the commit.
                cursor.execute(f"SET LOCAL default_statistics_target = {ANALYZE_TARGET}")
                cursor.execute("ANALYZE " + ", ".join(written_tables() + list(loader.deferred.values())))
                cursor.execute("RESET default_statistics_target")
            step("Building the statements' search and API documents")
            if "statements" in loader.deferred:  # all of them, inserted now
                statement_documents.build_statement_documents(cursor, rows=loader.deferred["statements"])
                cursor.execute(f"DROP TABLE {loader.deferred['statements']}")
            else:
                statement_documents.build_statement_documents(cursor, loader.statements_to_index())
            restore_indexes_and_keys(cursor, {models.Statement._meta.db_table: statement_indexes}, waiting)
        step("Recording history")
        # The records this import wrote, and only those (not every record of the archive
        # without history: looking for those read every table whole on every import).
        record_history(
            loader.records(loader.created, whole=True),
            reason="Imported from a data package",
            history_type="+",
        )
        record_history(loader.records(loader.updated), reason="Updated from a data package")
        restore_indexes_and_keys(cursor, history_indexes)  # the first entries are in
        step("Committing")
    return report


# Memory for each sort and hash of the import's queries (its transaction only).
IMPORT_WORK_MEM = "256MB"
# Rows created after which the import refreshes the tables' statistics before building documents.
ANALYZE_AFTER = 10_000
# Its statistics target (PostgreSQL's default is 100: 300 rows sampled per unit).
ANALYZE_TARGET = 10
# Search documents that an insert into an empty table computes set-based (cells of the file
# ``s``, and the records its references resolve to, ``r_<column>``), which the tables'
# triggers keep during a bulk load (migration 0017) instead of building them row by row.
BULK_DOCUMENTS = {
    "sources": {
        "search_vector": record_documents.source_vector("s.title", "s.url", "s.description", "r_outlet.name")
    },
    "claims": {
        "search_vector": record_documents.claim_vector("s.text", "r_statement.text"),
        "normalized_text": record_documents.claim_key("s.text"),
    },
}
# Files whose rows, loaded in bulk into an empty table, are inserted after every other file
# (with the documents built from those): Loader.defer.
DEFERRED = {"statements"}


# Rows in a file from which an import into an empty table drops its secondary indexes (and
# builds them afterwards: a trigram index kept up cost 30 µs a claim, built 5 µs).
BULK_ROWS = 5_000


def _drop_secondary_indexes(cursor: CursorWrapper, tables: list[str]) -> dict[str, list[str]]:
    """Drop the indexes of these tables that back no constraint and enforce nothing
    (not unique); return their definitions by table, to be created again."""
    cursor.execute(
        """SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = ANY(%s) AND t.relnamespace = to_regnamespace(current_schema())
          AND NOT x.indisunique AND NOT x.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY 1, 2""",
        [tables],
    )
    dropped: dict[str, list[str]] = {}
    for table, index, definition in cursor.fetchall():
        cursor.execute(f'DROP INDEX "{index}"')
        dropped.setdefault(table, []).append(definition)
    return dropped


def restore_indexes_and_keys(
    cursor: CursorWrapper,
    definitions: dict[str, list[str]],
    foreign_keys: Sequence[tuple[str, str, str]] = (),
) -> None:
    """Create the indexes dropped (by table), and add back the foreign keys dropped."""
    if not any(definitions.values()) and not foreign_keys:
        return
    # A table with deferred foreign-key checks pending cannot be indexed or altered: run
    # them now (as the commit would), then defer again (those keys only: whether other
    # deferrable constraints, such as the documents' builder, are deferred is the caller's).
    tables = sorted({*definitions, *(table for table, _, _ in foreign_keys)})
    cursor.execute(
        "SELECT string_agg(DISTINCT quote_ident(conname), ', ') FROM pg_constraint WHERE contype = 'f' "
        "AND condeferrable AND (conrelid = ANY(%s::regclass[]) OR confrelid = ANY(%s::regclass[]))",
        [tables, tables],
    )
    keys = cursor.fetchone()[0]
    if keys:
        cursor.execute(f"SET CONSTRAINTS {keys} IMMEDIATE")
    for statements in definitions.values():
        for statement in statements:
            cursor.execute(statement)
    for table, name, definition in foreign_keys:
        # Checks every row at once (an anti-join), as pg_restore's constraints do.
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    if keys:
        cursor.execute(f"SET CONSTRAINTS {keys} DEFERRED")


def drop_foreign_keys(
    cursor: CursorWrapper, tables: list[str], targets: list[str]
) -> list[tuple[str, str, str]]:
    """Drop the foreign keys of these tables that refer to one of ``targets``; return
    (table, constraint, definition) of each, to be added back.

    A deferred foreign key queues a trigger event for every row written, each checked
    at the commit by a query that locks the row referred to (3 s of a 94,000-statement
    import); added back, it is checked by one query over the whole table."""
    cursor.execute(
        """SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
        WHERE c.contype = 'f' AND t.relname = ANY(%s) AND r.relname = ANY(%s)
          AND t.relnamespace = to_regnamespace(current_schema())
        ORDER BY 1, 2""",
        [tables, targets],
    )
    keys: list[tuple[str, str, str]] = cursor.fetchall()
    for table, name, _ in keys:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    return keys


def written_tables() -> list[str]:
    """The tables an import writes to, many-to-many ones included."""
    tables = []
    for table in TABLES:
        tables.append(table.model._meta.db_table)
        tables += [f.remote_field.through._meta.db_table for f in table.model._meta.local_many_to_many]
    return tables


class _Progress:
    """A file whose reads advance a progress bar by the bytes read."""

    def __init__(self, file: Any, bar: Any) -> None:
        self.file, self.bar = file, bar

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.file.read(size)
        self.bar.update(len(data))
        return data


class _Loader(Checks):
    """Stages, checks and merges the package's tables; remembers what changed."""

    def __init__(self, cursor: CursorWrapper, report: Report) -> None:
        self.cursor, self.report = cursor, report
        self.problems: list[str] = []
        self.created: dict[str, set[int]] = {}  # table -> pks of new rows
        self.updated: dict[str, set[int]] = {}  # table -> pks of existing rows that changed
        self.statements: set[int] = set()  # whose documents need building
        self.empty: set[str] = set()  # archive tables that had no rows (bulk_tables)
        self.bulk: set[str] = set()  # those of them loaded in bulk, locked until the commit
        self.deferred: dict[str, str] = {}  # files whose rows are inserted last -> where they wait
        self.backend = self.rows("SELECT pg_backend_pid()")[0][0]  # names the staging tables
        cursor.execute(CASTABLE)

    def bulk_tables(self) -> tuple[list[str], list[str]]:
        """The archive tables (and their many-to-many tables) that are empty and get a large
        file, and their history tables that are empty too; remembers every archive table
        that is empty (``empty``)."""
        bulk, history = [], []
        for table in TABLES:
            tables = [table.model._meta.db_table] + [
                f.remote_field.through._meta.db_table
                for f in table.model._meta.local_many_to_many
                if f.remote_field.through._meta.auto_created
            ]
            if table.model._default_manager.exists():
                continue
            self.empty.update(tables)
            if self.rows(f"SELECT count(*) FROM {self.staged(table.name)}")[0][0] >= BULK_ROWS:
                bulk += tables
                historical = table.model.history.model
                if not historical._default_manager.exists():
                    history.append(historical._meta.db_table)
        self.bulk.update(bulk)
        return bulk, history

    def raise_problems(self) -> None:
        if self.problems:
            raise ImportRejected(self.problems)

    def rows(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(sql, params)
        found: list[tuple[Any, ...]] = self.cursor.fetchall()
        return found

    # ---- staging

    def staged(self, name: str) -> str:
        """The table a file is staged in: unlogged, not temporary, so that the checks that
        read it whole can be run by parallel workers (which cannot read temporary tables); it
        lives in the import's transaction only, named after the backend (no other session
        sees it, and another import's does not wait on its name)."""
        return f"claims_import_{self.backend}_{name}"

    def drop_staged(self) -> None:
        """The files' staging tables (those of rows inserted last stay until then)."""
        self.cursor.execute("DROP TABLE IF EXISTS " + ", ".join(self.staged(t.name) for t in TABLES))

    def stage(self, table: Table, path: Path, progress: Callable[[str, int], Any] | None) -> None:
        """The file, as it is, in its staging table (text cells and their line)."""
        names = [c.name for c in table.columns]
        staged = self.staged(table.name)
        self.cursor.execute(f"DROP TABLE IF EXISTS {staged}")
        self.cursor.execute(
            f"CREATE UNLOGGED TABLE {staged} (line bigint GENERATED ALWAYS AS IDENTITY (START WITH 2), "
            + ", ".join(f"{n} text" for n in names)
            + ")"
        )
        bar = progress(table.name, path.stat().st_size) if progress else None
        try:
            with transaction.atomic(), path.open("rb") as file, connection.wrap_database_errors:
                self.cursor.copy_expert(
                    f"COPY {staged} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, HEADER MATCH)",
                    _Progress(file, bar) if bar else file,
                )
        except DatabaseError as error:
            # COPY stops at the first problem; reading the file in Python names them all.
            found: list[str] = []
            _read(path.parent, table, found)
            self.problems.extend(found or [f"{path.name}: {str(error).splitlines()[0]}"])
        finally:
            if bar:
                bar.close()

    # ---- writing

    def load(self, table: Table) -> None:
        self.check_references(table)
        self.check_unique(table)
        self.check_validators(table)
        self.check_model_rules(table)
        if self.problems:
            return
        try:
            with transaction.atomic(), connection.wrap_database_errors:
                self.merge(table)
        except (IntegrityError, DataError) as error:
            self.problems.append(f"{table.name}.csv: {self.explain(table, error)}")
            return
        created, updated = self.created[table.name], self.updated[table.name]
        total = self.rows(f"SELECT count(*) FROM {self.staged(table.name)}")[0][0]
        self.report.created[table.name] += len(created)
        self.report.updated[table.name] += len(updated)
        self.report.unchanged[table.name] += total - len(created) - len(updated)

    @staticmethod
    def explain(table: Table, error: Exception) -> str:
        """A constraint the checks above do not foresee (a record of the archive the file
        collides with): the model's message for it, and the database's details."""
        cause = getattr(error, "__cause__", None)
        diag = getattr(cause, "diag", None)
        name = getattr(diag, "constraint_name", None)
        for constraint in table.model._meta.constraints:
            if constraint.name == name and constraint.violation_error_message:
                detail = getattr(diag, "message_detail", None) or ""
                return f"{constraint.violation_error_message % {'name': name}} {detail}".strip()
        return str(error).splitlines()[0]

    def values(self, table: Table) -> tuple[list[str], list[str], str]:
        """The archive table's columns, the file's values for them (typed, references
        resolved), and the joins those need."""
        columns, values, joins = [], [], []
        for column in table.columns:
            if column.name == "id" or column.name in MANY or column.ref == table.name:
                continue
            field = table.model._meta.get_field(column.name)
            cell = f"s.{column.name}"
            if column.ref:
                alias = f"r_{column.name}"
                target = self.target(column.ref)
                joins.append(f"LEFT JOIN {target} {alias} ON {alias}.public_id = nullif({cell}, '')::uuid")
                value = f"{alias}.id"
            elif table.name == "statements" and column.name == "said_on":
                value = SAID_ON
            elif column.type == "array":
                value = f"ARRAY(SELECT jsonb_array_elements_text(coalesce(nullif({cell}, ''), '[]')::jsonb))"
            elif column.type == "boolean":
                value = f"{cell} = 'true'"
            elif column.type == "string":
                value = f"coalesce({cell}, '')"
            else:
                value = f"nullif({cell}, '')"
            columns.append(field.column)
            values.append(f"({value})::{DB_TYPES[field.get_internal_type()]}")
        return columns, values, " ".join(joins)

    def take_ids(self, table: Table) -> str:
        """Ids for the file's rows, taken from its table's sequence before they are written, in
        the file's order (as an INSERT would take them): a temporary table of line, public_id
        and id. One block of the sequence (a call a row cost 0.3 s a 100,000 rows): the table
        is loaded in bulk, locked, so no one else's INSERT draws from it meanwhile."""
        db_table = table.model._meta.db_table
        assert db_table in self.bulk
        ids = f"ids_{table.name}"
        self.cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{ids}")
        sequence = self.rows("SELECT pg_get_serial_sequence(%s, 'id')", [db_table])[0][0]
        first = self.rows("SELECT nextval(%s)", [sequence])[0][0]
        self.cursor.execute(
            f"CREATE TEMP TABLE {ids} AS SELECT line, id::uuid AS public_id, "
            f"%s + row_number() OVER (ORDER BY line) - 1 AS id FROM {self.staged(table.name)}",
            [first],
        )
        self.cursor.execute(f"SELECT setval(%s, max(id)) FROM {ids} HAVING count(*) > 0", [sequence])
        return ids

    def defers(self, table: Table) -> bool:
        """Whether the file's rows are inserted after every other file's (``defer``)."""
        return table.name in DEFERRED and table.model._meta.db_table in self.bulk

    def target(self, name: str) -> str:
        """Where the rows of a file are, for references to them: its archive table, or the
        table its rows wait in to be inserted last (``deferred``)."""
        return self.deferred.get(name) or BY_NAME[name].model._meta.db_table

    def defer(self, table: Table, selected: str, joins: str) -> list[tuple[Any, ...]]:
        """Statements into an empty archive: their rows (typed, with ids taken in advance) wait
        in a table of their own, for the other files to refer to, and are inserted last with
        their documents (``documents.statements.build_statement_documents``), each written once instead of
        written bare and rewritten whole. Returns (id, id) for each row, as an INSERT would."""
        ids = self.take_ids(table)
        rows = self.staged(f"{table.name}_rows")
        self.cursor.execute(f"DROP TABLE IF EXISTS {rows}")
        self.cursor.execute(
            f"CREATE UNLOGGED TABLE {rows} AS SELECT i.id, s.id::uuid AS public_id, {selected} "
            f"FROM {self.staged(table.name)} s JOIN {ids} i ON i.line = s.line {joins} ORDER BY s.line"
        )
        self.cursor.execute(f"ALTER TABLE {rows} ADD PRIMARY KEY (id)")
        self.deferred[table.name] = rows
        return self.rows(f"SELECT id, id FROM {rows}")

    def merge(self, table: Table) -> None:
        model = table.model
        db_table = model._meta.db_table
        columns, values, joins = self.values(table)
        incoming = f"incoming_{table.name}"
        key_columns = (
            ["public_id"] if table.identified else [model._meta.get_field(k).column for k in table.key]
        )
        selected = ", ".join(f"{v} AS {c}" for c, v in zip(columns, values, strict=True))
        public_id = "s.id::uuid AS public_id, " if table.identified else ""
        if self.defers(table):
            self.record_merged(table, self.defer(table, selected, joins), [])
            return
        if db_table in self.empty:
            # Nothing to update and nothing to leave out: straight from the file, with the
            # search documents its trigger would build row by row (migration 0017).
            documents = BULK_DOCUMENTS.get(table.name, {})
            more: dict[str, str] = {}  # further columns of the INSERT, and their values
            if documents:
                # Tokenised first, by a CREATE TABLE AS that parallel workers can share (an
                # INSERT never is).
                built = f"documents_{table.name}"
                self.cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{built}")
                statement_documents.shared(
                    self.cursor,
                    f"CREATE TEMP TABLE {built} AS SELECT s.line, "
                    + ", ".join(f"{sql} AS {name}" for name, sql in documents.items())
                    + f" FROM {self.staged(table.name)} s {joins}",
                )
                more.update((name, f"d.{name}") for name in documents)
                joins += f" JOIN {built} d ON d.line = s.line"
            referring = [c for c in table.columns if c.ref == table.name]
            if referring and db_table in self.bulk:
                # Ids taken first, so that a reference to a row further down the file is set by
                # the INSERT itself, not by an UPDATE of every referring row afterwards.
                ids = self.take_ids(table)
                more["id"] = "i.id"
                joins += f" JOIN {ids} i ON i.line = s.line"
                for column in referring:
                    more[table.model._meta.get_field(column.name).column] = f"o_{column.name}.id"
                    joins += (
                        f" LEFT JOIN {ids} o_{column.name} "
                        f"ON o_{column.name}.public_id = nullif(s.{column.name}, '')::uuid"
                    )
            computed = "".join(f", {value}" for value in more.values())
            created = self.rows(
                f"INSERT INTO {db_table} ({', '.join(['public_id'] * table.identified + columns + list(more))}) "
                f"SELECT {public_id}{selected}{computed} FROM {self.staged(table.name)} s {joins} "
                f"ORDER BY s.line RETURNING id, {self.tracked(table, db_table)}"
            )
            self.record_merged(table, created, [])
            return
        self.cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{incoming}")
        self.cursor.execute(
            f"CREATE TEMP TABLE {incoming} AS SELECT s.line, {public_id}{selected} FROM {self.staged(table.name)} s {joins}"
        )
        changing = [c for c in columns if c not in key_columns]
        match = " AND ".join(f"t.{c} = i.{c}" for c in key_columns)
        updated = []
        if changing:
            own = ", ".join(changing)
            new = ", ".join(f"i.{c}" for c in changing)
            updated = self.rows(
                f"UPDATE {db_table} t SET ({own}) = ROW({new}) FROM {incoming} i WHERE {match} "
                f"AND ROW({', '.join(f't.{c}' for c in changing)}) IS DISTINCT FROM ROW({new}) "
                f"RETURNING t.id, {self.tracked(table, 't')}"
            )
        all_columns = ", ".join(key_columns + [c for c in columns if c not in key_columns])
        created = self.rows(
            f"INSERT INTO {db_table} ({all_columns}) SELECT {all_columns} FROM {incoming} i "
            f"WHERE NOT EXISTS (SELECT 1 FROM {db_table} t WHERE {match}) ORDER BY i.line RETURNING id, {self.tracked(table, db_table)}"
        )
        self.record_merged(table, created, updated)

    def record_merged(
        self, table: Table, created: list[tuple[Any, ...]], updated: list[tuple[Any, ...]]
    ) -> None:
        """Remember the rows written (id, then the statements they show in), and merge the
        table's self-references and many-to-many columns."""
        self.created[table.name] = {row[0] for row in created}
        self.updated[table.name] = {row[0] for row in updated}
        for row in created + updated:
            self.statements.update(pk for pk in row[1:] if pk is not None)
        for column in table.columns:
            if column.ref == table.name:
                self.merge_self_reference(table, column)
            elif column.name in MANY:
                self.merge_many(table, column)

    @staticmethod
    def tracked(table: Table, alias: str) -> str:
        """The statements whose documents show a row of this table (columns of ``alias``)."""
        columns = dependencies.statement_keys(table.model._meta.db_table)
        return ", ".join(f"{alias}.{c}" for c in columns) if columns else "NULL::bigint"

    def mark_updated(self, table: Table, pks: Iterable[int]) -> None:
        self.updated[table.name].update(set(pks) - self.created[table.name])

    def merge_self_reference(self, table: Table, column: Column) -> None:
        """A source may cite one listed after it: set once every row exists (or, into a
        table loaded in bulk, by the INSERT, with ids taken in advance); a chain of
        references that comes back to where it started is refused."""
        db_table = table.model._meta.db_table
        db_column = table.model._meta.get_field(column.name).column
        self.check_reference(table, column)
        if self.problems:
            return
        if db_table in self.bulk:  # set by its INSERT, ids taken in advance (merge)
            written = self.rows(f"SELECT id FROM {db_table} WHERE {db_column} IS NOT NULL")
        else:
            written = self.rows(
                f"UPDATE {db_table} t SET {db_column} = r.id FROM {self.staged(table.name)} s "
                f"LEFT JOIN {db_table} r ON r.public_id = nullif(s.{column.name}, '')::uuid "
                f"WHERE t.public_id = s.id::uuid AND t.{db_column} IS DISTINCT FROM r.id RETURNING t.id"
            )
        changed: list[int] = [pk for (pk,) in written]
        if not changed:
            return
        # A chain that comes back to where it started (A cites B cites A) is refused.
        for (line,) in self.rows(
            f"""
            WITH RECURSIVE walk(start, current) AS (
                SELECT id, {db_column} FROM {db_table} WHERE id = ANY(%s) AND {db_column} IS NOT NULL
                UNION ALL
                SELECT w.start, t.{db_column} FROM walk w JOIN {db_table} t ON t.id = w.current
                WHERE t.{db_column} IS NOT NULL
            ) CYCLE current SET is_cycle USING path
            SELECT DISTINCT s.line FROM walk w JOIN {db_table} t ON t.id = w.start
            JOIN {self.staged(table.name)} s ON s.id::uuid = t.public_id
            WHERE w.current = w.start ORDER BY 1 LIMIT 1000
            """,
            [changed],
        ):
            self.problem(table, line, f"{column.name}: This would make a citation cycle.")
        self.mark_updated(table, changed)

    def merge_many(self, table: Table, column: Column) -> None:
        """A many-to-many column (topics by slug, evidence by source id): add and remove the difference."""
        field = table.model._meta.get_field(column.name)
        through = field.remote_field.through._meta.db_table
        own, other = f"{field.m2m_field_name()}_id", f"{field.m2m_reverse_field_name()}_id"
        target = field.related_model._meta.db_table
        by = MANY[column.name]
        named = "x.value::uuid" if by == "public_id" else "x.value"
        wanted = f"wanted_{table.name}"
        self.cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{wanted}")
        self.cursor.execute(
            f"CREATE TEMP TABLE {wanted} AS SELECT s.line, o.id AS owner, x.value, g.id AS target "
            f"FROM {self.staged(table.name)} s JOIN {self.target(table.name)} o ON o.public_id = s.id::uuid "
            f"CROSS JOIN jsonb_array_elements_text(coalesce(nullif(s.{column.name}, ''), '[]')::jsonb) AS x(value) "
            f"LEFT JOIN {target} g ON g.{by} = {named}"
        )
        for line, unknown in self.rows(
            f"SELECT line, string_agg(value, ', ' ORDER BY value) FROM {wanted} WHERE target IS NULL "
            "GROUP BY line ORDER BY 1 LIMIT 1000"
        ):
            self.problem(table, line, f"{column.name}: unknown {unknown}")
        if self.problems:
            return
        added = self.rows(
            f"INSERT INTO {through} ({own}, {other}) SELECT DISTINCT owner, target FROM {wanted} w "
            f"WHERE NOT EXISTS (SELECT 1 FROM {through} th WHERE th.{own} = w.owner AND th.{other} = w.target) "
            f"ORDER BY owner, target RETURNING {own}"
        )
        removed = []
        if through not in self.empty:  # else it had nothing to remove
            removed = self.rows(
                f"DELETE FROM {through} th USING {table.model._meta.db_table} o, {self.staged(table.name)} s "
                f"WHERE o.public_id = s.id::uuid AND th.{own} = o.id "
                f"AND NOT EXISTS (SELECT 1 FROM {wanted} w WHERE w.owner = th.{own} AND w.target = th.{other}) "
                f"RETURNING th.{own}"
            )
        changed = {pk for (pk,) in added + removed}
        self.mark_updated(table, changed)
        if table.name == "statements":
            self.statements.update(changed)

    def statements_to_index(self) -> list[int] | None:
        """Statements written, and those using speakers, sources, outlets or topics that
        changed; None when that is every statement of the archive (a load into an empty
        one): the documents are then built without a list of ids to filter every table by
        (an `= ANY` of 94,000 ids cost 3 of the 13 s of the one-year package's documents)."""
        for table in TABLES:
            affected = dependencies.statements_affected(table.model._meta.db_table)
            if affected and self.updated.get(table.name):
                self.statements.update(
                    pk for (pk,) in self.rows(affected, [sorted(self.updated[table.name])])
                )
        if len(self.statements) == models.Statement.objects.count():
            return None
        return sorted(self.statements)

    def records(self, pks: dict[str, set[int]], *, whole: bool = False) -> dict[type[Model], Any]:
        """Model -> pks, from table name -> pks (``created`` or ``updated``); with ``whole``,
        EVERY_ROW for a table loaded in bulk (empty, then locked: all its rows are the import's)."""
        return {
            table.model: EVERY_ROW if whole and table.model._meta.db_table in self.bulk else pks[table.name]
            for table in TABLES
            if pks.get(table.name)
        }
