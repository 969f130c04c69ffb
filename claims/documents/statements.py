"""A statement's stored documents: its search document, export lists, JSON Lines line and
public (API) document, defined once, as the SQL that builds them for any set of statements.

Built by the database (``triggers.py``: every write marks the statements it changes, and each
marked statement's documents are built once, when its transaction commits) and by bulk loads
(``build_statement_documents``), from the same SQL (``documents_sql``). What feeds them, and
how to find the statements a write affects, is ``dependencies.py``.
"""

from collections.abc import Sequence
from typing import Any

from django.db.backends.utils import CursorWrapper

from .. import models
from .dependencies import NEIGHBOURS
from .public import PUBLIC_DOCUMENT, PUBLIC_SQL, public_document_grouped


# Columns the statement exports compute in PostgreSQL: the CSV's as it is written, the
# JSON Lines' when a statement's documents are built (its stored line). The related lists
# come from the statement's export_* columns, built with the other documents: an export
# is one scan of one table.
def said_on_text(alias: str = "s", *, stored: bool = False) -> str:
    """The date at its precision as text: 2020-01-09, 2020-01 or 2020 (empty when unknown).

    For an export, ``date::text``: ISO 8601 on every connection (psycopg2 sets the ISO
    DateStyle when it connects, whatever the server's default; a test checks), and half
    the cost of ``to_char`` (0.45 s of a million-statement export). For a ``stored`` line,
    ``to_char``, whose output no connection's DateStyle changes (documents are built on
    whichever connection writes the statement)."""
    if stored:
        day, month, year = (f"to_char({alias}.said_on, '{f}')" for f in ("YYYY-MM-DD", "YYYY-MM", "YYYY"))
    else:
        day = f"{alias}.said_on::text"
        month, year = f"left({day}, 7)", f"left({day}, 4)"
    return f"""CASE WHEN {alias}.said_on IS NULL THEN ''
         WHEN {alias}.said_on_precision = 'month' THEN {month}
         WHEN {alias}.said_on_precision = 'year' THEN {year}
         ELSE {day} END"""


def precision_text(alias: str = "s") -> str:
    """The date's precision, empty when the date is unknown."""
    return f"CASE WHEN {alias}.said_on IS NULL THEN '' ELSE {alias}.said_on_precision END"


TIMESTAMP = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""


def json_list(column: str) -> str:
    """A "; "-joined export list (slugs, roles, UUIDs: none contains "; ") as a JSON array."""
    return f"CASE WHEN {column} = '' THEN '[]'::json ELSE to_json(string_to_array({column}, '; ')) END"


# The fields of a statement's JSON Lines record, in order: the composite type
# claims_statement_line (migration 0015) names them.
STATEMENT_LINE_FIELDS = [
    "id",
    *models.STATEMENT_CONTENT_FIELDS,
    *("speakers", "speaker_roles", "topics", "source_urls", "quotes", "responds_to"),
    *("created_at", "updated_at", "appearances"),
]


def statement_line(own: str = "s", lists: str = "s") -> str:
    """SQL: a statement's line of the JSON Lines export (text), its own columns read from
    ``own`` and its export lists from ``lists``.

    The line is stored with the statement (``export_jsonl``), built with its other documents
    (``DOCUMENTS``): building it at export time
    cost three times the plain COPY of the rows. ``row_to_json`` of a row of the type
    ``claims_statement_line`` names the fields without a subquery per statement (which
    cost twice as much).
    """
    dated = {"said_on": said_on_text(own, stored=True), "said_on_precision": precision_text(own)}
    values = [
        f"{own}.public_id",
        *(dated.get(c, f"{own}.{c}") for c in models.STATEMENT_CONTENT_FIELDS),
        *(json_list(f"{lists}.{c}") for c in ("export_speakers", "export_speaker_roles", "export_topics")),
        f"""jsonb_path_query_array({lists}.export_appearances, '$[*] ? (@.url != "").url')""",
        f"""jsonb_path_query_array({lists}.export_appearances, '$[*] ? (@.quote != "").quote')""",
        json_list(f"{lists}.export_responds_to"),
        TIMESTAMP.format(f"{own}.created_at"),
        TIMESTAMP.format(f"{own}.updated_at"),
        f"{lists}.export_appearances",
    ]
    assert len(values) == len(STATEMENT_LINE_FIELDS)
    return "row_to_json(ROW(\n        " + ",\n        ".join(values) + "\n    )::claims_statement_line)::text"


# ---------------------------------------------------------------- the builder

