"""Every filter of SPEC section 4: alone, combined, and with a malformed value (a 400 naming it)."""

import datetime

import pytest
from django.utils import timezone

from claims.models import Affiliation, Appearance, StatementLink, Status
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
)

pytestmark = pytest.mark.django_db
API = "/api/v1"
D = datetime.date


def ids(response):
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def pid(*objs):
    return {str(o.public_id) for o in objs}


@pytest.fixture
def world(db):
    """A small archive where each filter has one right answer."""
    w = type("World", (), {})()
    w.lna, w.turkey = OrganisationFactory(slug="lna", kind="military"), OrganisationFactory(slug="turkey")
    w.mesmari = SpeakerFactory(slug="mesmari", name="Ahmad al-Mesmari", aliases=["Ahmed al-Mismari"])
    w.haftar = SpeakerFactory(slug="haftar", name="Khalifa Haftar", kind="person")
    w.erdogan = SpeakerFactory(slug="erdogan", name="Recep Tayyip Erdoğan", kind="person")
    Affiliation.objects.create(
        speaker=w.mesmari, organisation=w.lna, role="Spokesman", start_date=D(2019, 1, 1)
    )
    Affiliation.objects.create(
        speaker=w.erdogan, organisation=w.turkey, role="President", end_date=D(2019, 12, 31)
    )
    w.libya, w.syria = TopicFactory(slug="libya"), TopicFactory(slug="syria")
    w.duvar, w.anadolu = OutletFactory(slug="duvar"), OutletFactory(slug="anadolu")
    w.article = SourceFactory(
        outlet=w.duvar, url="https://duvar.example/haftar", published_on=D(2020, 1, 10), kind="article"
    )
    w.wire = SourceFactory(
        outlet=w.anadolu, published_on=D(2020, 1, 9), kind="agency_wire", title="Wire on the ceasefire"
    )

    w.call = StatementFactory(
        text="Declare a ceasefire in Libya.",
        said_on=D(2020, 1, 8),
        status=Status.PUBLISHED,
        speakers=[w.erdogan],
        language="en",
    )
    w.call.topics.add(w.libya)
    w.reject = StatementFactory(
        text="Our fight will continue until the end.",
        said_on=D(2020, 1, 9),
        status=Status.PUBLISHED,
        speakers=[w.mesmari],
        language="en",
    )
    w.reject.topics.add(w.libya)
    StatementLink.objects.create(from_statement=w.reject, to_statement=w.call, type="responds_to")
    Appearance.objects.create(statement=w.reject, source=w.article, quote="Weevaluate")
    Appearance.objects.create(statement=w.call, source=w.wire)
    w.vow = StatementFactory(
        text="Severe retaliation.",
        said_on=D(2020, 1, 1),
        said_on_precision="month",
        status=Status.PUBLISHED,
        language="fa",
    )
    w.vow.topics.add(w.syria)
    w.draft = StatementFactory(
        text="Unpublished ceasefire remark.",
        said_on=D(2020, 1, 10),
        status=Status.DRAFT,
        speakers=[w.mesmari],
    )

    w.politifact, w.afp = FactCheckerFactory(slug="politifact"), FactCheckerFactory(slug="afp")
    w.claim_rejected = ClaimFactory(
        text="Terrorists seized Tripoli.", statement=w.reject, status=Status.PUBLISHED
    )
    w.claim_rejected.topics.add(w.libya)
    w.claim_call = ClaimFactory(text="A ceasefire was declared.", statement=w.call, status=Status.PUBLISHED)
    w.claim_vow = ClaimFactory(text="Iran vowed retaliation.", statement=w.vow, status=Status.PUBLISHED)
    w.review_false = ReviewFactory(
        claim=w.claim_rejected,
        reviewer=w.politifact,
        verdict="false",
        published_on=D(2020, 2, 1),
        status=Status.PUBLISHED,
    )
    w.review_true = ReviewFactory(
        claim=w.claim_call,
        reviewer=w.afp,
        verdict="true",
        published_on=D(2020, 3, 1),
        status=Status.PUBLISHED,
    )
    w.review_draft = ReviewFactory(claim=w.claim_vow, reviewer=w.afp, verdict="mixed", status=Status.DRAFT)
    return w


