"""The domain: who said what, when, and where we know it from.

Every curated record has a public UUID (``public_id``) that never changes and
is what the API and datasets use; the integer ``id`` stays internal. Invariants
live in the database as constraints and again in ``clean()`` so that forms and
serializers can report them field by field.
"""

import datetime
import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from simple_history.models import HistoricalRecords

WIKIDATA_QID = RegexValidator(r"^Q[1-9][0-9]*\Z", "A Wikidata QID is Q followed by digits, e.g. Q39259.")
LANGUAGE_CODE = RegexValidator(
    r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z", "Use a BCP 47 language tag such as en, ar or pt-BR."
)
COUNTRY_CODE = RegexValidator(r"^[A-Z]{2}\Z", "Use a two-letter ISO 3166 country code such as TR.")
SLUG = RegexValidator(r"^[-a-z0-9]+\Z", "Use lowercase letters, digits and hyphens.")

# Sort keys for nullable dates: keyset pagination never compares NULLs, so
# undated rows sort as if dated at the far end (see filters.py, and the
# indexes below, whose expressions must match the orderings exactly).
NEVER = models.Value(datetime.date(1, 1, 1), output_field=models.DateField())
ALWAYS = models.Value(datetime.date(9999, 12, 31), output_field=models.DateField())
# The longest period a date may stand for (a year-precision date): its start is
# at most this long before its end.
LONGEST_PERIOD = datetime.timedelta(days=366)

# A statement may be logged the day it is said in another time zone.
FUTURE_TOLERANCE = datetime.timedelta(days=1)


def not_in_future(value: datetime.date) -> None:
    if value and value > timezone.now().date() + FUTURE_TOLERANCE:
        raise ValidationError("This date is in the future.", code=FUTURE_DATE)


FUTURE_DATE = "future_date"
not_in_future.code = FUTURE_DATE  # type: ignore[attr-defined]  # as validator classes have (the OpenAPI schema lists it)


# The longest texts a curator may write, everywhere (API, admin, imports): a statement's,
# claim's or review's text, a quote; and a note (descriptions, context, a link's note).
TEXT_MAX = 20_000
NOTE_MAX = 5_000


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETRACTED = "retracted", "Retracted"


class CuratedQuerySet(models.QuerySet):
    def get_by_natural_key(self, public_id):
        return self.get(public_id=public_id)


class StatusQuerySet(CuratedQuerySet):
    PUBLIC_STATUSES = (Status.PUBLISHED, Status.RETRACTED)

    def public(self):
        """What anonymous users may see: published and retracted, never drafts."""
        return self.filter(status__in=self.PUBLIC_STATUSES)

    def published(self):
        return self.filter(status=Status.PUBLISHED)

    def visible_to(self, user):
        """Everything for curators; published and retracted records for everyone else."""
        from .permissions import sees_drafts

        return self if sees_drafts(user, self.model) else self.public()


class SlugQuerySet(models.QuerySet):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class StatementSpeakerQuerySet(models.QuerySet):
    def get_by_natural_key(self, statement_public_id, speaker_slug, role):
        return self.get(statement__public_id=statement_public_id, speaker__slug=speaker_slug, role=role)


class StatementLinkQuerySet(models.QuerySet):
    def get_by_natural_key(self, from_public_id, to_public_id, type):
        return self.get(
            from_statement__public_id=from_public_id, to_statement__public_id=to_public_id, type=type
        )


class Curated(models.Model):
    """Fields every curated record carries: a stable public id and an audit trail."""

    # Set before a save, read by django-simple-history: who made the change, and why.
    _history_user: Any
    _change_reason: str

    public_id = models.UUIDField("public id", default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField("created", default=timezone.now, editable=False)
    # Not auto_now: that is skipped on raw saves, and fixtures and imports
    # must still get a timestamp.
    updated_at = models.DateTimeField("updated", default=timezone.now, editable=False, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="created by",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="updated by",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.updated_at = timezone.now()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at"}
        super().save(*args, **kwargs)


class StatusMixin(models.Model):
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)

    class Meta:
        abstract = True

    @property
    def is_public(self) -> bool:
        return self.status in (Status.PUBLISHED, Status.RETRACTED)


def status_check(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(status__in=Status.values), name=f"{name}_status_valid")


class Topic(Curated):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True, validators=[SLUG])
    description = models.TextField(max_length=NOTE_MAX, blank=True)

    history = HistoricalRecords()
    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.slug,)