# The documents' aggregates of a statement's speakers, topics and appearances, added to the
# public document's CTEs of the same rows (doc_speakers, doc_topics, doc_appearances): one
# join and grouping of each instead of two.
PART_AGGREGATES = {
    "speakers": """,
            string_agg(sp.name || ' ' || array_to_string(sp.aliases, ' '), ' ' ORDER BY ss.position, ss.id) AS names,
            string_agg(sp.slug, '; ' ORDER BY ss.position, ss.id) AS slugs,
            string_agg(ss.role, '; ' ORDER BY ss.position, ss.id) AS roles""",
    "topics": """,
            string_agg(t.slug, '; ' ORDER BY t.slug COLLATE "C") AS slugs""",
    "appearances": """,
            string_agg(a.quote, ' ' ORDER BY a.is_first DESC, a.id) AS quotes,
            string_agg(coalesce(so.title, '') || ' ' || coalesce(o.name, ''), ' ' ORDER BY a.is_first DESC, a.id) AS titles,
            string_agg(so.url, '; ' ORDER BY a.is_first DESC, a.id) FILTER (WHERE so.url <> '') AS urls,
            string_agg(a.quote, '; ' ORDER BY a.is_first DESC, a.id) FILTER (WHERE a.quote <> '') AS printed,
            jsonb_agg(jsonb_build_object('source', so.public_id, 'url', so.url, 'quote', a.quote,
                                         'is_first', a.is_first) ORDER BY a.is_first DESC, a.id) AS appearances""",
}

# The statement's own text, weight A of its search document: the costliest part, which a bulk
# build tokenises first, in parallel workers (``build_statement_documents``).
TEXT_VECTOR = "setweight(to_tsvector(claims_config(s.language), s.text), 'A')"

# The export lists stored with each statement: the lateral ``e``'s columns.
EXPORT_LISTS = [name for name in models.EXPORT_FIELDS if name != "export_jsonl"]

# Every column the builder writes (and nothing else writes).
DOCUMENT_COLUMNS = ["search_vector", *models.EXPORT_FIELDS, "public_document"]


def documents_sql(
    *, ids: str | None, rows: str | None = None, text_vector: str = TEXT_VECTOR, own: list[str] | None = None
) -> str:
    """SQL: one statement that writes the documents of the statements whose ids are in the
    array ``ids`` (an SQL expression; every statement when None): their search documents,
    export lists and lines, and public documents, each defined once, here and in
    ``public.py``. The triggers' builder (``claims_build_statement_documents``) and the bulk
    builds (``build_statement_documents``) are both this SQL.

    One UPDATE writes each row once. The public documents' nested lists are aggregated for all
    the statements at once (``public_document_grouped``), not queried statement by statement.
    ``text_vector``: the statements' own text's vector (SQL on ``s``, or on a table joined as
    ``tv``). With ``rows`` (a table of statements' own columns ``own``, ids included, for an
    empty ``claims_statement``), the statements are inserted from it with their documents
    instead: each row written once, not written bare and then rewritten.
    """
    statements = rows or "claims_statement"
    if ids is None:
        where_parts, and_l, and_s = "true", "", ""
    else:
        where_parts = f"{{owner}} = ANY({ids})"
        and_l = f"AND l.from_statement_id = ANY({ids})"
        and_s = f"AND s.id = ANY({ids})"
    driver = "s" if rows else "s2"  # the alias of the statements the documents are joined to
    doc_ctes, doc_joins, document = public_document_grouped(
        where_parts, joined_to=driver, statements=statements, also=PART_AGGREGATES
    )
    documents = {
        "search_vector": f"""{text_vector}
            || setweight(to_tsvector('claims_simple', coalesce(doc_speakers.names, '')), 'B')
            || setweight(to_tsvector(claims_config(s.language), coalesce(doc_appearances.quotes, '')), 'C')
            || setweight(to_tsvector('claims_simple', s.original_text), 'C')
            || setweight(to_tsvector('claims_simple', coalesce(doc_appearances.titles, '') || ' ' || s.context), 'D')""",
        **{name: f"e.{name}" for name in EXPORT_LISTS},
        "export_jsonl": statement_line(own="s", lists="e"),
        "public_document": f"CASE WHEN s.status IN {PUBLIC_SQL} THEN ({document})::text END",
    }
    assert list(documents) == DOCUMENT_COLUMNS
    text_join = f"JOIN statement_text_vectors tv ON tv.id = {driver}.id" if "tv." in text_vector else ""
    joined = f"""
        {text_join}
        LEFT JOIN responses r ON r.statement_id = {driver}.id
        {" ".join(doc_joins)}
        CROSS JOIN LATERAL (
            SELECT coalesce(doc_speakers.slugs, '') AS export_speakers, coalesce(doc_speakers.roles, '') AS export_speaker_roles,
                   coalesce(doc_topics.slugs, '') AS export_topics, coalesce(doc_appearances.urls, '') AS export_source_urls,
                   coalesce(doc_appearances.printed, '') AS export_quotes, coalesce(doc_appearances.appearances, '[]') AS export_appearances,
                   coalesce(r.ids, '') AS export_responds_to
        ) e"""
    if rows:
        assert own is not None
        write = f"""
        INSERT INTO claims_statement ({", ".join(own + list(documents))})
        SELECT {", ".join(f"s.{c}" for c in own)}, {", ".join(documents.values())}
        FROM {rows} s {joined}
        ORDER BY s.id"""
    else:
        write = f"""
        UPDATE claims_statement s SET {", ".join(f"{name} = {sql}" for name, sql in documents.items())}
        FROM claims_statement s2 {joined}
        WHERE s2.id = s.id {and_s}"""
    return f"""
        WITH responses AS (
            SELECT l.from_statement_id AS statement_id, string_agg(t.public_id::text, '; ' ORDER BY l.id) AS ids
            FROM claims_statementlink l JOIN {statements} t ON t.id = l.to_statement_id
            WHERE l.type = 'responds_to' {and_l} GROUP BY 1
        ), {", ".join(doc_ctes)}
        {write}"""


