"""Every invariant is enforced by the database and reported by validation."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from claims.models import (
    Affiliation,
    Appearance,
    Claim,
    Outlet,
    Review,
    Source,
    Speaker,
    Statement,
    StatementLink,
    StatementSpeaker,
)
from tests.factories import (
    AffiliationFactory,
    ClaimFactory,
    FactCheckerFactory,
    OrganisationFactory,
    OutletFactory,
    ReviewFactory,
    SourceFactory,
    SpeakerFactory,
    StatementFactory,
)

pytestmark = pytest.mark.django_db

FAR_FUTURE = datetime.date.today() + datetime.timedelta(days=30)


def review_kwargs(**overrides):
    return {
        "claim": ClaimFactory(),
        "reviewer": FactCheckerFactory(),
        "rating_text": "Mostly false",
        "verdict": "mostly_false",
        **overrides,
    }


# Each case builds one row that breaks one database constraint.
DB_VIOLATIONS = {
    "speaker QID format": lambda: Speaker.objects.create(name="X", slug="x", wikidata_qid="X12"),
    "speaker QID unique": lambda: [
        Speaker.objects.create(name=n, slug=n, wikidata_qid="Q42") for n in ("a", "b")
    ],
    "speaker slug unique": lambda: [Speaker.objects.create(name=n, slug="same") for n in ("a", "b")],
    "speaker kind": lambda: Speaker.objects.create(name="X", slug="x", kind="alien"),
    "affiliation with itself": lambda: (
        lambda org: Affiliation.objects.create(speaker=org, organisation=org, role="Member")
    )(OrganisationFactory()),
    "affiliation ends before it starts": lambda: AffiliationFactory(
        start_date=datetime.date(2020, 1, 2), end_date=datetime.date(2020, 1, 1)
    ),
    "affiliation duplicate with unknown dates": lambda: (
        lambda a: Affiliation.objects.create(speaker=a.speaker, organisation=a.organisation, role=a.role)
    )(AffiliationFactory()),
    "outlet kind": lambda: Outlet.objects.create(name="X", slug="x", kind="blog"),
    "outlet slug unique": lambda: [OutletFactory(slug="same"), OutletFactory(slug="same")],
    "source URL unique": lambda: [
        SourceFactory(url="https://a.example/1"),
        SourceFactory(url="https://a.example/1"),
    ],
    "source citing itself": lambda: (lambda s: Source.objects.filter(pk=s.pk).update(cites=s))(
        SourceFactory()
    ),
    "source published in the future": lambda: SourceFactory(published_on=FAR_FUTURE),
    "source kind": lambda: SourceFactory(kind="scroll"),
    "statement status": lambda: StatementFactory(status="hidden"),
    "statement text type": lambda: StatementFactory(text_type="rumour"),
    "statement precision": lambda: StatementFactory(said_on_precision="week"),
    "statement month date not on the 1st": lambda: StatementFactory(
        said_on=datetime.date(2020, 1, 15), said_on_precision="month"
    ),
    "statement year date not on 1 January": lambda: StatementFactory(
        said_on=datetime.date(2020, 3, 1), said_on_precision="year"
    ),
    "statement said in the future": lambda: StatementFactory(said_on=FAR_FUTURE),
    "original text on a verbatim statement": lambda: StatementFactory(
        text_type="verbatim", original_text="نص"
    ),
    "statement speaker twice in one role": lambda: (
        lambda st, sp: [StatementSpeaker.objects.create(statement=st, speaker=sp) for _ in range(2)]
    )(StatementFactory(), SpeakerFactory()),
    "statement speaker role": lambda: StatementSpeaker.objects.create(
        statement=StatementFactory(), speaker=SpeakerFactory(), role="ghostwriter"
    ),
    "statement linked to itself": lambda: (
        lambda st: StatementLink.objects.create(from_statement=st, to_statement=st, type="supports")
    )(StatementFactory()),
    "statement link twice": lambda: (
        lambda a, b: [
            StatementLink.objects.create(from_statement=a, to_statement=b, type="rejects") for _ in range(2)
        ]
    )(StatementFactory(), StatementFactory()),
    "statement link type": lambda: StatementLink.objects.create(
        from_statement=StatementFactory(), to_statement=StatementFactory(), type="likes"
    ),
    "appearance twice in one source": lambda: (
        lambda st, so: [Appearance.objects.create(statement=st, source=so) for _ in range(2)]
    )(StatementFactory(), SourceFactory()),
    "two first appearances": lambda: (
        lambda st: [
            Appearance.objects.create(statement=st, source=SourceFactory(), is_first=True) for _ in range(2)
        ]
    )(StatementFactory()),
    "claim status": lambda: ClaimFactory(status="secret"),
    "review verdict": lambda: Review.objects.create(**review_kwargs(verdict="pants_on_fire")),
    "review URL unique": lambda: [
        ReviewFactory(url="https://fc.example/1"),
        ReviewFactory(url="https://fc.example/1"),
    ],
    "review scale without worst": lambda: Review.objects.create(**review_kwargs(best_rating=Decimal(5))),
    "review scale best equals worst": lambda: Review.objects.create(
        **review_kwargs(best_rating=Decimal(1), worst_rating=Decimal(1))
    ),
    "review rating above scale": lambda: Review.objects.create(
        **review_kwargs(rating_value=Decimal(6), best_rating=Decimal(5), worst_rating=Decimal(1))
    ),
    "review rating without scale": lambda: Review.objects.create(**review_kwargs(rating_value=Decimal(3))),
    "review published in the future": lambda: Review.objects.create(**review_kwargs(published_on=FAR_FUTURE)),
}


@pytest.mark.parametrize("make", DB_VIOLATIONS.values(), ids=DB_VIOLATIONS.keys())
def test_database_rejects(make):
    with pytest.raises(IntegrityError), transaction.atomic():
        make()


def test_blank_urls_and_qids_do_not_collide():
    SourceFactory(url=""), SourceFactory(url="")
    Speaker.objects.create(name="A", slug="a"), Speaker.objects.create(name="B", slug="b")
    assert Source.objects.filter(url="").count() == 2


def test_rating_scale_may_run_either_way():
    # Some fact-checkers rate 0 as best; a value inside the scale is fine.
    review = Review.objects.create(
        **review_kwargs(rating_value=Decimal(1), best_rating=Decimal(0), worst_rating=Decimal(5))
    )
    assert review.pk


def test_date_tolerance_allows_tomorrow():
    tomorrow = timezone.now().date() + datetime.timedelta(days=1)
    assert StatementFactory(said_on=tomorrow).pk


# The same rules, reported field by field by full_clean() (forms and the API use it).
VALIDATION_CASES = [
    (lambda: Speaker(name="X", slug="x", wikidata_qid="Q0"), "wikidata_qid"),
    (lambda: Speaker(name="X", slug="Not A Slug"), "slug"),
    (lambda: Statement(text="x", said_on=FAR_FUTURE), "said_on"),
    (lambda: Statement(text="x", language="English"), "language"),
    (lambda: Statement(text="x", original_text="y"), "original_text"),
    (lambda: Outlet(name="X", slug="x", kind="newspaper", country="tur"), "country"),
    (lambda: Source(kind="article", url="not a url"), "url"),
    (lambda: Review(**review_kwargs(reviewer=OutletFactory())), "reviewer"),
    (lambda: Affiliation(speaker=SpeakerFactory(), organisation=SpeakerFactory(), role="x"), "organisation"),
]


@pytest.mark.parametrize(("make", "field"), VALIDATION_CASES)
def test_validation_names_the_field(make, field):
    with pytest.raises(ValidationError) as excinfo:
        make().full_clean()
    assert field in excinfo.value.message_dict


def test_validation_reports_constraint_messages():
    review = Review(**review_kwargs(rating_value=Decimal(9), best_rating=Decimal(5), worst_rating=Decimal(1)))
    with pytest.raises(ValidationError, match="within the scale"):
        review.full_clean()


def test_citation_cycle_is_refused():
    a = SourceFactory()
    b = SourceFactory(cites=a)
    a.cites = b
    with pytest.raises(ValidationError, match="citation cycle"):
        a.full_clean()


def test_self_citation_is_refused_by_validation():
    a = SourceFactory()
    a.cites = a
    with pytest.raises(ValidationError, match="cannot cite itself"):
        a.full_clean()


def test_month_precision_is_normalised_to_first_day():
    statement = Statement(text="x", said_on=datetime.date(2020, 1, 17), said_on_precision="month")
    statement.full_clean()
    assert statement.said_on == datetime.date(2020, 1, 1)
    assert statement.said_period() == (datetime.date(2020, 1, 1), datetime.date(2020, 1, 31))
    assert statement.said_on_display == "January 2020"


def test_speaker_aliases_are_trimmed_and_deduplicated():
    speaker = Speaker(name="Recep Tayyip Erdoğan", slug="erdogan", aliases=[" Erdogan ", "", "Erdogan"])
    speaker.full_clean()
    assert speaker.aliases == ["Erdogan"]


# Deleting what evidence depends on is refused, never cascaded away.
PROTECTED = {
    "source with appearances": lambda: (lambda a: a.source)(
        Appearance.objects.create(statement=StatementFactory(), source=SourceFactory())
    ),
    "source cited by another": lambda: SourceFactory(cites=SourceFactory()).cites,
    "outlet with sources": lambda: SourceFactory().outlet,
    "speaker with statements": lambda: (lambda sp: (StatementFactory(speakers=[sp]), sp)[1])(
        SpeakerFactory()
    ),
    "statement with claims": lambda: ClaimFactory().statement,
    "statement responded to": lambda: (
        lambda a, b: (StatementLink.objects.create(from_statement=a, to_statement=b, type="responds_to"), b)[
            1
        ]
    )(StatementFactory(), StatementFactory()),
    "claim with reviews": lambda: ReviewFactory().claim,
    "fact-checker with reviews": lambda: ReviewFactory().reviewer,
    "organisation with members": lambda: AffiliationFactory().organisation,
}


@pytest.mark.parametrize("make", PROTECTED.values(), ids=PROTECTED.keys())
def test_deleting_evidence_is_refused(make):
    obj = make()
    with pytest.raises(ProtectedError), transaction.atomic():
        obj.delete()
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_public_ids_are_unique_and_stable():
    statement = StatementFactory()
    public_id = statement.public_id
    statement.text = "Edited."
    statement.save()
    statement.refresh_from_db()
    assert statement.public_id == public_id
    assert Statement.objects.get_by_natural_key(public_id) == statement


def test_updated_at_moves_on_save():
    claim = ClaimFactory()
    before = claim.updated_at
    claim.text = "Changed."
    claim.save(update_fields=["text"])
    claim.refresh_from_db()
    assert claim.updated_at > before


def test_public_queryset_hides_drafts():
    draft = StatementFactory(status="draft")
    published = StatementFactory(status="published")
    retracted = StatementFactory(status="retracted")
    visible = set(Statement.objects.public())
    assert published in visible and retracted in visible and draft not in visible
    assert Claim.objects.public().count() == 0