class SpeakerKind(models.TextChoices):
    PERSON = "person", "Person"
    GOVERNMENT = "government", "Government or state"
    MILITARY = "military", "Armed forces"
    PARTY = "party", "Political party"
    AGENCY = "agency", "Public agency"
    LEGISLATURE = "legislature", "Legislature"
    ORGANISATION = "organisation", "Other organisation"


class Speaker(Curated):
    Kind = SpeakerKind

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True, validators=[SLUG])
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PERSON)
    aliases = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        help_text="Other spellings and transliterations, one per line.",
    )
    description = models.TextField(max_length=NOTE_MAX, blank=True)
    wikidata_qid = models.CharField(
        "Wikidata QID", max_length=20, blank=True, validators=[WIKIDATA_QID], help_text="e.g. Q39259"
    )
    # Name and aliases, lowercased and unaccented by a database trigger, for
    # typo-tolerant (trigram) lookup. See claims/search.py.
    search_names = models.TextField(editable=False, default="")

    history = HistoricalRecords(excluded_fields=["search_names"])
    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(wikidata_qid="") | Q(wikidata_qid__regex=r"^Q[1-9][0-9]*$"),
                name="speaker_wikidata_qid_format",
                violation_error_message="A Wikidata QID is Q followed by digits, e.g. Q39259.",
            ),
            models.UniqueConstraint(
                fields=["wikidata_qid"],
                condition=~Q(wikidata_qid=""),
                name="speaker_wikidata_qid_unique",
                violation_error_message="Another speaker already has this Wikidata QID.",
            ),
            models.CheckConstraint(condition=Q(kind__in=SpeakerKind.values), name="speaker_kind_valid"),
        ]
        indexes = [GinIndex(fields=["search_names"], opclasses=["gin_trgm_ops"], name="speaker_names_trgm")]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.slug,)

    def clean_fields(self, exclude=None):
        # Blank and repeated aliases are dropped before they are validated.
        self.aliases = list(dict.fromkeys(a.strip() for a in self.aliases if a.strip()))
        super().clean_fields(exclude)

    @property
    def wikidata_url(self) -> str:
        return f"https://www.wikidata.org/wiki/{self.wikidata_qid}" if self.wikidata_qid else ""


class Affiliation(Curated):
    """A speaker's role in an organisation over time; unknown dates stay empty."""

    speaker = models.ForeignKey(Speaker, on_delete=models.CASCADE, related_name="affiliations")
    organisation = models.ForeignKey(
        Speaker,
        on_delete=models.PROTECT,
        related_name="members",
        limit_choices_to=~Q(kind=Speaker.Kind.PERSON),
    )
    role = models.CharField(max_length=200)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)

    objects = CuratedQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["speaker__name", "start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(speaker=F("organisation")),
                name="affiliation_not_self",
                violation_error_message="A speaker cannot be affiliated with itself.",
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="affiliation_dates_ordered",
                violation_error_message="The end date is before the start date.",
            ),
            models.UniqueConstraint(
                fields=["speaker", "organisation", "role", "start_date"],
                nulls_distinct=False,
                name="affiliation_unique",
                violation_error_message="This affiliation is already recorded.",
            ),
        ]

    def __str__(self):
        return f"{self.speaker} — {self.role}, {self.organisation}"

    def natural_key(self):
        return (self.public_id,)

    def clean(self):
        if self.organisation_id and self.organisation.kind == Speaker.Kind.PERSON:
            raise ValidationError({"organisation": "Choose an organisation, not a person."})

    def covers(self, day: datetime.date) -> bool:
        """Whether the affiliation held on ``day`` (unknown bounds are open)."""
        return (self.start_date is None or self.start_date <= day) and (
            self.end_date is None or day <= self.end_date
        )