def build_statement_documents(
    cursor: CursorWrapper, ids: list[int] | None = None, *, rows: str | None = None
) -> None:
    """Statements' documents, set-based, for bulk loads (``documents_sql``): all, or those with
    these ids and the public documents of the statements linked to or from them (which show
    their text, date and status); with ``rows``, inserted from that table."""
    statements = rows or "claims_statement"
    # The statements' own text tokenised first by a CREATE TABLE AS, which PostgreSQL runs in
    # parallel workers (an UPDATE or INSERT never is), then joined in.
    cursor.execute("DROP TABLE IF EXISTS pg_temp.statement_text_vectors")
    shared(
        cursor,
        f"CREATE TEMP TABLE statement_text_vectors AS SELECT s.id, {TEXT_VECTOR} AS vector "
        f"FROM {statements} s" + ("" if ids is None else " WHERE s.id = ANY(%s)"),
        [] if ids is None else [ids],
    )
    own = None
    if rows:
        cursor.execute(
            "SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [rows],
        )
        own = cursor.fetchone()[0]
    sql = documents_sql(ids=None if ids is None else "%s", rows=rows, text_vector="tv.vector", own=own)
    # Every placeholder is the list of ids.
    cursor.execute(sql, [ids] * sql.count("%s") if ids is not None else [])
    cursor.execute("DROP TABLE statement_text_vectors")
    if ids is not None:
        build_public_documents(cursor, ids, neighbours_only=True)


def shared(cursor: CursorWrapper, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]] | None:
    """Run a query that parallel workers may share and that passes back small rows (ids,
    line numbers, search vectors): costed as such, or the planner keeps it in one process
    (at its default cost of passing a row). Returns its rows, if it has any."""
    cursor.execute("SET LOCAL parallel_tuple_cost = 0.01")
    cursor.execute(sql, params)
    found = cursor.fetchall() if cursor.description else None
    cursor.execute("RESET parallel_tuple_cost")
    return found


def build_public_documents(
    cursor: CursorWrapper, ids: list[int] | None = None, *, neighbours_only: bool = False
) -> None:
    """Public statements' API documents, set-based: all, or those with these ids and
    the statements linked to or from them (which show their text, date and status);
    with ``neighbours_only``, those linked statements alone."""
    if ids is None:
        where, params = "", []
    else:
        linked = NEIGHBOURS.format(ids="%s")
        if neighbours_only:
            where = f"AND s.id IN (({linked}) EXCEPT SELECT unnest(%s::bigint[]))"
        else:
            where = f"AND s.id IN (SELECT unnest(%s::bigint[]) UNION {linked})"
        params = [ids] * 3
    cursor.execute(
        f"""UPDATE claims_statement s SET public_document =
            CASE WHEN s.status IN {PUBLIC_SQL} THEN ({PUBLIC_DOCUMENT})::text END
        WHERE true {where}""",
        params,
    )
