"""Statements as the API reads them, as JSON built by PostgreSQL.

The statements list is the API's hottest path. Built by DRF's nested
serializers from prefetched model instances, a page of 50 cost ~45 ms of
Python (model instances, serializer fields, seven queries compiled per
request). Here the same JSON is SQL (``statement_json``), used twice:

- ``PUBLIC_DOCUMENT``, what anonymous readers see, is stored with each public
  statement (``public_document``) with its other documents (``statements.py``);
  the API writes it out as it is;
- ``statements()`` builds it live, in one precompiled query, for curators,
  whose view includes drafts.

``serializers.StatementSerializer`` stays the definition of the representation
(the OpenAPI schema, and the answers to writes); a test compares the two field
by field on records that use every part of it, for anonymous readers and
curators, so they cannot drift apart.
"""

from dataclasses import dataclass
from typing import Any

import orjson
from django.db import connections, router

from .. import models
from ..permissions import sees_drafts

# The statuses anonymous readers see, as an SQL list: "('published', 'retracted')".
PUBLIC_SQL = "(" + ", ".join(f"'{status}'" for status in models.StatusQuerySet.PUBLIC_STATUSES) + ")"


def timestamp(column: str) -> str:
    """``column`` (timestamptz) as DRF writes it: ISO 8601 in UTC, ``Z``, microseconds when not 0."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    # One to_char a value (three cost 2.5 µs, a fifth of a statement's public document).
    return (
        f"""CASE WHEN date_trunc('second', {utc}) = {utc} THEN to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
        f"""ELSE to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
    )


def _choices_label(column: str, choices: list[tuple[str, str]]) -> str:
    def quoted(text: str) -> str:
        return "'" + str(text).replace("'", "''") + "'"

    cases = " ".join(f"WHEN {quoted(value)} THEN {quoted(label)}" for value, label in choices)
    return f"CASE {column} {cases} ELSE {column} END"


def _visible(alias: str, drafts: str) -> str:
    """Whether the record ``alias`` is shown: always when ``drafts`` (an SQL boolean), else if public."""
    return f"({drafts} OR {alias}.status IN {PUBLIC_SQL})"


@dataclass(frozen=True)
class Part:
    """One nested list of the statement ``s``: the JSON of an element, its order, the rows it
    is made of (``source``, with the column naming their statement, ``owner``) and, if not
    all are shown, the alias whose status decides (``shown_by``: linked statements and
    claims are shown if public, or if the viewer sees drafts of their kind).

    Built two ways from one definition: ``correlated()``, a subquery per statement (the
    API's pages, a few statements), and ``grouped()``, one aggregate over many
    statements joined by their id (bulk builds: a subquery per row cost ~60 µs).
    """

    select: str
    order: str
    source: str  # "{statements}": the table linked statements are read from
    owner: str
    shown_by: str | None = None

    def condition(self, statement_drafts: str, claim_drafts: str) -> str:
        """SQL: which rows are shown, when the SQL booleans given say whether drafts are."""
        if self.shown_by is None:
            return "true"
        return _visible(self.shown_by, claim_drafts if self.shown_by == "c" else statement_drafts)

    def correlated(self, condition: str) -> str:
        return (
            f"(SELECT coalesce(json_agg({self.select} ORDER BY {self.order}), '[]'::json) "
            f"{self.source.format(statements='claims_statement')} WHERE {self.owner} = s.id AND {condition})"
        )

    def grouped(
        self, condition: str, where: str, also: str = "", statements: str = "claims_statement"
    ) -> str:
        """SELECT statement_id, list: for the statements that ``where`` (SQL on ``owner``) selects;
        ``also``, more aggregates of the same rows (", <aggregate> AS <name>…"); linked
        statements read from ``statements``."""
        return (
            f"SELECT {self.owner} AS statement_id, json_agg({self.select} ORDER BY {self.order}) AS list{also} "
            f"{self.source.format(statements=statements)} WHERE {where.format(owner=self.owner)} AND {condition} "
            "GROUP BY 1"
        )


# Source.__str__: the title, or "<kind> by <outlet>, <day> <Month> <year>".
SOURCE_LABEL = f"""CASE WHEN so.title <> '' THEN so.title ELSE
    {_choices_label("so.kind", models.SourceKind.choices)}
    || CASE WHEN o.id IS NULL THEN '' ELSE ' by ' || o.name END
    || CASE WHEN so.published_on IS NULL THEN '' ELSE ', ' || to_char(so.published_on, 'DD FMMonth FMYYYY') END
END"""

# Statement.said_on_display.
SAID_ON_DISPLAY = """CASE
    WHEN s.said_on IS NULL THEN 'date unknown'
    WHEN s.said_on_precision = 'day' THEN to_char(s.said_on, 'FMDD FMMonth FMYYYY')
    WHEN s.said_on_precision = 'month' THEN to_char(s.said_on, 'FMMonth FMYYYY')
    ELSE to_char(s.said_on, 'FMYYYY')
END"""


def _brief_statement(alias: str) -> str:
    return (
        f"json_build_object('id', {alias}.public_id, 'text', {alias}.text, 'said_on', {alias}.said_on, "
        f"'said_on_precision', {alias}.said_on_precision, 'status', {alias}.status)"
    )


SPEAKERS = Part(
    "json_build_object('id', sp.public_id, 'slug', sp.slug, 'name', sp.name, 'role', ss.role)",
    "ss.position, ss.id",
    "FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id",
    "ss.statement_id",
)

TOPICS = Part(
    "json_build_object('slug', t.slug, 'name', t.name)",
    "t.name, t.id",
    "FROM claims_statement_topics st JOIN claims_topic t ON t.id = st.topic_id",
    "st.statement_id",
)

APPEARANCE = f"""json_build_object(
    'id', a.public_id,
    'source', json_build_object(
        'id', so.public_id, 'label', {SOURCE_LABEL}, 'title', so.title, 'url', so.url,
        'kind', so.kind, 'published_on', so.published_on,
        'outlet', CASE WHEN o.id IS NULL THEN NULL ELSE
            json_build_object('id', o.public_id, 'slug', o.slug, 'name', o.name, 'kind', o.kind) END),
    'quote', a.quote,
    'is_first', a.is_first)"""

APPEARANCES = Part(
    APPEARANCE,
    "a.is_first DESC, a.id",
    "FROM claims_appearance a JOIN claims_source so ON so.id = a.source_id LEFT JOIN claims_outlet o ON o.id = so.outlet_id",
    "a.statement_id",
)

LINK = f"json_build_object('type', l.type, 'statement', {_brief_statement('ls')}, 'note', l.note)"

# Statement.said_until, a generated column, which a BEFORE trigger cannot read yet.
SAID_UNTIL = """CASE s.said_on_precision
    WHEN 'month' THEN (s.said_on + INTERVAL '1 month' - INTERVAL '1 day')::date
    WHEN 'year' THEN (s.said_on + INTERVAL '1 year' - INTERVAL '1 day')::date
    ELSE s.said_on
END"""


LINKS = Part(
    LINK,
    "l.type, l.id",
    "FROM claims_statementlink l JOIN {statements} ls ON ls.id = l.to_statement_id",
    "l.from_statement_id",
    "ls",
)
LINKED_FROM = Part(
    LINK,
    # StatementLink orders by from_statement, which means by Statement's own ordering.
    "ls.said_on DESC, ls.id DESC, l.type, l.id",
    "FROM claims_statementlink l JOIN {statements} ls ON ls.id = l.from_statement_id",
    "l.to_statement_id",
    "ls",
)
CLAIMS = Part(
    "json_build_object('id', c.public_id, 'text', c.text, 'status', c.status)",
    "c.created_at DESC, c.id DESC",
    "FROM claims_claim c",
    "c.statement_id",
    "c",
)
PARTS = {
    "speakers": SPEAKERS,
    "topics": TOPICS,
    "appearances": APPEARANCES,
    "links": LINKS,
    "linked_from": LINKED_FROM,
    "claims": CLAIMS,
}


def statement_json(statement_drafts: str, claim_drafts: str, lists: dict[str, str] | None = None) -> str:
    """The statement ``s`` as JSON, in StatementSerializer's field order; linked
    statements and claims shown if public, or if the SQL booleans given say drafts are.

    ``lists`` gives the nested lists' SQL by name (``PARTS``); by default each is a
    subquery on ``s``.
    """
    if lists is None:
        lists = {
            name: part.correlated(part.condition(statement_drafts, claim_drafts))
            for name, part in PARTS.items()
        }
    own = ",\n    ".join(f"'{c}', s.{c}" for c in models.STATEMENT_CONTENT_FIELDS)
    return f"""json_build_object(
    'id', s.public_id,
    'created_at', {timestamp("s.created_at")},
    'updated_at', {timestamp("s.updated_at")},
    {own},
    'speakers', {lists["speakers"]},
    'topics', {lists["topics"]},
    'appearances', {lists["appearances"]},
    'links', {lists["links"]},
    'said_until', {SAID_UNTIL},
    'said_on_display', {SAID_ON_DISPLAY},
    'linked_from', {lists["linked_from"]},
    'claims', {lists["claims"]}
)"""


# What anonymous readers see of a public statement: stored with it (statements.py), read
# as it is by the API.
PUBLIC_DOCUMENT = statement_json("false", "false")


def public_document_grouped(
    where: str, joined_to: str = "s", also: dict[str, str] | None = None, statements: str = "claims_statement"
) -> tuple[list[str], list[str], str]:
    """PUBLIC_DOCUMENT for many statements at once: the CTEs (``doc_<part>``) that
    aggregate each nested list for the statements that ``where`` selects (SQL on
    ``{owner}``), the LEFT JOINs that attach them to the statements ``joined_to`` (an
    alias of the statement ``s`` the document describes), and the document itself: the
    same JSON, text for text, as the subqueries give (tests compare them). ``also`` adds
    aggregates of a part's rows to its CTE (part name -> ", <aggregate> AS <name>…"),
    for other documents built from the same rows in the same statement. Linked statements'
    text, date and status are read from ``statements`` (the rows of statements waiting to be
    inserted, in a bulk import).
    """
    also = also or {}
    ctes, joins, lists = [], [], {}
    for name, part in PARTS.items():
        grouped = part.grouped(part.condition("false", "false"), where, also.get(name, ""), statements)
        ctes.append(f"doc_{name} AS ({grouped})")
        joins.append(f"LEFT JOIN doc_{name} ON doc_{name}.statement_id = {joined_to}.id")
        lists[name] = f"coalesce(doc_{name}.list, '[]'::json)"
    return ctes, joins, statement_json("false", "false", lists)


# The page, in the order of the ids given.
STATEMENTS_SQL = f"""
SELECT coalesce(json_agg({statement_json("%(statement_drafts)s", "%(claim_drafts)s")} ORDER BY page.position), '[]'::json)::text
FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS page(id, position)
JOIN claims_statement s ON s.id = page.id
"""


def statements(ids: list[int], user: Any) -> list[dict[str, Any]]:
    """The statements with these ids, in this order, as ``user`` may see them (their
    links and claims limited to what ``user`` may see, as the serializer does)."""
    if not ids:
        return []
    params: dict[str, Any] = {
        "ids": list(ids),
        "statement_drafts": sees_drafts(user, models.Statement),
        "claim_drafts": sees_drafts(user, models.Claim),
    }
    with connections[router.db_for_read(models.Statement)].cursor() as cursor:
        cursor.execute(STATEMENTS_SQL, params)
        page: list[dict[str, Any]] = orjson.loads(cursor.fetchone()[0])
        return page
