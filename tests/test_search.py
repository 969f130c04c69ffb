"""Search finds what fact-checkers type: accents, aliases, stems, web syntax, typos, paraphrases."""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from claims import documents
from claims.models import Appearance, Claim, Speaker, Statement, Status
from tests.factories import ClaimFactory, SourceFactory, SpeakerFactory, StatementFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"


def found(client, resource, q, **params):
    response = client.get(f"{API}/{resource}/", {"q": q, **params})
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def published(text, **kwargs):
    return StatementFactory(text=text, status=Status.PUBLISHED, **kwargs)


ACCENT_PAIRS = [
    ("Erdoğan", "erdogan"),
    ("Çavuşoğlu", "cavusoglu"),
    ("İstanbul", "istanbul"),
    ("Müller", "muller"),
    ("São Paulo", "sao paulo"),
]


@pytest.mark.parametrize(("written", "typed"), ACCENT_PAIRS)
def test_accents_and_case_do_not_matter_either_way(anon_api, written, typed):
    with_accents = published(f"Talks with {written} went well.")
    without = published(f"Talks with {typed.title()} went badly.")
    both = {str(with_accents.public_id), str(without.public_id)}
    assert set(found(anon_api, "statements", typed)) == both
    assert set(found(anon_api, "statements", written)) == both
    assert set(found(anon_api, "statements", written.upper())) == both


def test_aliases_count_as_the_speakers_name(anon_api):
    mesmari = SpeakerFactory(name="Ahmad al-Mesmari", aliases=["Ahmed al-Mismari"])
    statement = published("Our fight will continue.", speakers=[mesmari])
    published("Unrelated words.")
    assert found(anon_api, "statements", "mismari") == [str(statement.public_id)]
    assert found(anon_api, "statements", "Ahmed al-Mismari") == [str(statement.public_id)]


def test_renaming_a_speaker_reindexes_their_statements(anon_api):
    speaker = SpeakerFactory(name="Khalifa Haftar")
    statement = published("We reject the call.", speakers=[speaker])
    assert found(anon_api, "statements", "hifter") == []
    speaker.aliases = ["Khalifa Hifter"]
    speaker.save()
    assert found(anon_api, "statements", "hifter") == [str(statement.public_id)]


def test_quotes_as_printed_sources_and_outlets_are_searched(anon_api):
    statement = published("We evaluate the operation.")
    source = SourceFactory(title="Joint declaration in Ankara", outlet__name="Anadolu Agency")
    Appearance.objects.create(statement=statement, source=source, quote="Weevaluate the operation")
    for term in ("weevaluate", "ankara", "anadolu"):
        assert found(anon_api, "statements", term) == [str(statement.public_id)], term


def test_english_stemming(anon_api):
    statement = published("They called for a ceasefire.")
    assert found(anon_api, "statements", "ceasefires") == [str(statement.public_id)]
    assert found(anon_api, "statements", "calling") == [str(statement.public_id)]


def test_other_languages_match_exact_words_without_accents(anon_api):
    statement = published("Le cessez-le-feu est déclaré.", language="fr")
    assert found(anon_api, "statements", "declare") == [str(statement.public_id)]