class OutletKind(models.TextChoices):
    NEWSPAPER = "newspaper", "Newspaper or news site"
    NEWS_AGENCY = "news_agency", "News agency"
    BROADCASTER = "broadcaster", "Broadcaster"
    PLATFORM = "platform", "Platform"
    GOVERNMENT = "government", "Government office"
    FACT_CHECKER = "fact_checker", "Fact-checking organisation"
    OTHER = "other", "Other"


class Outlet(Curated):
    Kind = OutletKind

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True, validators=[SLUG])
    kind = models.CharField(max_length=20, choices=Kind.choices)
    homepage = models.URLField(max_length=500, blank=True)
    country = models.CharField(max_length=2, blank=True, validators=[COUNTRY_CODE], help_text="ISO 3166 code")
    language = models.CharField(max_length=35, blank=True, validators=[LANGUAGE_CODE], help_text="BCP 47 tag")
    description = models.TextField(max_length=NOTE_MAX, blank=True)

    history = HistoricalRecords()
    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=OutletKind.values), name="outlet_kind_valid"),
        ]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.slug,)


class SourceKind(models.TextChoices):
    ARTICLE = "article", "Article"
    AGENCY_WIRE = "agency_wire", "Agency wire"
    VIDEO = "video", "Video"
    SOCIAL_POST = "social_post", "Social media post"
    PRESS_RELEASE = "press_release", "Press release"
    TRANSCRIPT = "transcript", "Transcript"
    JOINT_STATEMENT = "joint_statement", "Joint statement"
    OTHER = "other", "Other"


class Source(Curated):
    """One document; ``cites`` is the source it relies on, followed both ways."""

    Kind = SourceKind

    url = models.URLField("URL", max_length=2000, blank=True)
    title = models.CharField(max_length=500, blank=True)
    outlet = models.ForeignKey(
        Outlet, on_delete=models.PROTECT, null=True, blank=True, related_name="sources"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    published_on = models.DateField(null=True, blank=True, validators=[not_in_future])
    language = models.CharField(max_length=35, blank=True, validators=[LANGUAGE_CODE])
    archive_url = models.URLField("archived copy URL", max_length=2000, blank=True)
    description = models.TextField(
        max_length=NOTE_MAX,
        blank=True,
        help_text="What the document is, when it has no title (e.g. who posted the video).",
    )
    cites = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cited_by",
        help_text="The source this one relies on.",
    )
    # Maintained by a database trigger from title, URL, description and outlet.
    search_vector = SearchVectorField(null=True, editable=False)

    history = HistoricalRecords(excluded_fields=["search_vector"])
    objects = CuratedQuerySet.as_manager()

    class Meta:
        ordering = ["-published_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["url"],
                condition=~Q(url=""),
                name="source_url_unique",
                violation_error_message="A source with this URL is already logged.",
            ),
            models.CheckConstraint(
                condition=~Q(cites=F("id")),
                name="source_not_citing_itself",
                violation_error_message="A source cannot cite itself.",
            ),
            models.CheckConstraint(
                condition=Q(published_on__isnull=True) | Q(published_on__lte=Now() + FUTURE_TOLERANCE),
                name="source_published_not_future",
                violation_error_message="The publication date is in the future.",
            ),
            models.CheckConstraint(condition=Q(kind__in=SourceKind.values), name="source_kind_valid"),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="source_search"),
            models.Index(Coalesce("published_on", NEVER).desc(), F("id").desc(), name="source_published"),
            models.Index("updated_at", "id", name="source_updated"),
        ]

    def __str__(self):
        if self.title:
            return self.title
        label = self.get_kind_display()
        if self.outlet_id:
            label = f"{label} by {self.outlet}"
        if self.published_on:
            label = f"{label}, {self.published_on:%d %B %Y}"
        return label

    def natural_key(self):
        return (self.public_id,)

    def clean(self):
        if self.cites_id is None:
            return
        if self.pk is not None and self.cites_id == self.pk:
            raise ValidationError({"cites": "A source cannot cite itself."})
        # Walk up the chain: a cycle (A cites B cites A) would make the chain endless.
        seen = {self.pk}
        current = Source.objects.filter(pk=self.cites_id).values_list("cites_id", flat=True).first()
        while current is not None:
            if current in seen:
                raise ValidationError({"cites": "This would make a citation cycle."})
            seen.add(current)
            current = Source.objects.filter(pk=current).values_list("cites_id", flat=True).first()

    def citation_chain(self) -> list["Source"]:
        """This source followed by what it cites, and what that cites, to the origin."""
        chain, current, seen = [self], self.cites, {self.pk}
        while current is not None and current.pk not in seen:
            chain.append(current)
            seen.add(current.pk)
            current = current.cites
        return chain


