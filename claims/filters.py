"""Query-parameter filters, one FilterSet per resource.

Every value is validated: a malformed date, an unknown choice, or an id or
slug that names nothing is a 400 naming the parameter, never an empty list
that looks like an answer.
"""

import copy
import datetime
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.http import QueryDict
from django_filters.fields import IsoDateTimeField
from django_filters.filters import FilterMethod
from drf_spectacular.utils import extend_schema_field

from . import models, search
from .models import ALWAYS, NEVER
from .pagination import SortKey, ordering
from .permissions import sees_drafts
from .search import MAX_QUERY_LENGTH

# Every error a reference filter raises, by code (the OpenAPI schema lists the codes).
REF_ERRORS = {
    "invalid": "%(value)r is not a valid id (a UUID).",
    "not_found": "No %(model)s with id or slug %(value)r.",
    "too_long": "Ensure each value has at most 200 characters.",
    "too_many": "Give at most 50 values.",
}


class RefField(forms.CharField):
    """A record named by public UUID or (where it has one) slug."""

    default_error_messages: ClassVar[dict[str, Any]] = REF_ERRORS

    def __init__(self, *, model, slug_field=None, **kwargs):
        self.model, self.slug_field = model, slug_field
        super().__init__(**kwargs)

    def clean(self, value):
        if isinstance(value, str) and "\x00" in value:
            # No id or slug holds a NUL; said here, with a code the schema lists (CharField's
            # own check would answer "null_characters_not_allowed").
            raise forms.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            )
        value = super().clean(value)
        if value in self.empty_values:
            return None
        if len(value) > 200:
            raise forms.ValidationError(self.error_messages["too_long"], code="too_long")
        try:
            lookup = {"public_id": uuid.UUID(value)}
        except ValueError:
            if not self.slug_field:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid", params={"value": value}
                ) from None
            lookup = {self.slug_field: value}
        obj = self.model._default_manager.filter(**lookup).first()
        if obj is None:
            raise forms.ValidationError(
                self.error_messages["not_found"],
                code="not_found",
                params={"model": self.model._meta.verbose_name, "value": value},
            )
        return obj


class MultipleRefField(forms.Field):
    widget = forms.SelectMultiple
    default_error_messages: ClassVar[dict[str, Any]] = REF_ERRORS

    def __init__(self, *, model, slug_field=None, **kwargs):
        self.single = RefField(model=model, slug_field=slug_field, required=False)
        super().__init__(**kwargs)

    def clean(self, value):
        values = [v for v in (value or []) if v]
        if not values:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return []
        if len(values) > 50:
            raise forms.ValidationError(self.error_messages["too_many"], code="too_many")
        # Values of only white space name nothing and are left out, like empty ones.
        return [obj for obj in map(self.single.clean, values) if obj is not None]


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class RefFilter(filters.Filter):
    """``?speaker=a&speaker=b``: any of the named records."""

    field_class = MultipleRefField

    def __init__(self, *args, model, slug_field=None, **kwargs):
        super().__init__(*args, model=model, slug_field=slug_field, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        qs = qs.filter(**{f"{self.field_name}__in": value})
        return qs.distinct() if self.distinct else qs


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(filters.TypedChoiceFilter):
    """``true`` or ``false``; anything else is a 400 (django-filter's BooleanFilter ignores it)."""

    def __init__(self, **kwargs):
        super().__init__(
            choices=[("true", "true"), ("false", "false")], coerce=lambda v: v == "true", **kwargs
        )


class OrderingFilter(filters.ChoiceFilter):
    """Validates ``ordering``; the view applies it (see ``KeysetPagination``)."""

    def __init__(self, orderings: dict, **kwargs):
        self.orderings = orderings
        choices = [(name, name) for name in orderings]
        super().__init__(choices=choices, method=lambda qs, name, value: qs, **kwargs)


def search_filter(function, *, method=None):
    """``?q=``: ``function(queryset, term)``, or the FilterSet's ``method`` when it needs the reader."""
    return filters.CharFilter(
        method=method or (lambda qs, name, value: function(qs, value.strip()) if value.strip() else qs),
        max_length=MAX_QUERY_LENGTH,
        help_text='Words to find, in web-search syntax ("exact phrase", or, -excluded); accents, case and '
        "spelling variants (aliases) do not matter. Results come by relevance unless `ordering` is given.",
    )


class UtcDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, converted to UTC here: PostgreSQL refuses offsets beyond ±15:59."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


def updated_since():
    return UtcDateTimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Only records changed at or after this ISO 8601 time.",
    )