STATEMENT_CASES = [
    ("q=continue", ["reject"]),
    ("q=MISMARI", ["reject"]),
    ("q=erdogan", ["call"]),
    ("q=weevaluate", ["reject"]),
    ("speaker=mesmari", ["reject"]),
    ("speaker=mesmari&speaker=erdogan", ["reject", "call"]),
    ("affiliation=lna", ["reject"]),
    ("affiliation=turkey", []),  # Erdoğan's affiliation ended before the call
    ("outlet=duvar", ["reject"]),
    ("source={wire}", ["call"]),
    ("topic=libya", ["reject", "call"]),
    ("topic=libya&topic=syria", ["reject", "call", "vow"]),
    ("language=fa", ["vow"]),
    ("said_after=2020-01-09", ["reject", "vow"]),
    ("said_after=2020-01-15", ["vow"]),  # "January 2020" overlaps
    ("said_before=2020-01-08", ["call", "vow"]),
    ("said_before=2019-12-31", []),
    ("said_after=2020-01-08&said_before=2020-01-08", ["call", "vow"]),
    ("status=published", ["reject", "call", "vow"]),
    ("status=draft", []),  # anonymous users never see drafts
    ("responds_to={call}", ["reject"]),
    ("speaker=mesmari&topic=libya&said_after=2020-01-09&outlet=duvar", ["reject"]),
]


@pytest.mark.parametrize(("query", "expected"), STATEMENT_CASES)
def test_statement_filters(anon_api, world, query, expected):
    query = query.format(wire=world.wire.public_id, call=world.call.public_id)
    assert ids(anon_api.get(f"{API}/statements/?{query}")) == pid(*(getattr(world, n) for n in expected))


def test_updated_since(anon_api, world):
    later = timezone.now()
    world.vow.save()
    assert ids(anon_api.get(f"{API}/statements/", {"updated_since": later.isoformat()})) == pid(world.vow)


def test_curators_see_and_filter_drafts(editor_api, world):
    assert ids(editor_api.get(f"{API}/statements/?status=draft")) == pid(world.draft)


CLAIM_CASES = [
    ("q=tripoli", ["claim_rejected"]),
    ("q=declare", ["claim_call"]),  # text of the claim's statement
    ("speaker=mesmari", ["claim_rejected"]),
    ("topic=libya", ["claim_rejected"]),
    ("verdict=false", ["claim_rejected"]),
    ("verdict=false&verdict=true", ["claim_rejected", "claim_call"]),
    ("verdict=mixed", []),  # only a draft review says so
    ("reviewer=afp", ["claim_call"]),
    ("reviewed=true", ["claim_rejected", "claim_call"]),
    ("reviewed=false", ["claim_vow"]),
    ("said_after=2020-01-09", ["claim_rejected", "claim_vow"]),
    ("said_before=2020-01-08", ["claim_call", "claim_vow"]),
    ("reviewed=true&said_after=2020-01-09", ["claim_rejected"]),
]


@pytest.mark.parametrize(("query", "expected"), CLAIM_CASES)
def test_claim_filters(anon_api, world, query, expected):
    assert ids(anon_api.get(f"{API}/claims/?{query}")) == pid(*(getattr(world, n) for n in expected))


SPEAKER_CASES = [
    ("q=erdogan", ["erdogan"]),
    ("q=al-mismari", ["mesmari"]),
    ("kind=military", ["lna"]),
    ("affiliation=lna", ["mesmari"]),
    ("q=a&kind=person&affiliation=turkey", ["erdogan"]),
]


@pytest.mark.parametrize(("query", "expected"), SPEAKER_CASES)
def test_speaker_filters(anon_api, world, query, expected):
    assert ids(anon_api.get(f"{API}/speakers/?{query}")) == pid(*(getattr(world, n) for n in expected))


SOURCE_CASES = [
    ("q=ceasefire", ["wire"]),
    ("outlet=duvar", ["article"]),
    ("kind=agency_wire", ["wire"]),
    ("url=https://duvar.example/haftar", ["article"]),
    ("url=https://duvar.example/other", []),
    ("published_after=2020-01-10", ["article"]),
    ("published_before=2020-01-09", ["wire"]),
    ("outlet=anadolu&published_before=2020-01-09&kind=agency_wire", ["wire"]),
]


@pytest.mark.parametrize(("query", "expected"), SOURCE_CASES)
def test_source_filters(anon_api, world, query, expected):
    assert ids(anon_api.get(f"{API}/sources/?{query}")) == pid(*(getattr(world, n) for n in expected))


