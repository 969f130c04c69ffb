"""Search: one place for text normalisation and query building, used by the API and the admin.

Documents are built and kept current inside PostgreSQL (migration
``0005_search_triggers``): statements, claims and sources have a stored,
GIN-indexed ``tsvector``, speakers a normalised ``search_names`` with a
trigram index, claims a normalised ``normalized_text`` with a trigram index.
Matching is case- and accent-insensitive (the ``unaccent`` dictionary),
alias-aware (aliases are part of a speaker's names), stems English, and takes
web-search syntax: ``"exact phrase"``, ``or``, ``-excluded``.

See docs/search.md for what is matched and how to rebuild the indexes.
"""

import functools
import re
import time

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Greatest

from . import models
from .exports import statement_line
from .representations import PUBLIC_DOCUMENT, PUBLIC_SQL, public_document_grouped

MAX_QUERY_LENGTH = 200
# Trigram thresholds are set per connection in claims/apps.py: a speaker name
# whose word similarity to the query is below 0.45 is not a typo of it, and
# similar-claim candidates have a trigram similarity of at least 0.3 (or share
# words with the text).
SIMILAR_CLAIMS_THRESHOLD = 0.4
# Similar claims: how many candidates are scored exactly, and how many of the
# text's words (the longest) are used to find them.
CANDIDATES = 100
KEY_WORDS = 12
# Words in more than this share of claims say little about which claim is meant.
COMMON_WORD_SHARE = 0.01
# Relevance is ranked among at most this many matches, the newest: ranking
# every statement that contains a very common word would take seconds.
RANK_WINDOW = 10_000
# A search whose every word is in more than this share of the rows is matched row
# by row among the newest rows rather than through the text index (full_text).
DENSE_WORD_SHARE = 0.2
PLAIN_WORDS = re.compile(r"[^\W_]+(\s+[^\W_]+)*")
SIMILAR_CLAIMS_LIMIT = 10


def normalize(term: str) -> Value:
    """The query term as the triggers store names: lowercased, without accents.

    Computed up front: inside the main query PostgreSQL would call the
    (stable, not immutable) unaccent function again for every row.
    """
    return Value(_normalized(term), output_field=TextField())


