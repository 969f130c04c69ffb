"""Every stored document, defined once, and the database triggers generated from the definitions.

The archive stores what its hot paths read, built by PostgreSQL so that every way of writing
(admin, API, fixtures, imports, a SQL shell) keeps it current:

- ``public.py``: a statement's JSON as the API gives it (stored for public statements, built
  live for curators);
- ``statements.py``: a statement's search document, export lists and JSON Lines line, and the
  one SQL that builds all of a statement's documents for any set of statements;
- ``search.py``: the search documents of speakers, sources and claims;
- ``dependencies.py``: which tables and columns feed which document, and how to find the
  records a write affects;
- ``triggers.py``: the functions and triggers generated from the above, and the comparison
  of what is installed with what is generated.

A statement's documents are built once per transaction, when it commits (or when
``build_pending`` is called). Bulk loads pause the triggers (``paused``) and build everything
set-based at the end (``build_all`` or ``statements.build_statement_documents``).
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.backends.utils import CursorWrapper

from .search import CLAIMS_SQL, SOURCES_SQL, SPEAKERS_SQL
from .statements import build_statement_documents


def build_pending(cursor: CursorWrapper) -> None:
    """Build now the documents of the statements this transaction changed, instead of at its
    commit: for a reader later in the same transaction (the workflows in ``services.py`` end
    with this). Does nothing when none are pending."""
    cursor.execute("SELECT claims_build_pending_documents()")


def built_at_each_write(cursor: CursorWrapper) -> None:
    """For the rest of this transaction, build the documents of the statements each write
    changes at once, instead of at the commit: for a transaction that never commits (a
    test's) or a session that reads what it writes before committing (a shell)."""
    cursor.execute("SELECT set_config('claims.build_documents', 'at_each_write', true)")


@contextmanager
def paused(cursor: CursorWrapper) -> Iterator[None]:
    """Within this block (and its transaction), writes mark no statement and the tables'
    triggers keep documents a bulk insert brings: the caller builds them set-based before
    leaving it. The one way of pausing document building."""
    cursor.execute("SELECT set_config('claims.defer_documents', 'on', true)")
    try:
        yield
    finally:
        cursor.execute("SELECT set_config('claims.defer_documents', 'off', true)")


def build_all(cursor: CursorWrapper) -> dict[str, int]:
    """Every stored document of every record, set-based; the rows written, per kind."""
    written = {}
    for name, sql in (("speakers", SPEAKERS_SQL), ("sources", SOURCES_SQL)):
        cursor.execute(sql.format(where="true"))
        written[name] = cursor.rowcount
    build_statement_documents(cursor)
    cursor.execute("SELECT count(*) FROM claims_statement")
    written["statements"] = cursor.fetchone()[0]
    cursor.execute(CLAIMS_SQL.format(where="true"))
    written["claims"] = cursor.rowcount
    return written