@pytest.mark.django_db
def test_the_language_configuration_is_inlined_into_each_query():
    """claims_config picks a statement's configuration by its language; its body is constants,
    so PostgreSQL inlines it instead of calling a SQL function for every statement (migration 0019)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT claims_config('en')::text, claims_config('en-GB')::text, claims_config('fr')::text, "
            "claims_config('')::text"
        )
        assert cursor.fetchone() == ("claims_english", "claims_english", "claims_simple", "claims_simple")
        cursor.execute(
            "EXPLAIN (VERBOSE) SELECT to_tsvector(claims_config(language), text) FROM claims_statement"
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "claims_config(" not in plan and "'claims_english'::regconfig" in plan


def test_web_search_syntax(anon_api):
    sustainable = published("Declare a sustainable ceasefire in Libya.")
    fragile = published("The ceasefire in Libya is fragile and not sustainable.")
    syria = published("Aid must reach all Syrians.")
    ids = {s: str(s.public_id) for s in (sustainable, fragile, syria)}
    assert found(anon_api, "statements", '"sustainable ceasefire"') == [ids[sustainable]]
    assert set(found(anon_api, "statements", "libya or syrians")) == set(ids.values())
    assert found(anon_api, "statements", "ceasefire -fragile") == [ids[sustainable]]


def test_results_are_ranked_by_relevance_by_default(anon_api):
    once = published("A long statement that mentions the pipeline once among many other words about gas.")
    title = published("TurkStream pipeline: the TurkStream pipeline delivers gas via TurkStream.")
    assert found(anon_api, "statements", "turkstream pipeline") == [str(title.public_id)]
    assert found(anon_api, "statements", "pipeline") == [str(title.public_id), str(once.public_id)]
    # Another ordering is still available.
    by_date = found(anon_api, "statements", "pipeline", ordering="-created_at")
    assert by_date == [str(title.public_id), str(once.public_id)]


def test_relevance_pages_are_disjoint(anon_api):
    for i in range(7):
        published(f"Ceasefire statement {'ceasefire ' * (i % 3)} number {i}.")
    seen, url = [], f"{API}/statements/?q=ceasefire&page_size=3"
    while url:
        body = anon_api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 7


def test_relevance_needs_a_search(anon_api):
    response = anon_api.get(f"{API}/statements/", {"ordering": "relevance"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "ordering"


def test_results_carry_highlighted_snippets(anon_api):
    published("Turkey and Russia called on all parties in Libya to declare a ceasefire at midnight.")
    row = anon_api.get(f"{API}/statements/", {"q": "ceasefires"}).json()["results"][0]
    assert "<mark>ceasefire</mark>" in row["snippet"]
    claim = ClaimFactory(text="Iran launched a dozen ballistic missiles.", status=Status.PUBLISHED)
    row = anon_api.get(f"{API}/claims/", {"q": "missile"}).json()["results"][0]
    assert row["id"] == str(claim.public_id)
    assert "<mark>missiles</mark>" in row["snippet"]


def test_claims_and_sources_are_searched(anon_api):
    statement = published("Our fight against terrorist organizations will continue.")
    claim = ClaimFactory(text="Tripoli was seized.", statement=statement, status=Status.PUBLISHED)
    assert found(anon_api, "claims", "terrorist") == [str(claim.public_id)]
    source = SourceFactory(
        title="Haftar rejects ceasefire", url="https://www.duvarenglish.com/haftar-rejects"
    )
    SourceFactory(title="Something else")
    assert found(anon_api, "sources", "rejecting") == [str(source.public_id)]
    assert found(anon_api, "sources", "duvarenglish") == [str(source.public_id)]


TYPOS = [
    ("erdogn", "Recep Tayyip Erdoğan"),
    ("al-mismari", "Ahmad al-Mesmari"),
    ("Cavusolgu", "Mevlüt Çavuşoğlu"),
    ("khamenie", "Ali Khamenei"),
]


@pytest.mark.parametrize(("typed", "expected"), TYPOS)
def test_speaker_lookup_tolerates_typos(anon_api, typed, expected):
    SpeakerFactory(name="Recep Tayyip Erdoğan", aliases=["Erdogan"])
    SpeakerFactory(name="Ahmad al-Mesmari", aliases=["Ahmed al-Mismari"])
    SpeakerFactory(name="Mevlüt Çavuşoğlu")
    SpeakerFactory(name="Ali Khamenei")
    SpeakerFactory(name="Erdal Ergun")
    rows = anon_api.get(f"{API}/speakers/", {"q": typed}).json()["results"]
    assert rows and rows[0]["name"] == expected


def test_speaker_lookup_does_not_match_everything(anon_api):
    SpeakerFactory(name="Vladimir Putin")
    assert anon_api.get(f"{API}/speakers/", {"q": "lavrov"}).json()["results"] == []


# ---------------------------------------------------------------- similar claims

ORIGINAL = "Early on 8 January 2020, Iran launched more than a dozen ballistic missiles against U.S. military and coalition forces in Iraq."
PARAPHRASES = [
    "Iran fired more than a dozen ballistic missiles at US military and coalition forces in Iraq on 8 January 2020",
    "On January 8, 2020 Iran launched over 12 ballistic missiles against American and coalition forces in Iraq",
    "More than a dozen ballistic missiles were launched by Iran against coalition and U.S. forces in Iraq",
    "early on 8 january 2020 iran launched more than a dozen balistic missiles against us military and coalition forces in iraq",
]
UNRELATED = [
    "The TurkStream pipeline will deliver Russian gas to Turkey and southern Europe.",
    "Turkey's parliament approved a motion to deploy troops to Libya.",
    "Kangaroos cannot walk backwards.",
]


@pytest.fixture
def claims(db):
    original = ClaimFactory(text=ORIGINAL, status=Status.PUBLISHED)
    ClaimFactory(
        text="Qassem Soleimani was killed in a U.S. drone strike in Baghdad in January 2020.",
        status=Status.PUBLISHED,
    )
    ClaimFactory(
        text="The TurkStream gas pipeline was launched in Istanbul on 8 January 2020.",
        status=Status.PUBLISHED,
    )
    return original


@pytest.mark.parametrize("text", PARAPHRASES)
def test_similar_claims_finds_paraphrases(anon_api, claims, text):
    body = anon_api.get(f"{API}/claims/similar/", {"text": text}).json()
    assert body["results"], text
    best = body["results"][0]
    assert best["id"] == str(claims.public_id)
    assert 0.4 <= best["score"] <= 1


@pytest.mark.parametrize("text", UNRELATED)
def test_similar_claims_ignores_unrelated_claims(anon_api, claims, text):
    ids = [r["id"] for r in anon_api.get(f"{API}/claims/similar/", {"text": text}).json()["results"]]
    assert str(claims.public_id) not in ids


def test_similar_claims_scores_are_ordered_and_thresholded(anon_api, claims):
    rows = anon_api.get(f"{API}/claims/similar/", {"text": ORIGINAL, "threshold": 0.1}).json()["results"]
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0)
    assert all(0.1 <= s <= 1 for s in scores)
    strict = anon_api.get(f"{API}/claims/similar/", {"text": ORIGINAL, "threshold": 0.99}).json()["results"]
    assert [r["id"] for r in strict] == [str(claims.public_id)]


def test_similar_claims_validates_parameters(anon_api):
    for params, attr in (
        ({}, "text"),
        ({"text": "x", "threshold": "2"}, "threshold"),
        ({"text": "x", "limit": "0"}, "limit"),
    ):
        response = anon_api.get(f"{API}/claims/similar/", params)
        assert response.status_code == 400
        assert attr in [e["attr"] for e in response.json()["errors"]]


def test_similar_claims_hides_drafts_from_anonymous_users(anon_api):
    ClaimFactory(text=ORIGINAL, status=Status.DRAFT)
    assert anon_api.get(f"{API}/claims/similar/", {"text": ORIGINAL}).json()["results"] == []


def test_admin_shows_possible_duplicates(client, superuser, claims):
    client.force_login(superuser)
    duplicate = ClaimFactory(text=PARAPHRASES[0])
    page = client.get(reverse("admin:claims_claim_change", args=[duplicate.pk])).content.decode()
    assert "possible duplicates" in page.lower()
    assert reverse("admin:claims_claim_change", args=[claims.pk]) in page

    data = {
        "text": PARAPHRASES[1],
        "status": "draft",
        "reviews-TOTAL_FORMS": "0",
        "reviews-INITIAL_FORMS": "0",
    }
    response = client.post(reverse("admin:claims_claim_add"), data, follow=True)
    assert "may already be recorded" in response.content.decode()


# ---------------------------------------------------------------- indexes


def plan(sql, params):
    with connection.cursor() as cursor:
        # On a tiny table a sequential scan is cheaper; forbid it to see
        # whether the query *can* use the index at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_statement_search_uses_the_gin_index(monkeypatch):
    """A word that is not in most rows is looked up in the index."""
    from claims import search
    from claims.search import search_statements

    # The statistics are the server's (autovacuum may have analysed an earlier test's
    # archive, full of "ceasefire"), so they are given: a large archive, no dense word.
    monkeypatch.setattr(search, "word_stats", lambda table: (1_000_000, {}))
    published("A ceasefire.")

    sql, params = search_statements(Statement.objects.all(), "ceasefire").query.sql_with_params()
    assert "statement_search" in plan(sql, params)


def test_claim_and_speaker_lookups_use_their_indexes():
    ClaimFactory(text=ORIGINAL)
    SpeakerFactory(name="Recep Tayyip Erdoğan")
    from claims.search import claim_candidates, lexemes

    sql, params = claim_candidates(Claim.objects.all(), lexemes(ORIGINAL)).query.sql_with_params()
    assert "claim_search" in plan(sql, params)
    from claims.search import search_speakers

    sql, params = search_speakers(Speaker.objects.all(), "erdogn").query.sql_with_params()
    assert "speaker_names_trgm" in plan(sql, params)


def test_rebuild_search_recomputes_documents():
    statement = published("A ceasefire.")
    Statement.objects.filter(pk=statement.pk).update(search_vector=None)
    with connection.cursor() as cursor, documents.paused(cursor):
        # As a bulk load does: paused, documents are not maintained.
        cursor.execute("UPDATE claims_statement SET search_vector = NULL, text = 'Other words'")
    assert not Statement.objects.filter(search_vector__isnull=False).exists()
    out = io.StringIO()
    call_command("rebuild_search", stdout=out)
    assert "Re-indexed 1 statements." in out.getvalue()
    assert Statement.objects.filter(search_vector__isnull=False).count() == 1
    assert Claim.objects.count() == 0


def test_very_common_words_are_ranked_among_the_newest_matches(anon_api, monkeypatch):
    from claims import search

    statements = [published(f"Libya statement {i}.") for i in range(5)]
    # As if the statistics counted "libya" in more rows than the window holds.
    monkeypatch.setattr(search, "RANK_WINDOW", 3)
    monkeypatch.setattr(search, "word_stats", lambda table: (1_000_000, {"libya": 500_000}))
    ids = found(anon_api, "statements", "libya")
    assert set(ids) == {str(s.public_id) for s in statements[-3:]}
    # A rare word is ranked across all its matches.
    assert len(found(anon_api, "statements", "statement")) == 5


def test_source_documents_are_rebuilt_only_when_their_words_change():
    """Writing a source's citation (as imports do for whole tables) does not tokenise it again."""
    source, cited = SourceFactory(title="Original headline"), SourceFactory()
    with connection.cursor() as cursor:
        # Only the document column is written: its trigger builds it from the words written.
        cursor.execute("UPDATE claims_source SET search_vector = 'marker' WHERE id = %s", [source.pk])
    type(source).objects.filter(pk=source.pk).update(cites=cited, published_on=None)
    source.refresh_from_db()
    assert str(source.search_vector) == "'marker'"
    type(source).objects.filter(pk=source.pk).update(title="New headline")
    source.refresh_from_db()
    assert "headlin" in str(source.search_vector)


