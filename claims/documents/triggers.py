"""The database functions and triggers that keep every stored document current, generated
from the definitions (``statements.py``, ``search.py``) and the dependency table
(``dependencies.py``), in one explicit order.

A statement's documents are built once per transaction, not once per row written: every
write that changes them marks the statement (``claims_mark_statements``, into the unlogged
``claims_pending_document``, one row per statement and transaction), and a deferred
constraint trigger builds the marked statements' documents set-based when the transaction
commits (``claims_build_pending_documents``). ``documents.build_pending()`` builds them
earlier, for a reader later in the same transaction; ``documents.built_at_each_write()``
makes a transaction build them at each write (as a test's transaction, which never commits,
needs). A speaker's, source's or claim's
documents are built from its own row by a BEFORE trigger (one per table, so no order between
triggers matters), and set-based when a record they show changes.

Migrations hold snapshots of this SQL, written by ``python manage.py document_migration``; a
test compares what is installed with what this module generates (``installed()``).
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.backends.utils import CursorWrapper

from .. import models
from . import dependencies as deps
from .search import CLAIMS_SQL, SOURCES_SQL, claim_key, claim_vector, source_vector, speaker_names
from .statements import DOCUMENT_COLUMNS, documents_sql

PAUSED = "claims_documents_deferred()"
# A transaction that sets claims.build_documents to 'at_each_write' has its statements'
# documents built at each write instead of at its commit (``documents.built_at_each_write``).
AT_EACH_WRITE = "coalesce(current_setting('claims.build_documents', true), '') = 'at_each_write'"
PENDING = "claims_pending_document"
# The statements marked by each transaction, until it commits (unlogged: a crash ends those
# transactions anyway).
PENDING_TABLE = f"""CREATE UNLOGGED TABLE IF NOT EXISTS {PENDING} (
    xact xid8 NOT NULL, statement_id bigint NOT NULL, PRIMARY KEY (xact, statement_id)
);"""
# The constraint trigger that builds the marked statements' documents at commit.
BUILDER = "claims_pending_documents"


@dataclass(frozen=True)
class Function:
    signature: str
    returns: str
    body: str
    language: str = "plpgsql"
    attributes: str = ""

    @property
    def name(self) -> str:
        return self.signature.split("(")[0]

    def create(self) -> str:
        attributes = f" {self.attributes}" if self.attributes else ""
        return (
            f"CREATE OR REPLACE FUNCTION {self.signature} RETURNS {self.returns} "
            f"LANGUAGE {self.language}{attributes} AS $$\n{self.body.strip(chr(10))}\n$$;"
        )


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str  # BEFORE or AFTER
    events: str
    function: str
    condition: str | None = None
    deferred: bool = False

    def create(self) -> str:
        kind = "CONSTRAINT TRIGGER" if self.deferred else "TRIGGER"
        deferral = " DEFERRABLE INITIALLY DEFERRED" if self.deferred else ""
        when = f" WHEN ({self.condition})" if self.condition else ""
        return (
            f"CREATE {kind} {self.name} {self.timing} {self.events} ON {self.table}{deferral}\n"
            f"    FOR EACH ROW{when} EXECUTE FUNCTION {self.function}();"
        )


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)


def _not_paused_and(condition: str) -> str:
    return f"NOT {PAUSED} AND ({condition})"


def _statement_own_columns() -> list[str]:
    """The statement's columns that its documents are made of: its own values (not its id, its
    curators or its generated and document columns)."""
    fields = models.Statement._meta.concrete_fields
    return [
        str(f.column)
        for f in fields
        if f.column not in DOCUMENT_COLUMNS and not (f.generated or f.primary_key or f.is_relation)
    ]


def functions() -> list[Function]:
    own_row = [
        Function(
            "claims_config(language text)",
            "regconfig",
            "    SELECT CASE WHEN language = 'en' OR language LIKE 'en-%' "
            "THEN 'claims_english'::regconfig ELSE 'claims_simple'::regconfig END",
            "sql",
            "IMMUTABLE PARALLEL SAFE",
        ),
        Function(
            "claims_normalize(value text)",
            "text",
            "    SELECT lower(unaccent(coalesce(value, '')))",
            "sql",
            "STABLE PARALLEL SAFE",
        ),
        # Bulk loads set claims.defer_documents and build the documents set-based at their end.
        Function(
            "claims_documents_deferred()",
            "boolean",
            "    SELECT coalesce(current_setting('claims.defer_documents', true), '') = 'on'",
            "sql",
            "STABLE",
        ),
        Function(
            "claims_build_statement_documents(p_ids bigint[])",
            "void",
            f"BEGIN{documents_sql(ids='p_ids')};\nEND",
        ),
        Function(
            "claims_mark_statements(p_ids bigint[])",
            "void",
            f"""BEGIN
    INSERT INTO {PENDING} (xact, statement_id)
    SELECT DISTINCT pg_current_xact_id(), id FROM unnest(p_ids) AS id WHERE id IS NOT NULL
    ON CONFLICT DO NOTHING;
    IF {AT_EACH_WRITE} THEN
        PERFORM claims_build_pending_documents();
    END IF;
