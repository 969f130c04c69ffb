"""Search: one place for text normalisation and query building, used by the API and the admin.

Documents are built and kept current inside PostgreSQL (``claims/documents/``): statements, claims and sources have a stored,
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