def test_words_in_most_rows_are_matched_row_by_row_with_the_same_results(anon_api, monkeypatch):
    """A search for words most statements contain skips the text index (whose list would be
    most of the table) and checks the newest rows one by one: the results are the same."""
    from django.test.utils import CaptureQueriesContext

    from claims import search

    for n in range(40):
        StatementFactory(status=Status.PUBLISHED, text=f"Ceasefire talks, round {n}.")
    for n in range(10):
        StatementFactory(status=Status.PUBLISHED, text=f"Budget debate number {n}.")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE claims_statement")
    monkeypatch.setattr(search, "_word_stats", {})
    monkeypatch.setattr(search, "RANK_WINDOW", 20)  # so that the newest-matches bound applies
    assert search._matches_most_rows(Statement, "ceasefire talks")
    assert not search._matches_most_rows(Statement, "budget")
    assert not search._matches_most_rows(Statement, "ceasefire -talks")  # operators: the index

    url = "/api/v1/statements/?q=ceasefire+talks&page_size=100&ordering=-said_on"
    with CaptureQueriesContext(connection) as ctx:
        found = anon_api.get(url).json()["results"]
    assert any("ts_match_vq" in q["sql"] for q in ctx.captured_queries)
    assert not any("@@" in q["sql"] for q in ctx.captured_queries)
    expected = Statement.objects.public().filter(search_vector=search.text_query("ceasefire talks"))
    assert {s["id"] for s in found} == {str(pk) for pk in expected.values_list("public_id", flat=True)}
    assert len(found) == 40
