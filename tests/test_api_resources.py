"""CRUD for every resource, read representations, ETag/If-Match, history and restore."""

import threading

import pytest
from django.db import connection

from claims.models import Appearance, Source, Status
from tests.conftest import token_client
from tests.factories import (
    ClaimFactory,
    FactCheckerFactory,
    OrganisationFactory,
    OutletFactory,
    ReviewFactory,
    SourceFactory,
    SpeakerFactory,
    StatementFactory,
    TopicFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
API = "/api/v1"


def detail(resource, obj):
    return f"{API}/{resource}/{obj.public_id}/"


def read_etag(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response["ETag"]


def write(client, method, url, data):
    return getattr(client, method)(url, data, format="json", HTTP_IF_MATCH=read_etag(client, url))


# Each resource: how to make one, what to create, and a field to change.
def resources():
    return {
        "topics": (TopicFactory, lambda: {"name": "Ceasefire", "slug": "ceasefire"}, {"name": "Cease-fire"}),
        "outlets": (
            OutletFactory,
            lambda: {"name": "Anadolu Agency", "slug": "anadolu", "kind": "news_agency", "country": "TR"},
            {"homepage": "https://example.org/"},
        ),
        "speakers": (
            SpeakerFactory,
            lambda: {
                "name": "Ahmad al-Mesmari",
                "slug": "ahmad-al-mesmari",
                "kind": "person",
                "aliases": ["Ahmed al-Mismari"],
                "affiliations_input": [{"organisation": OrganisationFactory().slug, "role": "Spokesman"}],
            },
            {"aliases": ["Ahmed al-Mismari", "Ahmad al-Mismari"]},
        ),
        "sources": (
            SourceFactory,
            lambda: {"kind": "video", "description": "Video posted to social media", "cites": None},
            {"title": "Renamed"},
        ),
        "statements": (
            StatementFactory,
            lambda: {
                "text": "Our fight will continue until the end.",
                "said_on": "2020-01-09",
                "speakers": [{"speaker": SpeakerFactory().slug, "role": "speaker"}],
                "topics": [TopicFactory().slug],
                "appearances": [
                    {"source": str(SourceFactory().public_id), "quote": "as printed", "is_first": True}
                ],
            },
            {"context": "Video posted to social media."},
        ),
        "claims": (
            ClaimFactory,
            lambda: {"text": "Iran launched a dozen missiles."},
            {"text": "Iran launched more than a dozen missiles."},
        ),
        "reviews": (
            ReviewFactory,
            lambda: {
                "claim": str(ClaimFactory().public_id),
                "reviewer": FactCheckerFactory().slug,
                "rating_text": "Pants on Fire",
                "verdict": "false",
                "rating_value": "0",
                "best_rating": "5",
                "worst_rating": "0",
            },
            {"summary": "No evidence."},
        ),
    }


@pytest.mark.parametrize("resource", list(resources()))
def test_crud(admin_api, resource):
    factory, payload, change = resources()[resource]
    # create
    response = admin_api.post(f"{API}/{resource}/", payload(), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert response["ETag"]
    url = f"{API}/{resource}/{created['id']}/"
    # list and retrieve
    factory()
    listed = admin_api.get(f"{API}/{resource}/").json()
    assert created["id"] in [row["id"] for row in listed["results"]]
    assert listed["next"] is None
    assert admin_api.get(url).json()["id"] == created["id"]
    # partial update and full update
    response = write(admin_api, "patch", url, change)
    assert response.status_code == 200, response.json()
    for key, value in change.items():
        assert response.json()[key] == value
    full = (
        {**payload(), **change}
        if resource not in ("speakers", "topics", "outlets")
        else {**created, **change}
    )
    full = {
        k: v
        for k, v in full.items()
        if k not in ("id", "created_at", "updated_at", "affiliations", "wikidata_url")
    }
    if resource == "speakers":
        full["affiliations_input"] = []
    response = write(admin_api, "put", url, full)
    assert response.status_code == 200, response.json()
    # delete
    response = write(admin_api, "delete", url, None)
    assert response.status_code == 204
    assert admin_api.get(url).status_code == 404


def test_statement_representation_needs_no_follow_up_calls(admin_api):
    haftar, mesmari = SpeakerFactory(name="Khalifa Haftar"), SpeakerFactory(name="Ahmad al-Mesmari")
    call = StatementFactory(speakers=[SpeakerFactory()])
    video = SourceFactory(kind="video", title="", url="")
    payload = {
        "text": "We welcome Putin's call for a cease-fire.",
        "said_on": "2020-01-09",
        "speakers": [{"speaker": mesmari.slug}, {"speaker": str(haftar.public_id), "role": "on_behalf_of"}],
        "appearances": [{"source": str(video.public_id), "quote": "Weevaluate", "is_first": True}],
        "links": [
            {"type": "responds_to", "statement": str(call.public_id)},
            {"type": "rejects", "statement": str(call.public_id)},
        ],
    }
    body = admin_api.post(f"{API}/statements/", payload, format="json").json()
    assert [(s["name"], s["role"]) for s in body["speakers"]] == [
        ("Ahmad al-Mesmari", "speaker"),
        ("Khalifa Haftar", "on_behalf_of"),
    ]
    assert body["appearances"][0]["quote"] == "Weevaluate"
    assert body["appearances"][0]["source"]["kind"] == "video"
    assert {link["type"] for link in body["links"]} == {"responds_to", "rejects"}
    assert body["links"][0]["statement"]["id"] == str(call.public_id)
    assert body["status"] == "draft"
    call_body = admin_api.get(detail("statements", call)).json()
    assert {link["type"] for link in call_body["linked_from"]} == {"responds_to", "rejects"}


def test_updating_relations_keeps_ids_of_unchanged_rows(admin_api):
    statement = StatementFactory()
    source = SourceFactory()
    Appearance.objects.create(statement=statement, source=source, quote="old")
    appearance_id = Appearance.objects.get().public_id
    url = detail("statements", statement)
    response = write(
        admin_api, "patch", url, {"appearances": [{"source": str(source.public_id), "quote": "new"}]}
    )
    assert response.status_code == 200
    assert Appearance.objects.get().public_id == appearance_id
    assert Appearance.objects.get().quote == "new"


def test_claim_shows_reviews_with_verdicts(admin_api):
    review = ReviewFactory(verdict="mostly_false", rating_text="Mostly False")
    body = admin_api.get(detail("claims", review.claim)).json()
    assert [(r["verdict"], r["rating_text"]) for r in body["reviews"]] == [("mostly_false", "Mostly False")]
    assert body["statement"]["id"] == str(review.claim.statement.public_id)


def test_month_precision_is_normalised_on_write(admin_api):
    body = admin_api.post(
        f"{API}/statements/",
        {"text": "x", "said_on": "2020-01-17", "said_on_precision": "month"},
        format="json",
    ).json()
    assert (body["said_on"], body["said_until"], body["said_on_display"]) == (
        "2020-01-01",
        "2020-01-31",
        "January 2020",
    )


def test_speakers_outlets_and_topics_can_be_fetched_by_slug(anon_api):
    speaker = SpeakerFactory(slug="recep-tayyip-erdogan")
    assert anon_api.get(f"{API}/speakers/recep-tayyip-erdogan/").json()["id"] == str(speaker.public_id)
    assert anon_api.get(f"{API}/statements/not-a-uuid/").status_code == 404


def test_source_chain_is_followed_both_ways(anon_api):
    video = SourceFactory(kind="video")
    wire = SourceFactory(cites=video)
    body = anon_api.get(detail("sources", video)).json()
    assert body["cited_by"] == [str(wire.public_id)]
    assert anon_api.get(detail("sources", wire)).json()["cites"]["id"] == str(video.public_id)


# ---------------------------------------------------------------- concurrency


def test_if_match_required_and_checked(admin_api):
    claim = ClaimFactory(text="Before.")
    url = detail("claims", claim)
    response = admin_api.patch(url, {"text": "No precondition."}, format="json")
    assert response.status_code == 428
    assert "If-Match" in response.json()["errors"][0]["detail"]

    tag = read_etag(admin_api, url)
    assert admin_api.patch(url, {"text": "First."}, format="json", HTTP_IF_MATCH=tag).status_code == 200
    stale = admin_api.patch(url, {"text": "Second."}, format="json", HTTP_IF_MATCH=tag)
    assert stale.status_code == 412
    assert admin_api.delete(url, HTTP_IF_MATCH=tag).status_code == 412
    claim.refresh_from_db()
    assert claim.text == "First."
    assert admin_api.delete(url).status_code == 428


def test_etag_changes_with_every_save_and_supports_if_none_match(anon_api):
    claim = ClaimFactory(status=Status.PUBLISHED)
    url = detail("claims", claim)
    tag = read_etag(anon_api, url)
    assert anon_api.get(url, HTTP_IF_NONE_MATCH=tag).status_code == 304
    claim.save()
    assert read_etag(anon_api, url) != tag


@pytest.mark.django_db(transaction=True)
def test_two_racing_updates_with_the_same_etag_exactly_one_wins():
    superuser = UserFactory(username="racer", is_superuser=True)
    claim = ClaimFactory(text="Original.")
    url = detail("claims", claim)
    tag = read_etag(token_client(superuser), url)
    clients = [token_client(superuser) for _ in range(2)]
    barrier = threading.Barrier(2)
    results = []

    def update(client, text):
        barrier.wait()
        try:
            results.append(client.patch(url, {"text": text}, format="json", HTTP_IF_MATCH=tag).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=update, args=(c, f"Edit {i}.")) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412]
    claim.refresh_from_db()
    assert claim.text in ("Edit 0.", "Edit 1.")
    assert claim.history.count() == 2


# ---------------------------------------------------------------- history


def test_history_lists_who_when_and_what_changed(publisher_api, publisher):
    statement = StatementFactory(text="Original text.")
    url = detail("statements", statement)
    write(publisher_api, "patch", url, {"text": "Edited text.", "topics": [TopicFactory(slug="libya").slug]})
    versions = publisher_api.get(url + "history/").json()
    assert versions["next"] is None
    newest = versions["results"][0]
    assert newest["user"] == "publisher"
    changed = {c["field"]: (c["old"], c["new"]) for v in versions["results"] for c in v["changes"]}
    assert changed["text"] == ("Original text.", "Edited text.")
    assert changed["topics"] == ([], ["libya"])
    assert versions["results"][-1]["type"] == "created"


def test_history_is_paginated(publisher_api):
    topic = TopicFactory()
    for i in range(5):
        topic.name = f"Name {i}"
        topic.save()
    first = publisher_api.get(f"{API}/topics/{topic.public_id}/history/?page_size=4").json()
    assert len(first["results"]) == 4
    rest = publisher_api.get(first["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    assert rest["results"][-1]["type"] == "created"


def test_publisher_restores_an_earlier_version(publisher_api):
    claim = ClaimFactory(text="Original.")
    url = detail("claims", claim)
    write(publisher_api, "patch", url, {"text": "Vandalised."})
    oldest = publisher_api.get(url + "history/").json()["results"][-1]["version"]
    restore = f"{url}history/{oldest}/restore/"
    assert publisher_api.post(restore).status_code == 428
    response = publisher_api.post(restore, HTTP_IF_MATCH=read_etag(publisher_api, url))
    assert response.status_code == 200, response.json()
    assert response.json()["text"] == "Original."
    newest = publisher_api.get(url + "history/").json()["results"][0]
    assert newest["reason"] == f"Restored version {oldest}"
    assert (
        publisher_api.post(
            f"{url}history/999999/restore/", HTTP_IF_MATCH=read_etag(publisher_api, url)
        ).status_code
        == 404
    )


def test_editors_cannot_restore(editor_api):
    claim = ClaimFactory()
    url = detail("claims", claim)
    version = editor_api.get(url + "history/").json()["results"][0]["version"]
    response = editor_api.post(f"{url}history/{version}/restore/", HTTP_IF_MATCH=read_etag(editor_api, url))
    assert response.status_code == 403


def test_deleting_referenced_evidence_is_a_409_naming_the_references(admin_api):
    source = SourceFactory()
    Appearance.objects.create(statement=StatementFactory(), source=source)
    SourceFactory(cites=source)
    response = write(admin_api, "delete", detail("sources", source), None)
    assert response.status_code == 409
    detail_text = response.json()["errors"][0]["detail"]
    assert "1 appearances" in detail_text and "1 sources" in detail_text
    assert Source.objects.filter(pk=source.pk).exists()