class DatePrecision(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class TextType(models.TextChoices):
    VERBATIM = "verbatim", "Verbatim"
    PARAPHRASE = "paraphrase", "Paraphrase"
    TRANSLATION = "translation", "Translation"


def _period_end(date, length: str) -> models.Func:
    # date + interval is a timestamp; both operations are immutable, as a
    # generated column requires.
    return models.Func(
        date,
        template=f"(%(expressions)s + INTERVAL '{length}' - INTERVAL '1 day')::date",
        output_field=models.DateField(),
    )


# A statement's own values, in the order every dataset and the API write them: the one list
# the exports' columns, the JSON Lines record, the write serializer's fields, the generator's
# COPY and the benchmarks start from.
STATEMENT_CONTENT_FIELDS = [
    "status",
    "text",
    "text_type",
    "original_text",
    "original_language",
    "language",
    "said_on",
    "said_on_precision",
    "place",
    "context",
]

# The rule that StatementLink's constraint, its clean() and services.save_statement state.
SELF_LINK = "A statement cannot be linked to itself."

# Columns of Statement maintained by database triggers for the exports.
EXPORT_FIELDS = [
    "export_speakers",
    "export_speaker_roles",
    "export_topics",
    "export_source_urls",
    "export_quotes",
    "export_responds_to",
    "export_appearances",
    "export_jsonl",
]


class Statement(StatusMixin, Curated):
    """Something said or written, by one or more speakers in their roles."""

    TextType = TextType

    text = models.TextField(
        max_length=TEXT_MAX, help_text="The curated text, with obvious misprints corrected."
    )
    text_type = models.CharField(max_length=12, choices=TextType.choices, default=TextType.VERBATIM)
    original_text = models.TextField(
        max_length=TEXT_MAX, blank=True, help_text="The text in its original language, for translations."
    )
    original_language = models.CharField(max_length=35, blank=True, validators=[LANGUAGE_CODE])
    language = models.CharField(max_length=35, default="en", validators=[LANGUAGE_CODE])
    said_on = models.DateField(
        null=True,
        blank=True,
        validators=[not_in_future],
        help_text="For month or year precision, the first day of that month or year.",
    )
    said_on_precision = models.CharField(
        "date precision", max_length=5, choices=DatePrecision.choices, default=DatePrecision.DAY
    )
    # The last day ``said_on`` may stand for: date filters match a period that
    # overlaps the range asked for, so "January 2020" is found by a search
    # from 15 January.
    said_until = models.GeneratedField(
        expression=models.Case(
            models.When(said_on_precision=DatePrecision.MONTH, then=_period_end(F("said_on"), "1 month")),
            models.When(said_on_precision=DatePrecision.YEAR, then=_period_end(F("said_on"), "1 year")),
            default=F("said_on"),
        ),
        output_field=models.DateField(),
        db_persist=True,
        verbose_name="said until",
    )
    place = models.CharField(max_length=200, blank=True)
    context = models.TextField(
        max_length=NOTE_MAX, blank=True, help_text='How it was said, e.g. "video posted to social media".'
    )
    speakers = models.ManyToManyField(Speaker, through="StatementSpeaker", related_name="statements")
    topics = models.ManyToManyField(Topic, blank=True, related_name="statements")
    links = models.ManyToManyField(
        "self", through="StatementLink", symmetrical=False, related_name="linked_from", blank=True
    )

    # The full-text document (text, speakers and aliases, quotes as printed,
    # sources and outlets), kept current by database triggers.
    search_vector = SearchVectorField(null=True, editable=False)
    # The statement's related lists as the exports print them, kept current by
    # the same triggers (migration 0010): a million-row export is then one scan
    # of this table instead of four joins and aggregations.
    export_speakers = models.TextField(default="", db_default="", editable=False)
    export_speaker_roles = models.TextField(default="", db_default="", editable=False)
    export_topics = models.TextField(default="", db_default="", editable=False)
    export_source_urls = models.TextField(default="", db_default="", editable=False)
    export_quotes = models.TextField(default="", db_default="", editable=False)
    export_responds_to = models.TextField(default="", db_default="", editable=False)
    export_appearances = models.JSONField(
        default=list, db_default=models.Value([], models.JSONField()), editable=False
    )
    # The statement's line of the JSON Lines export, as ``documents.statements.statement_line`` builds
    # it, kept current by a trigger after the lists (migration 0015).
    export_jsonl = models.TextField(default="", db_default="", editable=False)

    # What anonymous readers get from the API for this statement (JSON, as
    # claims.representations builds it), kept current by the same triggers
    # (migration 0013); NULL while it is a draft.
    public_document = models.TextField(null=True, editable=False)  # noqa: DJ001 (NULL: no document)

    history = HistoricalRecords(
        m2m_fields=[topics], excluded_fields=["search_vector", *EXPORT_FIELDS, "public_document"]
    )
    objects = StatusQuerySet.as_manager()

    class Meta:
        ordering = ["-said_on", "-id"]
        indexes = [
            GinIndex(fields=["search_vector"], name="statement_search"),
            # The list's orderings; see filters.StatementFilterSet.ORDERINGS. They
            # carry what the page query filters on, so that walking them reads no
            # table rows (an index-only scan): a wide row (its stored documents) is
            # read only for the page itself.
            models.Index(
                Coalesce("said_on", NEVER).desc(),
                F("id").desc(),
                name="statement_said_desc",
                include=["said_on", "status", "said_until"],
            ),
            models.Index(
                Coalesce("said_on", ALWAYS),
                "id",
                name="statement_said_asc",
                include=["said_on", "status", "said_until"],
            ),
            # A statement's page keys by id, for filters that start from a related table.
            models.Index(fields=["id"], name="statement_keys", include=["said_on", "status", "said_until"]),
            models.Index("updated_at", "id", name="statement_updated"),
            models.Index("created_at", "id", name="statement_created"),
        ]
        permissions = [("publish_statement", "Can publish and retract statements")]
        constraints = [
            status_check("statement"),
            models.CheckConstraint(
                condition=Q(text_type__in=TextType.values), name="statement_text_type_valid"
            ),
            models.CheckConstraint(
                condition=Q(said_on_precision__in=DatePrecision.values), name="statement_precision_valid"
            ),
            models.CheckConstraint(
                condition=Q(said_on__isnull=True)
                | Q(said_on_precision=DatePrecision.DAY)
                | Q(said_on_precision=DatePrecision.MONTH, said_on__day=1)
                | Q(said_on_precision=DatePrecision.YEAR, said_on__day=1, said_on__month=1),
                name="statement_date_matches_precision",
                violation_error_message="A month- or year-precision date must be the first day of that period.",
            ),
            models.CheckConstraint(
                condition=Q(said_on__isnull=True) | Q(said_on__lte=Now() + FUTURE_TOLERANCE),
                name="statement_said_on_not_future",
                violation_error_message="The date it was said is in the future.",
            ),
            models.CheckConstraint(
                condition=Q(original_text="") | Q(text_type="translation"),
                name="statement_original_only_for_translation",
                violation_error_message="Only a translation has an original text.",
            ),
        ]

    def __str__(self):
        text = self.text if len(self.text) <= 80 else self.text[:79] + "…"
        return f"{text} ({self.said_on_display})" if self.said_on else text

    def natural_key(self):
        return (self.public_id,)

    def clean(self):
        if self.said_on and self.said_on_precision != DatePrecision.DAY:
            # Normalise to the first day of the period instead of rejecting it.
            if self.said_on_precision == DatePrecision.MONTH:
                self.said_on = self.said_on.replace(day=1)
            else:
                self.said_on = self.said_on.replace(month=1, day=1)
        if self.original_text and self.text_type != self.TextType.TRANSLATION:
            raise ValidationError({"original_text": "Only a translation has an original text."})

    @property
    def said_on_display(self) -> str:
        if not self.said_on:
            return "date unknown"
        return {
            DatePrecision.DAY: f"{self.said_on.day} {self.said_on:%B %Y}",
            DatePrecision.MONTH: f"{self.said_on:%B %Y}",
            DatePrecision.YEAR: f"{self.said_on:%Y}",
        }[DatePrecision(self.said_on_precision)]

    def said_period(self) -> tuple[datetime.date, datetime.date] | None:
        """The first and last day the date may stand for, given its precision."""
        if not self.said_on:
            return None
        start = self.said_on
        if self.said_on_precision == DatePrecision.DAY:
            return start, start
        if self.said_on_precision == DatePrecision.MONTH:
            next_month = (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
            return start, next_month - datetime.timedelta(days=1)
        return start, start.replace(month=12, day=31)


class SpeakerRole(models.TextChoices):
    SPEAKER = "speaker", "Speaker"
    ON_BEHALF_OF = "on_behalf_of", "On behalf of"
    CO_SIGNATORY = "co_signatory", "Co-signatory"


class StatementSpeaker(models.Model):
    """A speaker's part in a statement: said it, is spoken for, or co-signed it."""

    Role = SpeakerRole

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="speaker_roles")
    speaker = models.ForeignKey(Speaker, on_delete=models.PROTECT, related_name="statement_roles")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.SPEAKER)
    position = models.PositiveSmallIntegerField(default=0, help_text="Order in which speakers are listed.")

    objects = StatementSpeakerQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["statement", "position", "id"]
        verbose_name = "statement speaker"
        # Statements of a speaker, read from the index alone (the speaker filter).
        indexes = [models.Index(fields=["speaker", "statement"], name="statement_speaker_by_speaker")]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "speaker", "role"],
                name="statement_speaker_unique",
                violation_error_message="This speaker already has this role in the statement.",
            ),
            models.CheckConstraint(
                condition=Q(role__in=SpeakerRole.values), name="statement_speaker_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.speaker} ({self.get_role_display()})"

    def natural_key(self):
        return (self.statement.public_id, self.speaker.slug, self.role)

    natural_key.dependencies = ["claims.statement", "claims.speaker"]  # type: ignore[attr-defined]  # read by dumpdata


class LinkType(models.TextChoices):
    RESPONDS_TO = "responds_to", "Responds to"
    REJECTS = "rejects", "Rejects"
    SUPPORTS = "supports", "Supports"
    REPEATS = "repeats", "Repeats"
    CONTRADICTS = "contradicts", "Contradicts"
    CORRECTS = "corrects", "Corrects"


class StatementLink(models.Model):
    """A typed link from one statement to another (the rejection responds to the call)."""

    Type = LinkType

    from_statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="outgoing_links")
    to_statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="incoming_links")
    type = models.CharField(max_length=20, choices=Type.choices)
    note = models.TextField(max_length=NOTE_MAX, blank=True)

    objects = StatementLinkQuerySet.as_manager()
    history = HistoricalRecords()

    class Meta:
        ordering = ["from_statement", "type", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_statement", "to_statement", "type"],
                name="statement_link_unique",
                violation_error_message="These statements are already linked this way.",
            ),
            models.CheckConstraint(
                condition=~Q(from_statement=F("to_statement")),
                name="statement_link_not_self",
                violation_error_message=SELF_LINK,
            ),
            models.CheckConstraint(condition=Q(type__in=LinkType.values), name="statement_link_type_valid"),
        ]

    def __str__(self):
        return f"{self.get_type_display()}: {self.to_statement}"

    def natural_key(self):
        return (self.from_statement.public_id, self.to_statement.public_id, self.type)

    natural_key.dependencies = ["claims.statement"]  # type: ignore[attr-defined]  # read by dumpdata

    def clean(self):
        if self.from_statement_id and self.from_statement_id == self.to_statement_id:
            raise ValidationError({"to_statement": SELF_LINK})


