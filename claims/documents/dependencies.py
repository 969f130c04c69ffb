"""What each stored document is made of: which tables and columns feed it, and how to find
the records whose documents a write to them changes.

One table read by the triggers (``triggers.py`` generates one per feed), by the data package
import (the statements to rebuild after it updated speakers, sources, outlets or topics) and
by the neighbour refresh (``statements.build_public_documents``).
"""

from dataclasses import dataclass

# The statements linked to or from the statements whose ids are in the array {ids}: their
# public documents show those statements' text, date and status.
NEIGHBOURS = """SELECT to_statement_id FROM claims_statementlink WHERE from_statement_id = ANY({ids})
            UNION SELECT from_statement_id FROM claims_statementlink WHERE to_statement_id = ANY({ids})"""


@dataclass(frozen=True)
class Part:
    """Rows that belong to statements: writing one (any column, or ``columns`` if given)
    changes the documents of the statements its ``keys`` name, before and after."""

    name: str
    table: str
    keys: tuple[str, ...]
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Shown:
    """Records shown in other records' documents: changing ``columns`` changes the documents
    of the records ``affected`` selects (SQL, for the records whose ids are in the array
    ``{ids}``)."""

    name: str
    table: str
    columns: tuple[str, ...]
    affected: str


# A statement's documents (statements.py) are made of its own row, these parts, and these records.
STATEMENT_PARTS = [
    Part("statementspeaker", "claims_statementspeaker", ("statement_id",)),
    Part("appearance", "claims_appearance", ("statement_id",)),
    Part("statement_topics", "claims_statement_topics", ("statement_id",)),
    Part("statementlink", "claims_statementlink", ("from_statement_id", "to_statement_id")),
    Part(
        "claim",
        "claims_claim",
        ("statement_id",),
        ("text", "status", "statement_id", "public_id", "created_at"),
    ),
]
STATEMENT_SHOWN = [
    Shown(
        "speaker",
        "claims_speaker",
        ("name", "aliases", "slug"),
        "SELECT statement_id FROM claims_statementspeaker WHERE speaker_id = ANY({ids})",
    ),
    Shown(
        "source",
        "claims_source",
        ("title", "outlet_id", "url", "kind", "published_on"),
        "SELECT statement_id FROM claims_appearance WHERE source_id = ANY({ids})",
    ),
    Shown(
        "outlet",
        "claims_outlet",
        ("name", "slug", "kind"),
        "SELECT a.statement_id FROM claims_appearance a JOIN claims_source s ON s.id = a.source_id "
        "WHERE s.outlet_id = ANY({ids})",
    ),
    Shown(
        "topic",
        "claims_topic",
        ("slug", "name"),
        "SELECT statement_id FROM claims_statement_topics WHERE topic_id = ANY({ids})",
    ),
    # A statement's text, date and status show in its neighbours' public documents.
    Shown(
        "neighbour",
        "claims_statement",
        ("text", "said_on", "said_on_precision", "status", "public_id"),
        NEIGHBOURS,
    ),
]

# The other documents (search.py): own columns, and the records shown in them.
SPEAKER_OWN = ("name", "aliases")
SOURCE_OWN = ("title", "url", "description", "outlet_id")
CLAIM_OWN = ("text", "statement_id")
SOURCE_SHOWN = Shown(
    "outlet_name", "claims_outlet", ("name",), "SELECT id FROM claims_source WHERE outlet_id = ANY({ids})"
)
CLAIM_SHOWN = Shown(
    "statement_text",
    "claims_statement",
    ("text",),
    "SELECT id FROM claims_claim WHERE statement_id = ANY({ids})",
)


def statement_keys(table: str) -> tuple[str, ...]:
    """The columns of ``table`` naming the statements whose documents its rows are part of: a
    statement's own id, or a part's keys (none for other tables)."""
    if table == "claims_statement":
        return ("id",)
    return next((part.keys for part in STATEMENT_PARTS if part.table == table), ())


def statements_affected(table: str) -> str | None:
    """SQL selecting the statements whose documents change when the records of ``table`` whose
    ids are in the array ``%s`` do (None if its records are not shown in statements')."""
    for shown in STATEMENT_SHOWN:
        if shown.table == table and shown.name != "neighbour":
            return shown.affected.format(ids="%s")
    return None