class CuratedFilterSet(filters.FilterSet):
    # With ``q``, lists are ordered by relevance unless another ordering is asked for.
    relevance: Callable[[str], tuple[SortKey, ...]] | None = None
    # Whether relevance is ranked among the newest matches only (search.newest_matches):
    # needed where a common word can match millions of rows.
    bounded_relevance = True
    ORDERINGS: dict[str, tuple[SortKey, ...] | None] = {
        "-updated_at": ordering(SortKey("updated_at", descending=True)),
        "updated_at": ordering(SortKey("updated_at")),
    }
    updated_since = updated_since()

    # django-filter deep-copies every filter and builds a new form class (with new
    # form fields) for every request: a third of a list page's time once the page
    # itself is cheap. A filter needs only its own copy, bound to this FilterSet;
    # the form class is the same for every request, and each form deep-copies its
    # fields anyway, as every Django form does.
    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        if queryset is None:
            queryset = self._meta.model._default_manager.all()
        self.is_bound = data is not None
        self.data = data or QueryDict()
        self.queryset = queryset
        self.request = request
        self.form_prefix = prefix
        self.filters = {}
        for name, base in self.base_filters.items():
            filter_ = copy.copy(base)
            if isinstance(vars(filter_).get("filter"), FilterMethod):
                filter_.filter = FilterMethod(filter_)  # calls this FilterSet's method
            filter_.model, filter_.parent = queryset.model, self
            self.filters[name] = filter_

    def sees_drafts(self, model) -> bool:
        if self.request is None:
            return True  # a command's, not a reader's: the queryset it gives decides what it sees
        user = getattr(self.request, "user", None)
        return user is not None and sees_drafts(user, model)

    def is_valid(self):
        """Also: a record the reader may not see is named by no id, as an unknown one is not
        (a draft's id answers the same 400 as an id that names nothing)."""
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            model = filter_.extra.get("model") if isinstance(filter_, RefFilter) else None
            if model is None or not issubclass(model, models.StatusMixin) or self.sees_drafts(model):
                continue
            hidden = [obj for obj in self.form.cleaned_data.get(name) or [] if not obj.is_public]
            if hidden:
                params = {"model": model._meta.verbose_name, "value": str(hidden[0].public_id)}
                self.form.add_error(
                    name, forms.ValidationError(REF_ERRORS["not_found"], code="not_found", params=params)
                )
                valid = False
        return valid

    def get_form_class(self):
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            type(self)._form_class = form_class
        return form_class


def name_orderings():
    return {
        "name": ordering(SortKey("name")),
        "-name": ordering(SortKey("name", descending=True)),
        **CuratedFilterSet.ORDERINGS,
    }


class TopicFilterSet(CuratedFilterSet):
    ORDERINGS = name_orderings()
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Topic
        fields: list[str] = []


class OutletFilterSet(CuratedFilterSet):
    ORDERINGS = name_orderings()
    kind = filters.ChoiceFilter(choices=models.OutletKind.choices, field_name="kind", lookup_expr="exact")
    country = filters.CharFilter(field_name="country", lookup_expr="iexact", max_length=2)
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Outlet
        fields: list[str] = []


class SpeakerFilterSet(CuratedFilterSet):
    ORDERINGS: dict[str, tuple[SortKey, ...] | None] = {"relevance": None, **name_orderings()}
    bounded_relevance = False  # names match a handful of speakers, never millions

    @staticmethod
    def relevance(term):
        return ordering(SortKey("name_similarity", True, search.name_similarity(term)))

    q = search_filter(search.search_speakers)
    kind = filters.ChoiceFilter(choices=models.SpeakerKind.choices, field_name="kind", lookup_expr="exact")
    affiliation = RefFilter(
        model=models.Speaker,
        slug_field="slug",
        field_name="affiliations__organisation",
        distinct=True,
        help_text="Organisation (id or slug): its members, at any time. Repeat for any of several.",
    )
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Speaker
        fields: list[str] = []


class SourceFilterSet(CuratedFilterSet):
    relevance = staticmethod(lambda term: ordering(SortKey("rank", True, search.rank(term))))
    ORDERINGS: dict[str, tuple[SortKey, ...] | None] = {
        "relevance": None,
        "-published_on": ordering(SortKey("published_sort", True, Coalesce("published_on", NEVER))),
        **CuratedFilterSet.ORDERINGS,
    }
    q = search_filter(search.search_sources)
    outlet = RefFilter(
        model=models.Outlet,
        slug_field="slug",
        field_name="outlet",
        help_text="Outlet id or slug; repeat for any of several.",
    )
    kind = filters.ChoiceFilter(choices=models.SourceKind.choices, field_name="kind", lookup_expr="exact")
    url = filters.CharFilter(
        field_name="url", lookup_expr="exact", max_length=2000, help_text="Exact URL: has this been logged?"
    )
    published_after = filters.DateFilter(field_name="published_on", lookup_expr="gte")
    published_before = filters.DateFilter(field_name="published_on", lookup_expr="lte")
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Source
        fields: list[str] = []