class Appearance(Curated):
    """Where a statement appeared, with the quote exactly as printed there."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="appearances")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="appearances")
    quote = models.TextField(
        max_length=TEXT_MAX, blank=True, help_text="Exactly as printed in the source, misprints included."
    )
    is_first = models.BooleanField("first appearance", default=False)

    history = HistoricalRecords()
    objects = CuratedQuerySet.as_manager()

    class Meta:
        ordering = ["statement", "-is_first", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "source"],
                name="appearance_unique",
                violation_error_message="This statement is already recorded in this source.",
            ),
            models.UniqueConstraint(
                fields=["statement"],
                condition=Q(is_first=True),
                name="appearance_one_first",
                violation_error_message="Only one appearance can be the first.",
            ),
        ]

    def __str__(self):
        return f"in {self.source}"

    def natural_key(self):
        return (self.public_id,)


class Claim(StatusMixin, Curated):
    """A single checkable assertion, usually drawn from a statement."""

    text = models.TextField(max_length=TEXT_MAX)
    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, null=True, blank=True, related_name="claims"
    )
    topics = models.ManyToManyField(Topic, blank=True, related_name="claims")
    # Kept current by database triggers: the full-text document (claim and
    # statement text) and the lowercased, unaccented text for similarity.
    search_vector = SearchVectorField(null=True, editable=False)
    normalized_text = models.TextField(editable=False, default="")

    history = HistoricalRecords(m2m_fields=[topics], excluded_fields=["search_vector", "normalized_text"])
    objects = StatusQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index("created_at", "id", name="claim_created"),
            models.Index("updated_at", "id", name="claim_updated"),
            GinIndex(fields=["search_vector"], name="claim_search"),
            GinIndex(fields=["normalized_text"], opclasses=["gin_trgm_ops"], name="claim_text_trgm"),
        ]
        permissions = [("publish_claim", "Can publish and retract claims")]
        constraints = [status_check("claim")]

    def __str__(self):
        return self.text if len(self.text) <= 80 else self.text[:79] + "…"

    def natural_key(self):
        return (self.public_id,)


class Verdict(models.TextChoices):
    """Ratings normalised across fact-checkers' scales so they can be compared."""

    TRUE = "true", "True"
    MOSTLY_TRUE = "mostly_true", "Mostly true"
    MIXED = "mixed", "Mixed"
    MOSTLY_FALSE = "mostly_false", "Mostly false"
    FALSE = "false", "False"
    UNPROVEN = "unproven", "Unproven"
    OTHER = "other", "Other"


