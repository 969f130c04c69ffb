"""Bad input is a JSON 4xx that says what to fix, and nothing is written."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from claims.models import Claim, Review, Source, Speaker, Statement
from tests.factories import (
    ClaimFactory,
    FactCheckerFactory,
    ReviewFactory,
    SourceFactory,
    SpeakerFactory,
    StatementFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db
API = "/api/v1"


def counts():
    return tuple(m.objects.count() for m in (Statement, Claim, Review, Source, Speaker))


def errors(response):
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert body["errors"], body
    return {e["attr"]: e["detail"] for e in body["errors"]}


BAD_STATEMENTS = [
    ("missing text", {}, "text"),
    ("wrong type", {"text": ["a list"]}, "text"),
    ("unknown choice", {"text": "x", "text_type": "rumour"}, "text_type"),
    ("impossible date", {"text": "x", "said_on": "2020-02-30"}, "said_on"),
    ("future date", {"text": "x", "said_on": "2999-01-01"}, "said_on"),
    ("unknown precision", {"text": "x", "said_on_precision": "week"}, "said_on_precision"),
    ("NUL byte", {"text": "a\x00b"}, "text"),
    ("over-long text", {"text": "x" * 20_001}, "text"),
    ("over-long place", {"text": "x", "place": "x" * 201}, "place"),
    ("bad language tag", {"text": "x", "language": "English"}, "language"),
    ("original without translation", {"text": "x", "original_text": "y"}, "original_text"),
    ("unknown speaker", {"text": "x", "speakers": [{"speaker": "nobody"}]}, "speakers.0.speaker"),
    ("unknown role", {"text": "x", "speakers": [{"speaker": "s", "role": "ghost"}]}, "speakers.0.role"),
    ("unknown topic", {"text": "x", "topics": ["nothing"]}, "topics"),
    (
        "unknown source id",
        {"text": "x", "appearances": [{"source": "00000000-0000-0000-0000-000000000000"}]},
        "appearances.0.source",
    ),
    ("malformed source id", {"text": "x", "appearances": [{"source": 12}]}, "appearances.0.source"),
    ("two first appearances", "two_first", "appearances"),
    ("unknown link type", {"text": "x", "links": [{"type": "likes", "statement": "x"}]}, "links.0.type"),
    ("speakers not a list", {"text": "x", "speakers": "s"}, "speakers.non_field_errors"),
]


@pytest.mark.parametrize(("case", "payload", "attr"), BAD_STATEMENTS, ids=[c[0] for c in BAD_STATEMENTS])
def test_bad_statement_input(admin_api, case, payload, attr):
    SpeakerFactory(slug="s")
    if payload == "two_first":
        a, b = SourceFactory(), SourceFactory()
        payload = {
            "text": "x",
            "appearances": [
                {"source": str(a.public_id), "is_first": True},
                {"source": str(b.public_id), "is_first": True},
            ],
        }
    before = counts()
    response = admin_api.post(f"{API}/statements/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert attr in errors(response)
    assert counts() == before


BAD_OTHERS = [
    ("speakers", {"name": "X", "slug": "x", "wikidata_qid": "Q0"}, "wikidata_qid"),
    ("speakers", {"name": "X", "slug": "Not a slug"}, "slug"),
    ("speakers", {"name": "X", "slug": "x", "aliases": ["ok", "x" * 201]}, "aliases.1"),
    ("speakers", {"name": "X", "slug": "x", "kind": "alien"}, "kind"),
    ("sources", {"kind": "article", "url": "javascript:alert(1)"}, "url"),
    ("sources", {"kind": "article", "url": "https://dup.example/1"}, "url"),
    ("sources", {"kind": "article", "outlet": "nobody"}, "outlet"),
    ("sources", {"kind": "article", "published_on": "2020-13-01"}, "published_on"),
    ("outlets", {"name": "X", "slug": "x", "kind": "fact_checker", "country": "Turkey"}, "country"),
    ("topics", {"name": "Dup", "slug": "dup"}, "slug"),
    ("claims", {"text": "x", "statement": "not-a-uuid"}, "statement"),
    ("claims", {"text": "x", "status": "hidden"}, "status"),
    ("reviews", "outside_scale", "non_field_errors"),
    ("reviews", "not_fact_checker", "reviewer"),
    ("reviews", "half_scale", "non_field_errors"),
]


@pytest.mark.parametrize(("resource", "payload", "attr"), BAD_OTHERS)
def test_bad_input_on_other_resources(admin_api, resource, payload, attr):
    SourceFactory(url="https://dup.example/1")
    TopicFactory(slug="dup")
    claim, checker = ClaimFactory(), FactCheckerFactory()
    review = {
        "claim": str(claim.public_id),
        "reviewer": checker.slug,
        "rating_text": "False",
        "verdict": "false",
    }
    if isinstance(payload, str):
        payload = {
            "outside_scale": {**review, "rating_value": "7", "best_rating": "5", "worst_rating": "1"},
            "not_fact_checker": {**review, "reviewer": SourceFactory().outlet.slug},
            "half_scale": {**review, "best_rating": "5"},
        }[payload]
    before = counts()
    response = admin_api.post(f"{API}/{resource}/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert attr in errors(response), errors(response)
    assert counts() == before


def test_malformed_json(admin_api):
    response = admin_api.generic("POST", f"{API}/claims/", '{"text": "trunc', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in errors(response)[None]


def test_wrong_content_type(admin_api):
    response = admin_api.generic("POST", f"{API}/claims/", "text=x", content_type="text/plain")
    assert response.status_code == 415
    assert "text/plain" in errors(response)[None]


def test_body_not_an_object(admin_api):
    response = admin_api.post(f"{API}/claims/", ["a", "list"], format="json")
    assert response.status_code == 400
    assert not Claim.objects.exists()


def test_unknown_ids_and_paths_are_json_404s(anon_api):
    for url in (
        f"{API}/claims/00000000-0000-0000-0000-000000000000/",
        f"{API}/claims/not-a-uuid/",
        f"{API}/nothing-here/",
        f"{API}/claims/00000000-0000-0000-0000-000000000000/history/",
    ):
        response = anon_api.get(url)
        assert response.status_code == 404, url
        assert response.json()["errors"][0]["code"] == "not_found"


def test_method_not_allowed_is_json(anon_api):
    response = anon_api.put(f"{API}/claims/", {}, format="json")
    assert response.status_code in (401, 405)
    assert response.json()["errors"]


def test_invalid_update_writes_nothing(admin_api):
    statement = StatementFactory(text="Kept.")
    url = f"{API}/statements/{statement.public_id}/"
    tag = admin_api.get(url)["ETag"]
    response = admin_api.patch(
        url, {"text": "Changed.", "said_on": "2020-02-30"}, format="json", HTTP_IF_MATCH=tag
    )
    assert response.status_code == 400
    statement.refresh_from_db()
    assert statement.text == "Kept."
    assert statement.history.count() == 1
    assert admin_api.get(url)["ETag"] == tag


def test_link_to_itself_is_refused(admin_api):
    statement = StatementFactory()
    url = f"{API}/statements/{statement.public_id}/"
    body = {"links": [{"type": "supports", "statement": str(statement.public_id)}]}
    response = admin_api.patch(url, body, format="json", HTTP_IF_MATCH=admin_api.get(url)["ETag"])
    assert response.status_code == 400
    assert "linked to itself" in str(errors(response))
    assert not statement.outgoing_links.exists()


def test_citation_cycle_is_refused(admin_api):
    a = SourceFactory()
    b = SourceFactory(cites=a)
    url = f"{API}/sources/{a.public_id}/"
    response = admin_api.patch(
        url, {"cites": str(b.public_id)}, format="json", HTTP_IF_MATCH=admin_api.get(url)["ETag"]
    )
    assert response.status_code == 400
    assert "citation cycle" in errors(response)["cites"]
    a.refresh_from_db()
    assert a.cites is None


def test_html_and_sql_metacharacters_are_stored_as_text(admin_api):
    text = "Robert'); DROP TABLE claims_claim;-- <script>alert(1)</script>"
    response = admin_api.post(f"{API}/claims/", {"text": text}, format="json")
    assert response.status_code == 201
    assert Claim.objects.get().text == text
    assert response.json()["text"] == text


def test_unicode_is_kept_exactly(admin_api):
    text = "أحمد المسماري — Çavuşoğlu e\u0301 \u202eRTL"
    response = admin_api.post(f"{API}/claims/", {"text": text}, format="json")
    assert response.json()["text"] == text


def test_review_delete_of_referenced_claim_is_409(admin_api):
    review = ReviewFactory()
    url = f"{API}/claims/{review.claim.public_id}/"
    response = admin_api.delete(url, HTTP_IF_MATCH=admin_api.get(url)["ETag"])
    assert response.status_code == 409
    assert "reviews" in errors(response)[None]
    assert Claim.objects.filter(pk=review.claim.pk).exists()


def test_no_query_runs_when_the_body_is_malformed(admin_api):
    with CaptureQueriesContext(connection) as queries:
        admin_api.generic("POST", f"{API}/claims/", "{", content_type="application/json")
    assert not [q for q in queries.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]


def test_oversized_body_is_a_413(admin_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = admin_api.post(f"{API}/claims/", {"text": "x" * 5000}, format="json")
    assert response.status_code == 413
    assert errors(response)[None].startswith("The request body is larger than")
    assert not Claim.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_database_down_is_a_503_in_json_and_recovers(monkeypatch):
    """With the database unreachable (a real connection attempt to a port nobody listens on),
    the API answers 503 JSON with Retry-After, not a traceback; once it is back, it answers again."""
    import socket

    from django.db import connection
    from rest_framework.test import APIClient

    with socket.socket() as probe:  # a free port: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    real = connection.get_connection_params

    def unreachable():
        return {**real(), "host": "127.0.0.1", "port": dead_port}

    # Server errors are signalled like Django's own; the test client would re-raise them.
    client = APIClient(raise_request_exception=False)
    connection.close()
    monkeypatch.setattr(connection, "get_connection_params", unreachable)
    for url in ("/api/v1/statements/", "/api/v1/speakers/erdogan/"):
        response = client.get(url)
        assert response.status_code == 503, url
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "5"
        assert response.json()["errors"][0]["code"] == "database_unavailable"
    assert client.get("/healthz").status_code == 503
    monkeypatch.undo()
    connection.close()
    assert client.get("/api/v1/statements/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_a_write_whose_answer_cannot_be_read_is_not_applied(admin_api, monkeypatch):
    """The answer to a create is read inside its transaction: if the database fails while it is
    read, the write is rolled back and the client told so (503), never saved but unacknowledged."""
    from django.db import OperationalError

    from claims import serializers

    def fail(self):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(serializers.ClaimSerializer, "data", property(fail))
    admin_api.raise_request_exception = False
    response = admin_api.post(f"{API}/claims/", {"text": "Written but not answered."}, format="json")
    assert response.status_code == 503
    assert not Claim.objects.exists()