@functools.lru_cache(maxsize=4096)
def _normalized(term: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT claims_normalize(%s)", [term])
        return cursor.fetchone()[0]


def text_query(term: str) -> SearchQuery:
    """Web-search syntax, matched against stemmed English and exact words alike.

    A document is indexed in one configuration (English text stemmed, names and
    other languages as exact words); OR-ing both forms of the query finds it
    either way. When both forms are the same (most names), one is enough, and
    ranking does half the work.
    """
    english = SearchQuery(term, config="claims_english", search_type="websearch")
    simple = SearchQuery(term, config="claims_simple", search_type="websearch")
    return english if _same_in_both_configurations(term) else english | simple


@functools.lru_cache(maxsize=4096)
def _same_in_both_configurations(term: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT websearch_to_tsquery('claims_english', %s) = websearch_to_tsquery('claims_simple', %s)",
            [term, term],
        )
        return cursor.fetchone()[0]


def rank(term: str):
    # float8, so the value survives a round trip through a pagination cursor.
    return Cast(SearchRank(F("search_vector"), text_query(term)), FloatField())


def headline(term: str, field: str = "text") -> SearchHeadline:
    return SearchHeadline(
        field,
        text_query(term),
        config="claims_english",
        start_sel="<mark>",
        stop_sel="</mark>",
        max_words=25,
        min_words=8,
        max_fragments=2,
        fragment_delimiter=" … ",
    )


def newest_matches(queryset: QuerySet, term: str) -> QuerySet:
    """Bound the work of ranking: only the newest ``RANK_WINDOW`` matches are ranked.

    Only a term with a word that PostgreSQL's statistics count in more than
    ``RANK_WINDOW`` rows is bounded; anything rarer is ranked in full, with no
    extra query. For a common one, the id of the window's oldest match is
    looked up first (PostgreSQL walks the primary key backwards and stops
    there), and the ranked query then reads only the rows from that id on.
    """
    if not _has_common_word(queryset.model, term):
        return queryset
    oldest = queryset.order_by("-pk").values_list("pk", flat=True)[RANK_WINDOW - 1 : RANK_WINDOW]
    floor = next(iter(oldest), None)
    return queryset if floor is None else queryset.filter(pk__gte=floor)


def full_text(queryset: QuerySet, term: str) -> QuerySet:
    query = text_query(term)
    if _matches_most_rows(queryset.model, term):
        # The text index would list most of the table (800,000 entries for a common
        # word at a million statements: ~100 ms to read) only to be intersected
        # with the newest matches (newest_matches). Checked row by row instead
        # (ts_match_vq is what the @@ operator calls, but no index answers a
        # function call), finding those matches costs what reading them does.
        match = Func(F("search_vector"), query, function="ts_match_vq", output_field=BooleanField())
        return queryset.filter(match)
    return queryset.filter(search_vector=query)


def _matches_most_rows(model, term: str) -> bool:
    """Plain words (no operators), each in more than ``DENSE_WORD_SHARE`` of the rows."""
    if not PLAIN_WORDS.fullmatch(term):
        return False
    words = lexemes(term)
    rows, counts = word_stats(model._meta.db_table)
    return bool(words) and rows > 0 and all(counts.get(w, 0) > DENSE_WORD_SHARE * rows for w in words)


search_statements = full_text
search_claims = full_text
search_sources = full_text

# A claim's search document holds its statement's words too (weight B). For readers who see no
# drafts, a claim whose statement is a draft matches only by its own words (weight A).
STATEMENT_SHOWN = Q(statement__isnull=True) | Q(statement__status__in=models.StatusQuerySet.PUBLIC_STATUSES)


def _own_words():
    return Func(F("search_vector"), Value("{a}"), function="ts_filter", output_field=SearchVectorField())


def _matches(vector, query) -> Func:
    return Func(vector, query, function="ts_match_vq", output_field=BooleanField())


def without_hidden_statement_words(queryset: QuerySet, query: SearchQuery) -> QuerySet:
    """Claims that match ``query`` (already filtered on it) minus those that match only by the
    words of a statement the reader may not see."""
    return queryset.filter(STATEMENT_SHOWN | Q(_matches(_own_words(), query)))


def search_public_claims(queryset: QuerySet, term: str) -> QuerySet:
    """``search_claims`` for readers who see no drafts."""
    return without_hidden_statement_words(search_claims(queryset, term), text_query(term))


def search_speakers(queryset: QuerySet, term: str) -> QuerySet:
    """Names and aliases: substrings, or close enough to be a misspelling (trigrams)."""
    normalized = normalize(term)
    # "<%": word similarity above the connection's threshold, answered by the trigram index.
    close = Func(
        normalized,
        F("search_names"),
        template="(%(expressions)s)",
        arg_joiner=" <%% ",
        output_field=BooleanField(),
    )
    return queryset.annotate(name_similarity=name_similarity(term)).filter(
        Q(search_names__contains=normalized) | Q(close)
    )


def name_similarity(term: str) -> Func:
    return Func(normalize(term), F("search_names"), function="word_similarity", output_field=FloatField())


def snippets(model, ids, term: str) -> dict:
    """Highlighted fragments of where ``term`` matched, for one page of results."""
    if not ids:
        return {}
    rows = model.objects.filter(pk__in=ids).annotate(snippet=headline(term)).values_list("pk", "snippet")
    return dict(rows)


def similar_claims(
    text: str, *, threshold: float, limit: int, queryset: QuerySet | None = None, public_only: bool = False
):
    """Existing claims like ``text``, best first, each with a ``score`` in [0, 1].

    Candidates come from the full-text index: claims sharing at least two of
    the text's stemmed words (any one, for a text of one word), the best
    ``CANDIDATES`` by rank. Each is then scored exactly: the larger of the
    trigram similarity of the normalised texts (survives changed numbers,
    word order, missing diacritics and typos) and the share of the text's
    words the claim contains (survives light rewording). Scoring every claim
    would cost a full scan; this costs one index lookup and a hundred scores.

    ``public_only`` (readers who see no drafts): the words of a claim's draft statement
    neither make it a candidate nor count in its score.
    """
    queryset = models.Claim.objects.all() if queryset is None else queryset
    words = lexemes(text)
    if not words:
        return queryset.none()
    # Fetched first, so that the exact scores are computed for these rows only.
    best = list(claim_candidates(queryset, words, public_only=public_only))
    normalized = normalize(text)
    trigram = Func(F("normalized_text"), normalized, function="similarity", output_field=FloatField())
    vector = (
        Case(
            When(STATEMENT_SHOWN, then=F("search_vector")),
            default=_own_words(),
            output_field=SearchVectorField(),
        )
        if public_only
        else F("search_vector")
    )
    matched = [
        Case(When(_matches(vector, _any_of([word])), then=Value(1.0)), default=Value(0.0)) for word in words
    ]
    overlap = ExpressionWrapper(sum(matched[1:], matched[0]) / len(words), output_field=FloatField())
    scored = (
        queryset.filter(pk__in=best)
        .annotate(trigram=trigram, overlap=overlap)
        .annotate(score=Greatest("trigram", "overlap"))
        .filter(score__gte=threshold)
    )
    return scored.order_by("-score", "-id")[:limit]


def claim_candidates(queryset: QuerySet, lexemes: list[str], *, public_only: bool = False) -> QuerySet:
    """Ids of the claims sharing the most of these words, from the full-text index."""
    common = common_claim_words()
    distinctive = [word for word in lexemes if word not in common] or lexemes
    key = sorted(distinctive, key=len, reverse=True)[:KEY_WORDS]
    pairs = [f"{_quote(a)} & {_quote(b)}" for i, a in enumerate(key) for b in key[i + 1 :]] or [
        _quote(key[0])
    ]
    shared = SearchQuery(" | ".join(f"({p})" for p in pairs), config="simple", search_type="raw")
    candidates = queryset.filter(search_vector=shared)
    if public_only:
        candidates = without_hidden_statement_words(candidates, shared)
    return (
        candidates.annotate(candidate_rank=SearchRank(F("search_vector"), _any_of(lexemes)))
        .order_by("-candidate_rank", "-id")
        .values_list("pk", flat=True)[:CANDIDATES]
    )


_word_stats: dict[str, tuple[float, int, dict]] = {}


def word_stats(table: str) -> tuple[int, dict[str, int]]:
    """``table``'s estimated row count, and estimated rows per common word of its search_vector.

    From PostgreSQL's statistics (kept current by autovacuum's ANALYZE), cached
    for ten minutes per process.
    """
    fetched, rows, counts = _word_stats.get(table, (0.0, 0, {}))
    if time.monotonic() - fetched > 600:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.reltuples, s.most_common_elems::text::text[], s.most_common_elem_freqs "
                "FROM pg_class c LEFT JOIN pg_stats s ON s.tablename = c.relname AND s.attname = 'search_vector' "
                "WHERE c.relname = %s",
                [table],
            )
            row = cursor.fetchone() or (0, None, None)
        rows = max(int(row[0]), 0)
        counts = {e: int(f * rows) for e, f in zip(row[1] or [], row[2] or [], strict=False)}
        _word_stats[table] = (time.monotonic(), rows, counts)
    return rows, counts