# What the date orderings sort by (undated statements last either way), as
# their indexes hold it: newest first, oldest first.
SAID_SORTS = (Coalesce("said_on", NEVER), Coalesce("said_on", ALWAYS))


def _said_orderings():
    return {
        "-said_on": ordering(SortKey("said_sort", True, SAID_SORTS[0])),
        "said_on": ordering(SortKey("said_sort", False, SAID_SORTS[1])),
        **CuratedFilterSet.ORDERINGS,
        "-created_at": ordering(SortKey("created_at", descending=True)),
        "created_at": ordering(SortKey("created_at")),
    }


class StatementFilterSet(CuratedFilterSet):
    relevance = staticmethod(lambda term: ordering(SortKey("rank", True, search.rank(term))))
    ORDERINGS = {"relevance": None, **_said_orderings()}
    q = search_filter(search.search_statements)
    speaker = RefFilter(
        model=models.Speaker,
        slug_field="slug",
        method="filter_speaker",
        help_text="Speaker id or slug, in any role; repeat for any of several.",
    )
    affiliation = RefFilter(
        model=models.Speaker,
        slug_field="slug",
        method="filter_affiliation",
        help_text="Organisation id or slug: statements by anyone affiliated with it when they spoke.",
    )
    outlet = RefFilter(
        model=models.Outlet,
        slug_field="slug",
        method="filter_outlet",
        help_text="Appeared in a source of this outlet.",
    )
    source = RefFilter(model=models.Source, method="filter_source", help_text="Appeared in this source (id).")
    topic = RefFilter(
        model=models.Topic,
        slug_field="slug",
        method="filter_topic",
        help_text="Topic slug; repeat for any of several.",
    )
    language = filters.CharFilter(field_name="language", lookup_expr="iexact", max_length=35)
    said_after = filters.DateFilter(
        method="filter_said_after",
        help_text="Said on or after this date (a month- or year-precision date counts as its whole period).",
    )
    said_before = filters.DateFilter(
        method="filter_said_before", help_text="Said on or before this date (inclusive)."
    )
    status = filters.ChoiceFilter(choices=models.Status.choices, field_name="status", lookup_expr="exact")
    responds_to = RefFilter(
        model=models.Statement,
        method="filter_responds_to",
        help_text="Statements that respond to this one (id).",
    )
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Statement
        fields: list[str] = []

    def filter_speaker(self, qs, name, value):
        return qs.filter(
            Exists(models.StatementSpeaker.objects.filter(statement=OuterRef("pk"), speaker__in=value))
        )

    # The date filters are written on the sort expression of the list's date
    # ordering (the expression its index holds), so that a page of a date range
    # is an index range scan instead of a walk from the newest statement. Each
    # bound is said once: PostgreSQL multiplies the selectivities of the
    # conditions it is given, and redundant ones made it expect a few hundred
    # rows where there were 25,000, and read them all to sort them.
    def said_sort(self):
        """The sort expression of the date ordering asked for (newest first otherwise)."""
        keys = self.ORDERINGS.get(self.data.get("ordering")) or ()
        return keys[0].expression if keys and keys[0].name == "said_sort" else SAID_SORTS[0]

    def filter_said_after(self, qs, name, value):
        # A period starts at most LONGEST_PERIOD before it ends: that bound is for the index.
        # (No lower bound is needed within LONGEST_PERIOD of 1 January of the year 1.)
        if value - datetime.date.min > models.LONGEST_PERIOD:
            earliest_start = value - models.LONGEST_PERIOD
        else:
            earliest_start = datetime.date.min
        return qs.filter(GreaterThanOrEqual(self.said_sort(), Value(earliest_start)), said_until__gte=value)

    def filter_said_before(self, qs, name, value):
        # Undated statements are never "before" anything (their sort value is a sentinel).
        return qs.filter(LessThanOrEqual(self.said_sort(), Value(value)), said_on__isnull=False)

    def filter_affiliation(self, qs, name, value):
        # Unknown affiliation dates are open-ended; the statement's period
        # (a whole month for a month-precision date) must overlap the affiliation.
        held = models.Affiliation.objects.filter(speaker=OuterRef("speaker"), organisation__in=value).filter(
            Q(start_date__isnull=True) | Q(start_date__lte=OuterRef("statement__said_until")),
            Q(end_date__isnull=True) | Q(end_date__gte=OuterRef("statement__said_on")),
        )
        roles = models.StatementSpeaker.objects.filter(statement=OuterRef("pk")).filter(Exists(held))
        return qs.filter(Exists(roles))

    def filter_outlet(self, qs, name, value):
        return qs.filter(
            Exists(models.Appearance.objects.filter(statement=OuterRef("pk"), source__outlet__in=value))
        )

    def filter_source(self, qs, name, value):
        return qs.filter(Exists(models.Appearance.objects.filter(statement=OuterRef("pk"), source__in=value)))

    def filter_topic(self, qs, name, value):
        through = models.Statement.topics.through
        return qs.filter(Exists(through.objects.filter(statement=OuterRef("pk"), topic__in=value)))

    def filter_responds_to(self, qs, name, value):
        links = models.StatementLink.objects.filter(
            from_statement=OuterRef("pk"), to_statement__in=value, type=models.LinkType.RESPONDS_TO
        )
        return qs.filter(Exists(links))


