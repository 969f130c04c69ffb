"""The statements PostgreSQL builds for the list and detail equal what the serializer writes."""

import datetime
import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from claims import models, serializers
from claims.documents import public as representations
from claims.views import statement_relations
from tests.factories import (
    ClaimFactory,
    OrganisationFactory,
    OutletFactory,
    SourceFactory,
    SpeakerFactory,
    StatementFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db
PUBLISHED, DRAFT, RETRACTED = models.Status.PUBLISHED, models.Status.DRAFT, models.Status.RETRACTED


def serialized(user, ids):
    statements = models.Statement.objects.visible_to(user).prefetch_related(*statement_relations(user))
    by_id = {s.pk: s for s in statements.filter(pk__in=ids)}
    data = serializers.StatementSerializer([by_id[i] for i in ids], many=True).data
    return json.loads(json.dumps(data))


def assert_same(user, ids):
    expected = serialized(user, ids)
    built = representations.statements(ids, user)
    assert len(built) == len(expected) == len(ids)
    for mine, theirs in zip(built, expected, strict=True):
        assert list(mine) == list(theirs)  # the same fields in the same order
        for field in theirs:
            assert mine[field] == theirs[field], field


@pytest.fixture
def rich():
    """Statements using every part of the representation, with drafts among their neighbours."""
    first = StatementFactory(
        status=PUBLISHED,
        text='Ça a été dit « ainsi » — "quoted" \\ and\nnewline',
        said_on=datetime.date(2021, 3, 7),
        place="Zürich",
        context="interview",
        language="fr",
        text_type=models.Statement.TextType.TRANSLATION,
        original_text="So wurde es gesagt",
        original_language="de",
        speakers=[SpeakerFactory(name="Zoë Ångström"), OrganisationFactory(name="Ministry")],
    )
    models.StatementSpeaker.objects.filter(statement=first, position=1).update(
        role=models.SpeakerRole.ON_BEHALF_OF
    )
    first.topics.add(TopicFactory(name="zebra"), TopicFactory(name="Économie"), TopicFactory(name="apple"))
    titled = SourceFactory(title="A titled source")
    untitled = SourceFactory(title="", outlet=OutletFactory(name="L'Outlet"), kind=models.SourceKind.VIDEO)
    bare = SourceFactory(title="", outlet=None, published_on=None, kind=models.SourceKind.SOCIAL_POST)
    models.Appearance.objects.create(statement=first, source=titled, quote="first words")
    models.Appearance.objects.create(statement=first, source=untitled, is_first=True)
    models.Appearance.objects.create(statement=first, source=bare, quote="")
    month = StatementFactory(status=PUBLISHED, said_on=datetime.date(2019, 11, 1), said_on_precision="month")
    year = StatementFactory(status=RETRACTED, said_on=datetime.date(2018, 1, 1), said_on_precision="year")
    undated = StatementFactory(status=PUBLISHED, said_on=None)
    hidden = StatementFactory(status=DRAFT)
    for target, kind in ((month, "responds_to"), (hidden, "corrects"), (year, "corrects")):
        models.StatementLink.objects.create(from_statement=first, to_statement=target, type=kind, note="n")
    for origin in (undated, hidden, month):
        models.StatementLink.objects.create(from_statement=origin, to_statement=first, type="responds_to")
    ClaimFactory(statement=first, status=PUBLISHED)
    ClaimFactory(statement=first, status=DRAFT)
    ClaimFactory(statement=first, status=RETRACTED)
    # One timestamp with microseconds, one without.
    models.Statement.objects.filter(pk=month.pk).update(
        created_at=datetime.datetime(2020, 5, 1, 12, 0, 0, tzinfo=datetime.UTC),
        updated_at=timezone.now().replace(microsecond=7),
    )
    return [first, month, year, undated, hidden]


def test_same_as_the_serializer_for_anonymous_readers(rich):
    assert_same(AnonymousUser(), [s.pk for s in rich if s.status != DRAFT])


@pytest.mark.parametrize("who", ["editor", "superuser"])
def test_same_as_the_serializer_for_curators(request, rich, who):
    assert_same(request.getfixturevalue(who), [s.pk for s in reversed(rich)])


def test_anonymous_readers_see_no_drafts_around_a_statement(rich):
    [first] = representations.statements([rich[0].pk], AnonymousUser())
    shown = [link["statement"]["status"] for link in first["links"] + first["linked_from"]]
    shown += [claim["status"] for claim in first["claims"]]
    assert shown and DRAFT not in shown
    assert {claim["status"] for claim in first["claims"]} == {PUBLISHED, RETRACTED}


def test_same_as_the_serializer_for_the_seed(superuser):
    call_command("loaddata", "seed", verbosity=0)
    ids = list(models.Statement.objects.order_by("id").values_list("id", flat=True))
    assert ids
    assert_same(AnonymousUser(), list(models.Statement.objects.public().values_list("id", flat=True)))
    assert_same(superuser, ids)


def test_the_page_order_is_kept(rich, editor):
    ids = [s.pk for s in rich]
    assert [s["id"] for s in representations.statements(ids[::-1], editor)] == [
        str(s.public_id) for s in rich[::-1]
    ]
    assert representations.statements([], AnonymousUser()) == []


# ---------------------------------------------------------------- stored public documents


def assert_stored_documents_current():
    """Every public statement's stored document is what a live build gives anonymous readers."""
    stored = dict(models.Statement.objects.public().values_list("pk", "public_document"))
    assert stored
    built = representations.statements(list(stored), AnonymousUser())
    for (pk, document), live in zip(stored.items(), built, strict=True):
        assert document is not None, pk
        assert json.loads(document) == live, pk
    assert assert_same(AnonymousUser(), list(stored)) is None
    assert not models.Statement.objects.exclude(status__in=[PUBLISHED, RETRACTED]).exclude(
        public_document=None
    ), "drafts have no public document"


def test_stored_documents_follow_every_change(rich):
    """Each change on its own (so that no later one refreshes a document by the way)."""
    first, month, year, undated, hidden = rich
    check = assert_stored_documents_current
    check()

    speaker = first.speakers.order_by("statement_roles__position").first()
    speaker.name = "Renamed Speaker"
    speaker.save()
    check()
    speaker.slug = "renamed-speaker"
    speaker.save()
    check()
    models.StatementSpeaker.objects.filter(statement=first, position=0).update(
        role=models.SpeakerRole.CO_SIGNATORY, position=5
    )
    check()

    topic = first.topics.get(name="zebra")
    topic.name = "Aardvark"
    topic.save()
    check()
    topic.slug = "aardvark"
    topic.save()
    check()
    first.topics.remove(first.topics.get(name="apple"))
    check()

    appearance = first.appearances.get(source__title="A titled source")
    source = appearance.source
    source.title = ""
    source.save()
    check()
    source.kind = models.SourceKind.TRANSCRIPT
    source.save()
    check()
    source.published_on = datetime.date(2021, 2, 3)
    source.save()
    check()
    outlet = source.outlet
    outlet.name = "Renamed Outlet"
    outlet.save()
    check()
    outlet.slug = "renamed-outlet"
    outlet.save()
    check()
    outlet.kind = models.OutletKind.PLATFORM
    outlet.save()
    check()
    first.appearances.filter(is_first=True).update(is_first=False)
    appearance.quote, appearance.is_first = "other words", True
    appearance.save()
    check()
    first.appearances.get(source__kind=models.SourceKind.SOCIAL_POST).delete()
    check()

    # Linked statements: their text, date and status show at both ends.
    month.text = "Changed text"
    month.save()
    check()
    month.said_on, month.said_on_precision = datetime.date(2019, 1, 1), "year"
    month.save()
    check()
    year.status = DRAFT
    year.save()
    check()
    hidden.status = PUBLISHED
    hidden.save()
    check()
    link = models.StatementLink.objects.get(from_statement=first, to_statement=month)
    link.type, link.note = "corrects", "changed"
    link.save()
    check()
    models.StatementLink.objects.create(from_statement=undated, to_statement=month, type="responds_to")
    check()
    models.StatementLink.objects.filter(from_statement=undated, to_statement=first).delete()
    check()

    claim = first.claims.filter(status=PUBLISHED).get()
    claim.text = "Claim text changed"
    claim.save()
    check()
    claim.status = DRAFT
    claim.save()
    check()
    ClaimFactory(statement=month, status=PUBLISHED)
    check()
    first.claims.filter(status=RETRACTED).delete()
    check()

    first.status = DRAFT
    first.save()
    check()
    first.status = RETRACTED
    first.said_on, first.said_on_precision = datetime.date(2020, 2, 1), "month"
    first.save()
    check()
    models.StatementLink.objects.filter(to_statement=month).delete()
    check()


def test_anonymous_reads_use_the_stored_documents(anon_api, rich):
    first = rich[0]
    # Only the stored text written (no trigger rebuilds it), to show the API serves it as it is.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE claims_statement SET public_document = '{\"stored\": true}' WHERE id = %s", [first.pk]
        )
    detail = anon_api.get(f"/api/v1/statements/{first.public_id}/")
    assert detail.status_code == 200 and detail.json() == {"stored": True}
    assert {"stored": True} in anon_api.get("/api/v1/statements/?page_size=100").json()["results"]