class Review(StatusMixin, Curated):
    """A fact-checker's verdict on a claim, on the reviewer's own rating scale."""

    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        Outlet,
        on_delete=models.PROTECT,
        related_name="reviews",
        limit_choices_to={"kind": Outlet.Kind.FACT_CHECKER},
    )
    rating_text = models.CharField(
        "textual rating", max_length=100, help_text='As published, e.g. "Pants on Fire".'
    )
    rating_value = models.DecimalField(
        "numeric rating", max_digits=6, decimal_places=2, null=True, blank=True
    )
    best_rating = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    worst_rating = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    verdict = models.CharField("normalised verdict", max_length=20, choices=Verdict.choices)
    summary = models.TextField(max_length=TEXT_MAX, blank=True)
    url = models.URLField("URL", max_length=2000, blank=True)
    published_on = models.DateField(null=True, blank=True, validators=[not_in_future])
    evidence = models.ManyToManyField(Source, blank=True, related_name="evidence_for")

    history = HistoricalRecords(m2m_fields=[evidence])
    objects = StatusQuerySet.as_manager()

    class Meta:
        ordering = ["-published_on", "-id"]
        permissions = [("publish_review", "Can publish and retract reviews")]
        indexes = [
            models.Index(Coalesce("published_on", NEVER).desc(), F("id").desc(), name="review_published"),
            models.Index("updated_at", "id", name="review_updated"),
        ]
        constraints = [
            status_check("review"),
            models.CheckConstraint(condition=Q(verdict__in=Verdict.values), name="review_verdict_valid"),
            models.UniqueConstraint(
                fields=["url"],
                condition=~Q(url=""),
                name="review_url_unique",
                violation_error_message="A review with this URL is already recorded.",
            ),
            models.CheckConstraint(
                condition=Q(best_rating__isnull=True, worst_rating__isnull=True)
                | (
                    Q(best_rating__isnull=False, worst_rating__isnull=False)
                    & ~Q(best_rating=F("worst_rating"))
                ),
                name="review_scale_complete",
                violation_error_message="Give both the best and the worst rating of the scale, and make them differ.",
            ),
            models.CheckConstraint(
                condition=Q(rating_value__isnull=True)
                | Q(
                    best_rating__isnull=False,
                    rating_value__gte=models.functions.Least("best_rating", "worst_rating"),
                    rating_value__lte=models.functions.Greatest("best_rating", "worst_rating"),
                ),
                name="review_rating_within_scale",
                violation_error_message="The numeric rating must lie within the scale's best and worst ratings.",
            ),
            models.CheckConstraint(
                condition=Q(published_on__isnull=True) | Q(published_on__lte=Now() + FUTURE_TOLERANCE),
                name="review_published_not_future",
                violation_error_message="The publication date is in the future.",
            ),
        ]

    def __str__(self):
        return f"{self.reviewer}: {self.rating_text} — {self.claim}"

    def natural_key(self):
        return (self.public_id,)

    def clean(self):
        if self.reviewer_id and self.reviewer.kind != Outlet.Kind.FACT_CHECKER:
            raise ValidationError({"reviewer": "The reviewer must be an outlet of kind fact-checker."})