REVIEW_CASES = [
    ("verdict=false", ["review_false"]),
    ("reviewer=afp", ["review_true"]),  # the draft review is hidden
    ("claim={claim}", ["review_false"]),
    ("published_after=2020-02-15", ["review_true"]),
    ("published_before=2020-02-15", ["review_false"]),
    ("reviewer=afp&verdict=true&published_after=2020-01-01", ["review_true"]),
]


@pytest.mark.parametrize(("query", "expected"), REVIEW_CASES)
def test_review_filters(anon_api, world, query, expected):
    query = query.format(claim=world.claim_rejected.public_id)
    assert ids(anon_api.get(f"{API}/reviews/?{query}")) == pid(*(getattr(world, n) for n in expected))


MALFORMED = [
    ("statements", "speaker", "nobody-by-this-slug"),
    ("statements", "affiliation", "no-such-org"),
    ("statements", "outlet", "no-such-outlet"),
    ("statements", "source", "not-a-uuid"),
    ("statements", "source", "00000000-0000-0000-0000-000000000000"),
    ("statements", "topic", "no-such-topic"),
    ("statements", "said_after", "2020-02-30"),
    ("statements", "said_before", "yesterday"),
    ("statements", "status", "secret"),
    ("statements", "responds_to", "x"),
    ("statements", "ordering", "text"),
    ("statements", "updated_since", "not-a-time"),
    ("statements", "q", "x" * 201),
    ("statements", "page_size", "0"),
    ("statements", "page_size", "101"),
    ("statements", "page_size", "ten"),
    ("statements", "cursor", "forged"),
    ("claims", "verdict", "pants_on_fire"),
    ("claims", "reviewer", "nobody"),
    ("claims", "reviewed", "maybe"),
    ("claims", "said_after", "2020-13-01"),
    ("claims", "speaker", "nobody"),
    ("speakers", "kind", "alien"),
    ("speakers", "affiliation", "nobody"),
    ("sources", "kind", "scroll"),
    ("sources", "outlet", "nobody"),
    ("sources", "published_after", "20200101x"),
    ("reviews", "verdict", "meh"),
    ("reviews", "claim", "nope"),
    ("reviews", "published_before", "2020-02-30"),
    ("topics", "updated_since", "soon"),
    ("outlets", "kind", "blog"),
]


@pytest.mark.parametrize(("resource", "param", "value"), MALFORMED)
def test_malformed_filter_values_are_a_400_naming_the_parameter(anon_api, world, resource, param, value):
    response = anon_api.get(f"{API}/{resource}/", {param: value})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert [e["attr"] for e in body["errors"]] == [param]


def test_orderings_are_deterministic_and_paginate_without_gaps(anon_api, world):
    # Many rows with the same date: the id tiebreaker keeps pages disjoint.
    extra = [StatementFactory(said_on=D(2020, 1, 9), status=Status.PUBLISHED) for _ in range(7)]
    expected = pid(world.call, world.reject, world.vow, *extra)
    for ordering in ("-said_on", "said_on", "updated_at", "-updated_at", "created_at", "-created_at"):
        seen, url = [], f"{API}/statements/?page_size=3&ordering={ordering}"
        while url:
            body = anon_api.get(url).json()
            seen += [row["id"] for row in body["results"]]
            url = body["next"]
        assert len(seen) == len(set(seen)) == len(expected), ordering
        assert set(seen) == expected


def test_said_on_ordering(anon_api, world):
    undated = StatementFactory(said_on=None, status=Status.PUBLISHED)
    rows = anon_api.get(f"{API}/statements/?ordering=said_on").json()["results"]
    assert [r["id"] for r in rows] == [
        str(o.public_id) for o in (world.vow, world.call, world.reject, undated)
    ]
    rows = anon_api.get(f"{API}/statements/?ordering=-said_on").json()["results"]
    assert [r["id"] for r in rows] == [
        str(o.public_id) for o in (world.reject, world.call, world.vow, undated)
    ]


def test_cursor_from_another_ordering_is_refused(anon_api, world):
    next_url = anon_api.get(f"{API}/statements/?page_size=1&ordering=said_on").json()["next"]
    cursor = next_url.split("cursor=")[1].split("&")[0]
    response = anon_api.get(f"{API}/statements/", {"cursor": cursor, "ordering": "-said_on"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "cursor"