def common_claim_words() -> frozenset:
    """Words in more than ``COMMON_WORD_SHARE`` of claims: poor at telling claims apart."""
    rows, counts = word_stats(models.Claim._meta.db_table)
    return frozenset(word for word, n in counts.items() if n > COMMON_WORD_SHARE * rows)


def _has_common_word(model, term: str) -> bool:
    _, counts = word_stats(model._meta.db_table)
    return any(counts.get(word, 0) > RANK_WINDOW for word in lexemes(term))


def lexemes(text: str) -> list[str]:
    """The distinct stemmed, unaccented words of ``text`` that are not stop words."""
    return list(_lexemes(text))


@functools.lru_cache(maxsize=4096)
def _lexemes(text: str) -> tuple[str, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT lexeme FROM unnest(to_tsvector('claims_english', %s)) ORDER BY lexeme LIMIT 64",
            [text],
        )
        return tuple(row[0] for row in cursor.fetchall())


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("'", "''") + "'"


def _any_of(lexemes: list[str]) -> SearchQuery:
    # Already stemmed: the "simple" configuration only lowercases them.
    return SearchQuery(" | ".join(_quote(lexeme) for lexeme in lexemes), config="simple", search_type="raw")


# ---------------------------------------------------------------- bulk builds


def source_vector(title: str, url: str, description: str, outlet_name: str) -> str:
    """SQL: a source's search document from these SQL values (as the trigger builds it,
    migration 0005): title, URL split into words, description, its outlet's name."""
    return f"""setweight(to_tsvector('claims_english', coalesce({title}, '')), 'A')
            || setweight(to_tsvector('claims_simple', regexp_replace(coalesce({url}, ''), '[^[:alnum:]]+', ' ', 'g')), 'B')
            || setweight(to_tsvector('claims_english', coalesce({description}, '')), 'C')
            || setweight(to_tsvector('claims_simple', coalesce({outlet_name}, '')), 'D')"""