class RatingMapping(Curated):
    """How a fact-checker's textual rating translates to a normalised verdict.

    A mapping without a reviewer applies to every reviewer that has none of
    its own for that rating. Ratings are compared case- and space-insensitively.
    """

    reviewer = models.ForeignKey(
        Outlet,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rating_mappings",
        limit_choices_to={"kind": OutletKind.FACT_CHECKER},
        help_text="Leave empty for a default that applies to every reviewer.",
    )
    rating = models.CharField("textual rating", max_length=100)
    verdict = models.CharField("normalised verdict", max_length=20, choices=Verdict.choices)

    history = HistoricalRecords()

    class Meta:
        ordering = ["reviewer__name", "rating", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reviewer", "rating"],
                nulls_distinct=False,
                name="rating_mapping_unique",
                violation_error_message="This rating is already mapped for this reviewer.",
            ),
            models.CheckConstraint(
                condition=Q(verdict__in=Verdict.values), name="rating_mapping_verdict_valid"
            ),
        ]

    def __str__(self):
        return f"{self.reviewer or 'Any reviewer'}: {self.rating} → {self.get_verdict_display()}"

    @staticmethod
    def normalise(rating: str) -> str:
        return " ".join(rating.lower().split())

    def clean(self):
        self.rating = self.normalise(self.rating)