class ClaimFilterSet(CuratedFilterSet):
    relevance = staticmethod(lambda term: ordering(SortKey("rank", True, search.rank(term))))
    ORDERINGS: dict[str, tuple[SortKey, ...] | None] = {
        "relevance": None,
        "-created_at": ordering(SortKey("created_at", descending=True)),
        "created_at": ordering(SortKey("created_at")),
        **CuratedFilterSet.ORDERINGS,
    }
    q = search_filter(search.search_claims, method="filter_q")
    speaker = RefFilter(
        model=models.Speaker,
        slug_field="slug",
        method="filter_speaker",
        help_text="Speaker id or slug of the claim's statement; repeat for any of several.",
    )
    topic = RefFilter(
        model=models.Topic,
        slug_field="slug",
        method="filter_topic",
        help_text="Topic slug; repeat for any of several.",
    )
    verdict = filters.MultipleChoiceFilter(
        choices=models.Verdict.choices,
        method="filter_verdict",
        help_text="Has a review with this verdict; repeat for any of several.",
    )
    reviewer = RefFilter(
        model=models.Outlet,
        slug_field="slug",
        method="filter_reviewer",
        help_text="Reviewed by this fact-checker (id or slug).",
    )
    reviewed = StrictBooleanFilter(
        method="filter_reviewed", help_text="true: has at least one review; false: has none."
    )
    said_after = filters.DateFilter(
        method="filter_said_after", help_text="Its statement was said on or after this date (inclusive)."
    )
    said_before = filters.DateFilter(
        method="filter_said_before", help_text="Its statement was said on or before this date (inclusive)."
    )
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Claim
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        term = value.strip()
        if not term:
            return qs
        if self.sees_drafts(models.Statement):
            return search.search_claims(qs, term)
        return search.search_public_claims(qs, term)

    def statement_visible(self) -> Q:
        """What the statement filters look at: for readers who see no drafts, only a public
        statement (a published claim's draft statement shows as null, and answers no filter)."""
        if self.sees_drafts(models.Statement):
            return Q()
        return Q(statement__status__in=models.StatusQuerySet.PUBLIC_STATUSES)

    def filter_said_after(self, qs, name, value):
        return qs.filter(self.statement_visible(), statement__said_until__gte=value)

    def filter_said_before(self, qs, name, value):
        return qs.filter(self.statement_visible(), statement__said_on__lte=value)

    def visible_reviews(self):
        return models.Review.objects.visible_to(self.request.user).filter(claim=OuterRef("pk"))

    def filter_speaker(self, qs, name, value):
        return qs.filter(
            self.statement_visible(),
            Exists(
                models.StatementSpeaker.objects.filter(statement=OuterRef("statement"), speaker__in=value)
            ),
        )

    def filter_topic(self, qs, name, value):
        through = models.Claim.topics.through
        return qs.filter(Exists(through.objects.filter(claim=OuterRef("pk"), topic__in=value)))

    def filter_verdict(self, qs, name, value):
        return qs.filter(Exists(self.visible_reviews().filter(verdict__in=value))) if value else qs

    def filter_reviewer(self, qs, name, value):
        return qs.filter(Exists(self.visible_reviews().filter(reviewer__in=value)))

    def filter_reviewed(self, qs, name, value):
        reviewed = Exists(self.visible_reviews())
        return qs.filter(reviewed if value else ~reviewed)


class ReviewFilterSet(CuratedFilterSet):
    ORDERINGS = {
        "-published_on": ordering(SortKey("published_sort", True, Coalesce("published_on", NEVER))),
        **CuratedFilterSet.ORDERINGS,
    }
    verdict = filters.MultipleChoiceFilter(choices=models.Verdict.choices, field_name="verdict")
    reviewer = RefFilter(model=models.Outlet, slug_field="slug", field_name="reviewer")
    claim = RefFilter(model=models.Claim, field_name="claim")
    published_after = filters.DateFilter(field_name="published_on", lookup_expr="gte")
    published_before = filters.DateFilter(field_name="published_on", lookup_expr="lte")
    status = filters.ChoiceFilter(choices=models.Status.choices, field_name="status", lookup_expr="exact")
    ordering = OrderingFilter(ORDERINGS)

    class Meta:
        model = models.Review
        fields: list[str] = []