def claim_vector(text: str, statement_text: str) -> str:
    """SQL: a claim's search document (as the trigger builds it, migration 0005)."""
    return f"""setweight(to_tsvector('claims_english', coalesce({text}, '')), 'A')
                || setweight(to_tsvector('claims_english', coalesce({statement_text}, '')), 'B')"""


def build_documents(cursor) -> None:
    """Every stored document and list, set-based: what the triggers build, for bulk loads."""
    cursor.execute(
        "UPDATE claims_speaker SET search_names = claims_normalize(name || ' ' || array_to_string(aliases, ' '))"
    )
    cursor.execute(
        f"""
        UPDATE claims_source s SET search_vector = {source_vector("s.title", "s.url", "s.description", "o.name")}
        FROM claims_source s2 LEFT JOIN claims_outlet o ON o.id = s2.outlet_id
        WHERE s2.id = s.id
        """
    )
    build_statement_documents(cursor)
    cursor.execute(
        f"""
        UPDATE claims_claim c SET
            search_vector = {claim_vector("c.text", "st.text")},
            normalized_text = claims_normalize(c.text)
        FROM claims_claim c2 LEFT JOIN claims_statement st ON st.id = c2.statement_id
        WHERE c2.id = c.id
        """
    )


def build_statement_documents(cursor, ids: list[int] | None = None, *, rows: str | None = None) -> None:
    """Statements' search documents, export lists and lines, and public documents, set-based (all,
    or those with these ids, and the public documents of the statements linked to or
    from them, which show their text, date and status).

    The same definitions as the triggers (migrations 0009-0015); the test suite
    compares them. One UPDATE writes each row once: a second pass for the public
    documents rewrote every row and its index entries again (half the time of a
    large import). The public documents' nested lists are aggregated for all the
    statements at once (``public_document_grouped``), not queried statement by statement.

    With ``rows`` (a table of statements' own columns, ids included, for an empty
    ``claims_statement``), the statements are inserted from it with their documents
    instead: each row written once, not written bare and then rewritten.
    """
    statements = rows or "claims_statement"
    if ids is None:
        and_l = and_s = ""
        where_parts = "true"
    else:
        where_parts = "{owner} = ANY(%s)"
        and_l = "AND l.from_statement_id = ANY(%s)"
        and_s = "AND s.id = ANY(%s)"
    # The search document's and export lists' aggregates of the speakers, topics and
    # appearances, in the public document's CTEs of the same rows (doc_speakers, doc_topics,
    # doc_appearances): one join and grouping of each instead of two.
    driver = "s" if rows else "s2"  # the alias of the statements the documents are joined to
    doc_ctes, doc_joins, document = public_document_grouped(
        where_parts,
        joined_to=driver,
        statements=statements,
        also={
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
        },
    )
    # The statements' own text, the costliest of the five parts of their search documents,
    # tokenised first by a CREATE TABLE AS, which PostgreSQL runs in parallel workers (an
    # UPDATE or INSERT never is), then joined in.
    cursor.execute("DROP TABLE IF EXISTS pg_temp.statement_text_vectors")
    shared(
        cursor,
        "CREATE TEMP TABLE statement_text_vectors AS SELECT s.id, "
        "setweight(to_tsvector(claims_config(s.language), s.text), 'A') AS vector "
        f"FROM {statements} s WHERE true {and_s}",
        [ids] if ids is not None else [],
    )
    documents = {
        "search_vector": """tv.vector
            || setweight(to_tsvector('claims_simple', coalesce(doc_speakers.names, '')), 'B')
            || setweight(to_tsvector(claims_config(s.language), coalesce(doc_appearances.quotes, '')), 'C')
            || setweight(to_tsvector('claims_simple', s.original_text), 'C')
            || setweight(to_tsvector('claims_simple', coalesce(doc_appearances.titles, '') || ' ' || s.context), 'D')""",
        **{name: f"e.{name}" for name in EXPORT_LISTS},
        "export_jsonl": statement_line(own="s", lists="e"),
        "public_document": f"CASE WHEN s.status IN {PUBLIC_SQL} THEN ({document})::text END",
    }
    joined = f"""
        JOIN statement_text_vectors tv ON tv.id = {driver}.id
        LEFT JOIN responses r ON r.statement_id = {driver}.id
        {" ".join(doc_joins)}
        CROSS JOIN LATERAL (
            SELECT coalesce(doc_speakers.slugs, '') AS export_speakers, coalesce(doc_speakers.roles, '') AS export_speaker_roles,
                   coalesce(doc_topics.slugs, '') AS export_topics, coalesce(doc_appearances.urls, '') AS export_source_urls,
                   coalesce(doc_appearances.printed, '') AS export_quotes, coalesce(doc_appearances.appearances, '[]') AS export_appearances,
                   coalesce(r.ids, '') AS export_responds_to
        ) e"""
    if rows:
        cursor.execute(
            "SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            [rows],
        )
        own = cursor.fetchone()[0]
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
    sql = f"""
        WITH responses AS (
            SELECT l.from_statement_id AS statement_id, string_agg(t.public_id::text, '; ' ORDER BY l.id) AS ids
            FROM claims_statementlink l JOIN {statements} t ON t.id = l.to_statement_id
            WHERE l.type = 'responds_to' {and_l} GROUP BY 1
        ), {", ".join(doc_ctes)}
        {write}
        """
    # Every placeholder is the list of ids.
    cursor.execute(sql, [ids] * sql.count("%s") if ids is not None else [])
    cursor.execute("DROP TABLE statement_text_vectors")
    if ids is not None:
        build_public_documents(cursor, ids, neighbours_only=True)


# The export lists stored with each statement (migration 0010): the lateral ``e``'s columns.
EXPORT_LISTS = [name for name in models.EXPORT_FIELDS if name != "export_jsonl"]


def shared(cursor, sql: str, params=()) -> list[tuple] | None:
    """Run a query that parallel workers may share and that passes back small rows (ids,
    line numbers, search vectors): costed as such, or the planner keeps it in one process
    (at its default cost of passing a row). Returns its rows, if it has any."""
    cursor.execute("SET LOCAL parallel_tuple_cost = 0.01")
    cursor.execute(sql, params)
    found = cursor.fetchall() if cursor.description else None
    cursor.execute("RESET parallel_tuple_cost")
    return found


def build_public_documents(cursor, ids: list[int] | None = None, *, neighbours_only: bool = False) -> None:
    """Public statements' API documents, set-based: all, or those with these ids and
    the statements linked to or from them (which show their text, date and status);
    with ``neighbours_only``, those linked statements alone."""
    if ids is None:
        where, params = "", []
    else:
        linked = """SELECT to_statement_id FROM claims_statementlink WHERE from_statement_id = ANY(%s)
            UNION SELECT from_statement_id FROM claims_statementlink WHERE to_statement_id = ANY(%s)"""
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