END""",
        ),
        Function(
            "claims_build_pending_documents()",
            "void",
            f"""DECLARE
    pending bigint[];
BEGIN
    WITH built AS (DELETE FROM {PENDING} WHERE xact = pg_current_xact_id_if_assigned() RETURNING statement_id)
    SELECT array_agg(statement_id) INTO pending FROM built;
    IF pending IS NOT NULL THEN
        PERFORM claims_build_statement_documents(pending);
    END IF;
END""",
        ),
        # Fired once per statement marked; the first builds them all, the others find none left.
        Function(
            f"{BUILDER}()",
            "trigger",
            """BEGIN
    PERFORM claims_build_pending_documents();
    RETURN NULL;
END""",
        ),
        Function(
            "claims_statement_written()",
            "trigger",
            """BEGIN
    PERFORM claims_mark_statements(ARRAY[NEW.id]);
    RETURN NULL;
END""",
        ),
    ]
    parts = [
        Function(
            f"claims_{part.name}_written()",
            "trigger",
            f"""BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM claims_mark_statements(ARRAY[{", ".join(f"OLD.{k}" for k in part.keys)}]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM claims_mark_statements(ARRAY[{", ".join(f"NEW.{k}" for k in part.keys)}]);
    END IF;
    RETURN NULL;
END""",
        )
        for part in deps.STATEMENT_PARTS
    ]
    shown = [
        Function(
            f"claims_{shown.name}_shown()",
            "trigger",
            f"""BEGIN
    PERFORM claims_mark_statements(ARRAY({shown.affected.format(ids="ARRAY[NEW.id]")}));
    RETURN NULL;
END""",
        )
        for shown in deps.STATEMENT_SHOWN
    ]
    records = [
        Function(
            "claims_speaker_search()",
            "trigger",
            f"""BEGIN
    NEW.search_names := {speaker_names("NEW.name", "NEW.aliases")};
    RETURN NEW;
END""",
        ),
        # A bulk insert into an empty table brings the documents it computed set-based.
        Function(
            "claims_source_search()",
            "trigger",
            f"""BEGIN
    IF TG_OP = 'INSERT' AND NEW.search_vector IS NOT NULL AND {PAUSED} THEN
        RETURN NEW;
    END IF;
    NEW.search_vector := {source_vector("NEW.title", "NEW.url", "NEW.description", "(SELECT name FROM claims_outlet WHERE id = NEW.outlet_id)")};
    RETURN NEW;
END""",
        ),
        Function(
            "claims_claim_search()",
            "trigger",
            f"""BEGIN
    IF TG_OP = 'INSERT' AND NEW.search_vector IS NOT NULL AND NEW.normalized_text <> '' AND {PAUSED} THEN
        RETURN NEW;
    END IF;
    NEW.search_vector := {claim_vector("NEW.text", "(SELECT text FROM claims_statement WHERE id = NEW.statement_id)")};
    NEW.normalized_text := {claim_key("NEW.text")};
    RETURN NEW;
END""",
        ),
        Function(
            f"claims_{deps.SOURCE_SHOWN.name}_shown()",
            "trigger",
            f"""BEGIN{SOURCES_SQL.format(where=f"r.id IN ({deps.SOURCE_SHOWN.affected.format(ids='ARRAY[NEW.id]')})")};
    RETURN NULL;
END""",
        ),
        Function(
            f"claims_{deps.CLAIM_SHOWN.name}_shown()",
            "trigger",
            f"""BEGIN{CLAIMS_SQL.format(where=f"r.id IN ({deps.CLAIM_SHOWN.affected.format(ids='ARRAY[NEW.id]')})")};
    RETURN NULL;
END""",
        ),
    ]
    return own_row + parts + shown + records


def triggers() -> list[Trigger]:
    statement = [
        Trigger(
            "claims_statement_written",
            "claims_statement",
            "AFTER",
            f"INSERT OR UPDATE OF {', '.join(_statement_own_columns())}",
            "claims_statement_written",
            f"NOT {PAUSED}",
        )
    ]
    parts = [
        Trigger(
            f"claims_{part.name}_written",
            part.table,
            "AFTER",
            f"INSERT OR DELETE OR UPDATE{' OF ' + ', '.join(part.columns) if part.columns else ''}",
            f"claims_{part.name}_written",
            f"NOT {PAUSED}",
        )
        for part in deps.STATEMENT_PARTS
    ]
    shown = [
        Trigger(
            f"claims_{shown.name}_shown",
            shown.table,
            "AFTER",
            f"UPDATE OF {', '.join(shown.columns)}",
            f"claims_{shown.name}_shown",
            _not_paused_and(_changed(shown.columns)),
        )
        for shown in deps.STATEMENT_SHOWN
    ]
    records = [
        Trigger(
            "claims_speaker_search",
            "claims_speaker",
            "BEFORE",
            f"INSERT OR UPDATE OF {', '.join(deps.SPEAKER_OWN)}",
            "claims_speaker_search",
        ),
        Trigger(
            "claims_source_search",
            "claims_source",
            "BEFORE",
            f"INSERT OR UPDATE OF {', '.join(deps.SOURCE_OWN)}",
            "claims_source_search",
        ),
        Trigger(
            "claims_claim_search",
            "claims_claim",
            "BEFORE",
            f"INSERT OR UPDATE OF {', '.join(deps.CLAIM_OWN)}",
            "claims_claim_search",
        ),
        *(
            Trigger(
                f"claims_{s.name}_shown",
                s.table,
                "AFTER",
                f"UPDATE OF {', '.join(s.columns)}",
                f"claims_{s.name}_shown",
                _changed(s.columns),
            )
            for s in (deps.SOURCE_SHOWN, deps.CLAIM_SHOWN)
        ),
    ]
    builder = [Trigger(BUILDER, PENDING, "AFTER", "INSERT", BUILDER, deferred=True)]
    return statement + parts + shown + records + builder


def install_sql(installed: "Installed") -> str:
    """SQL that turns what is ``installed`` into what this module generates: every trigger
    dropped and created again (their order is this module's), functions no longer generated
    dropped, the others created or replaced."""
    wanted = functions()
    names = {f.name for f in wanted}
    drops = [f"DROP TRIGGER {name} ON {table};" for (table, name) in installed.triggers]
    drops += [
        f"DROP FUNCTION {signature};"
        for signature in installed.functions
        if signature.split("(")[0] not in names
    ]
    creates = [f.create() for f in wanted] + [t.create() for t in triggers()]
    return "\n".join([PENDING_TABLE, *drops, *creates]) + "\n"


@dataclass
class Installed:
    """The claims_ functions (identity signature -> definition) and the triggers on claims_
    tables ((table, name) -> definition) of a database, as PostgreSQL prints them."""

    functions: dict[str, str]
    triggers: dict[tuple[str, str], str]


def installed(cursor: CursorWrapper) -> Installed:
    cursor.execute(
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid) "
        "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname LIKE 'claims\\_%' AND p.prokind = 'f' ORDER BY 1"
    )
    found = dict(cursor.fetchall())
    cursor.execute(
        "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND c.relname LIKE 'claims\\_%' ORDER BY 1, 2"
    )
    return Installed(found, {(table, name): definition for table, name, definition in cursor.fetchall()})


class _RolledBack(Exception):
    pass


def drift(cursor: CursorWrapper) -> list[str]:
    """How the installed functions and triggers differ from what this module generates (empty
    when they agree). Installs the generated ones in a savepoint, compares, and rolls back."""
    before = installed(cursor)
    try:
        with transaction.atomic(using=cursor.db.alias):
            cursor.execute(install_sql(before))
            after = installed(cursor)
            raise _RolledBack
    except _RolledBack:
        pass
    return _differences("function", before.functions, after.functions) + _differences(
        "trigger", before.triggers, after.triggers
    )


def _differences(kind: str, old: dict[Any, str], new: dict[Any, str]) -> list[str]:
    problems = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in new:
            problems.append(f"{kind} {key}: installed, not generated")
        elif key not in old:
            problems.append(f"{kind} {key}: generated, not installed")
        elif old[key] != new[key]:
            problems.append(f"{kind} {key}: installed differs from generated")
    return problems
