"""The REST layer's representations.

Read serializers return what a client needs without follow-up calls (a
statement carries its speakers, appearances, links and claims). Write
serializers take public ids (UUIDs, or slugs where a record has one), run the
model's own validation and constraints, and never accept ids, status changes
the user may not make, or audit fields.
"""

import uuid

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.settings import api_settings

from . import models, search, services
from .permissions import sees_drafts

# Documented limits for free text (docs/api.md); longer input is a 400.
TEXT_MAX = models.TEXT_MAX
NOTE_MAX = models.NOTE_MAX


REF_SCHEMA = {"type": "string", "description": "Public id (UUID), or slug where the record has one."}


class PublicRef(serializers.RelatedField):
    """A related record given by its public UUID, or by its slug where it has one."""

    default_error_messages = {
        "does_not_exist": "No {model} with id or slug {value!r}.",
        "invalid": "Give the {model}'s id (a UUID){slug}.",
    }

    def __init__(self, *, slug_field: str | None = None, **kwargs):
        self.slug_field = slug_field
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        model = self.get_queryset().model._meta.verbose_name
        if not isinstance(data, str) or not data or len(data) > 200 or "\x00" in data:
            self.fail("invalid", model=model, slug=" or its slug" if self.slug_field else "")
        try:
            lookup = {"public_id": uuid.UUID(data)}
        except ValueError:
            if not self.slug_field:
                self.fail("invalid", model=model, slug="")
            lookup = {self.slug_field: data}
        try:
            return self.get_queryset().get(**lookup)
        except models.models.ObjectDoesNotExist:
            self.fail("does_not_exist", model=model, value=data)

    def to_representation(self, value):
        return str(value.public_id)


class NestedRef(PublicRef):
    """Written as a public id (or slug); read as the related record's brief representation."""

    def __init__(self, *, representation, **kwargs):
        self.representation = representation
        super().__init__(**kwargs)

    def to_representation(self, value):
        return self.representation(value, context=self.context).data


class PublicRefExtension(OpenApiSerializerFieldExtension):
    target_class = PublicRef

    def map_serializer_field(self, auto_schema, direction):
        return dict(REF_SCHEMA)


class NestedRefExtension(OpenApiSerializerFieldExtension):
    """The schema says so too: a string in requests, the brief record in responses."""

    target_class = NestedRef

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return dict(REF_SCHEMA)
        return auto_schema.resolve_serializer(self.target.representation, direction).ref


class ModelValidationMixin:
    """Run the model's clean() and constraints, reporting each problem by field."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        instance = (
            model(**{f.attname: getattr(self.instance, f.attname) for f in model._meta.concrete_fields})
            if self.instance
            else model()
        )
        plain = {
            k: v
            for k, v in attrs.items()
            if not isinstance(self.fields.get(k), serializers.ListSerializer | serializers.ManyRelatedField)
        }
        for key, value in plain.items():
            setattr(instance, key, value)
        if self.instance is not None:
            instance.pk = self.instance.pk
            instance._state.adding = False
        try:
            instance.full_clean(exclude=self.unchecked_fields(model))
        except DjangoValidationError as exc:
            detail = serializers.as_serializer_error(exc)
            if NON_FIELD_ERRORS in detail:
                detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
            raise serializers.ValidationError(detail) from exc
        # clean() may normalise values (a month-precision date becomes the 1st).
        for key in plain:
            attrs[key] = getattr(instance, key)
        return attrs

    def unchecked_fields(self, model):
        # Relations written separately are validated by their own serializers.
        return [f.name for f in model._meta.get_fields() if f.many_to_many or f.one_to_many]


class StatusWriteMixin:
    """Only publishers (and superusers) may publish, retract, or set a status at all."""

    def validate_status(self, value):
        if self.context.get("operator"):  # a management command run by whoever runs the server
            return value
        current = self.instance.status if self.instance else models.Status.DRAFT
        reason = services.status_change_refused(
            self.context["request"].user, self.Meta.model, current=current, new=value
        )
        if reason:
            raise PermissionDenied(reason)
        return value


class AuditMixin(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)


AUDIT = ["id", "created_at", "updated_at"]


# ---------------------------------------------------------------- brief forms


class TopicBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = models.Topic
        fields = ["slug", "name"]


class SpeakerBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = models.Speaker
        fields = ["id", "slug", "name", "kind"]


class OutletBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = models.Outlet
        fields = ["id", "slug", "name", "kind"]


class SourceBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    outlet = OutletBriefSerializer(read_only=True, allow_null=True)
    label = serializers.CharField(source="__str__", read_only=True)  # type: ignore[assignment]  # a field named like Field.label

    class Meta:
        model = models.Source
        fields = ["id", "label", "title", "url", "kind", "published_on", "outlet"]


class StatementBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = models.Statement
        fields = ["id", "text", "said_on", "said_on_precision", "status"]


class ClaimBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = models.Claim
        fields = ["id", "text", "status"]


# ---------------------------------------------------------------- topics, outlets


class TopicSerializer(ModelValidationMixin, AuditMixin, serializers.ModelSerializer):
    description = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False)

    class Meta:
        model = models.Topic
        fields = [*AUDIT, "slug", "name", "description"]


class OutletSerializer(ModelValidationMixin, AuditMixin, serializers.ModelSerializer):
    description = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False)

    class Meta:
        model = models.Outlet
        fields = [*AUDIT, "slug", "name", "kind", "homepage", "country", "language", "description"]


# ---------------------------------------------------------------- speakers


class AffiliationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    organisation = SpeakerBriefSerializer(read_only=True)

    class Meta:
        model = models.Affiliation
        fields = ["id", "organisation", "role", "start_date", "end_date"]


class AffiliationWriteSerializer(serializers.Serializer):
    organisation = PublicRef(queryset=models.Speaker.objects.exclude(kind="person"), slug_field="slug")
    role = serializers.CharField(max_length=200)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)

    def validate(self, attrs):
        start, end = attrs.get("start_date"), attrs.get("end_date")
        if start and end and end < start:
            raise serializers.ValidationError({"end_date": "The end date is before the start date."})
        return attrs


class SpeakerSerializer(ModelValidationMixin, AuditMixin, serializers.ModelSerializer):
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True), max_length=100, required=False
    )
    description = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False)
    affiliations = AffiliationSerializer(many=True, read_only=True)
    affiliations_input = AffiliationWriteSerializer(
        many=True,
        write_only=True,
        required=False,
        source="affiliations_set",
        help_text="Replaces the speaker's affiliations when given.",
    )
    wikidata_url = serializers.CharField(read_only=True)

    class Meta:
        model = models.Speaker
        fields = [
            *AUDIT,
            "slug",
            "name",
            "kind",
            "aliases",
            "description",
            "wikidata_qid",
            "wikidata_url",
            "affiliations",
            "affiliations_input",
        ]

    def _save_affiliations(self, speaker, rows):
        if rows is not None:
            services.replace_affiliations(speaker=speaker, rows=rows, user=speaker.updated_by)

    @transaction.atomic
    def create(self, validated_data):
        rows = validated_data.pop("affiliations_set", None)
        speaker = super().create(validated_data)
        self._save_affiliations(speaker, rows)
        return speaker

    @transaction.atomic
    def update(self, instance, validated_data):
        rows = validated_data.pop("affiliations_set", None)
        speaker = super().update(instance, validated_data)
        self._save_affiliations(speaker, rows)
        return speaker


# ---------------------------------------------------------------- sources


class SourceSerializer(ModelValidationMixin, AuditMixin, serializers.ModelSerializer):
    outlet = NestedRef(
        representation=OutletBriefSerializer,
        queryset=models.Outlet.objects.all(),
        slug_field="slug",
        required=False,
        allow_null=True,
    )
    cites = NestedRef(
        representation=SourceBriefSerializer,
        queryset=models.Source.objects.all(),
        required=False,
        allow_null=True,
    )
    description = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False)
    label = serializers.CharField(source="__str__", read_only=True)  # type: ignore[assignment]  # a field named like Field.label
    cited_by = serializers.SerializerMethodField()

    class Meta:
        model = models.Source
        fields = [
            *AUDIT,
            "label",
            "url",
            "title",
            "kind",
            "outlet",
            "published_on",
            "language",
            "archive_url",
            "description",
            "cites",
            "cited_by",
        ]

    def get_cited_by(self, obj) -> list[uuid.UUID]:
        return [s.public_id for s in obj.cited_by.all()]


# ---------------------------------------------------------------- statements


class StatementSpeakerSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="speaker.public_id", read_only=True)
    slug = serializers.CharField(source="speaker.slug", read_only=True)
    name = serializers.CharField(source="speaker.name", read_only=True)

    class Meta:
        model = models.StatementSpeaker
        fields = ["id", "slug", "name", "role"]


class AppearanceSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    source = SourceBriefSerializer(read_only=True)  # type: ignore[assignment]  # a field named like Field.source

    class Meta:
        model = models.Appearance
        fields = ["id", "source", "quote", "is_first"]


class LinkSerializer(serializers.ModelSerializer):
    statement = StatementBriefSerializer(source="to_statement", read_only=True)

    class Meta:
        model = models.StatementLink
        fields = ["type", "statement", "note"]


class IncomingLinkSerializer(serializers.ModelSerializer):
    statement = StatementBriefSerializer(source="from_statement", read_only=True)

    class Meta:
        model = models.StatementLink
        fields = ["type", "statement", "note"]


# The fields a statement is written with; reads show the related records in full.
STATEMENT_FIELDS = [
    *models.STATEMENT_CONTENT_FIELDS,
    "speakers",
    "topics",
    "appearances",
    "links",
]


class StatementSerializer(AuditMixin, serializers.ModelSerializer):
    speakers = StatementSpeakerSerializer(source="speaker_roles", many=True, read_only=True)
    topics = TopicBriefSerializer(many=True, read_only=True)
    appearances = AppearanceSerializer(many=True, read_only=True)
    links = LinkSerializer(source="outgoing_links", many=True, read_only=True)
    linked_from = IncomingLinkSerializer(source="incoming_links", many=True, read_only=True)
    claims = ClaimBriefSerializer(many=True, read_only=True)
    said_on_display = serializers.CharField(read_only=True)
    said_until = serializers.DateField(read_only=True, allow_null=True)  # empty when the date is unknown

    class Meta:
        model = models.Statement
        # What is written, plus what is derived or comes from elsewhere.
        fields = [*AUDIT, *STATEMENT_FIELDS, "said_until", "said_on_display", "linked_from", "claims"]


class RowSerializer(serializers.Serializer):
    """A nested row; its defaults apply in PATCH requests too (DRF skips them there)."""

    defaults: dict = {}

    def validate(self, attrs):
        return {**self.defaults, **attrs}


class StatementSpeakerWriteSerializer(RowSerializer):
    defaults = {"role": models.SpeakerRole.SPEAKER}
    speaker = PublicRef(queryset=models.Speaker.objects.all(), slug_field="slug")
    role = serializers.ChoiceField(choices=models.SpeakerRole.choices, required=False)


class AppearanceWriteSerializer(RowSerializer):
    defaults = {"quote": "", "is_first": False}
    source = PublicRef(queryset=models.Source.objects.all())  # type: ignore[assignment]  # a field named like Field.source
    quote = serializers.CharField(
        max_length=TEXT_MAX, allow_blank=True, required=False, trim_whitespace=False
    )
    is_first = serializers.BooleanField(required=False)


class LinkWriteSerializer(RowSerializer):
    defaults = {"note": ""}
    type = serializers.ChoiceField(choices=models.LinkType.choices)
    statement = PublicRef(queryset=models.Statement.objects.all())
    note = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False)


def _unique_rows(rows, key, field, message):
    seen = set()
    for row in rows:
        k = key(row)
        if k in seen:
            raise serializers.ValidationError({field: message})
        seen.add(k)


class StatementWriteSerializer(StatusWriteMixin, ModelValidationMixin, serializers.ModelSerializer):
    text = serializers.CharField(max_length=TEXT_MAX, trim_whitespace=False)
    original_text = serializers.CharField(max_length=TEXT_MAX, allow_blank=True, required=False)
    context = serializers.CharField(max_length=NOTE_MAX, allow_blank=True, required=False)  # type: ignore[assignment]  # a field named like Field.context
    topics = PublicRef(queryset=models.Topic.objects.all(), slug_field="slug", many=True, required=False)
    speakers = StatementSpeakerWriteSerializer(
        many=True, required=False, help_text="Replaces the speakers when given."
    )
    appearances = AppearanceWriteSerializer(
        many=True, required=False, help_text="Replaces the appearances when given."
    )
    links = LinkWriteSerializer(
        many=True, required=False, help_text="Replaces the outgoing links when given."
    )

    class Meta:
        model = models.Statement
        fields = STATEMENT_FIELDS

    def validate_speakers(self, rows):
        _unique_rows(
            rows,
            lambda r: (r["speaker"].pk, r["role"]),
            "speakers",
            "A speaker is listed twice in the same role.",
        )
        return rows

    def validate_appearances(self, rows):
        _unique_rows(rows, lambda r: r["source"].pk, "appearances", "A source is listed twice.")
        if sum(1 for r in rows if r["is_first"]) > 1:
            raise serializers.ValidationError("Only one appearance can be the first.")
        return rows

    def validate_links(self, rows):
        _unique_rows(rows, lambda r: (r["statement"].pk, r["type"]), "links", "A link is listed twice.")
        if self.instance is not None and (
            reason := services.self_link_refused(self.instance, [r["statement"] for r in rows])
        ):
            raise serializers.ValidationError(reason)
        return rows

    def _save(self, statement, validated_data):
        relations = {
            name: validated_data.pop(name, None) for name in ("topics", "speakers", "appearances", "links")
        }
        for name, value in validated_data.items():
            setattr(statement, name, value)
        return services.save_statement(statement=statement, user=statement.updated_by, **relations)

    def create(self, validated_data):
        return self._save(models.Statement(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)

    def to_representation(self, instance):
        return StatementSerializer(instance, context=self.context).data


# ---------------------------------------------------------------- claims and reviews


class ReviewBriefSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    reviewer = OutletBriefSerializer(read_only=True)

    class Meta:
        model = models.Review
        fields = [
            "id",
            "reviewer",
            "rating_text",
            "verdict",
            "rating_value",
            "best_rating",
            "worst_rating",
            "url",
            "published_on",
            "status",
        ]


class ClaimStatementSerializer(StatementBriefSerializer):
    """A claim's statement, briefly, with its speakers; null where the reader may not see it."""

    speakers = StatementSpeakerSerializer(source="speaker_roles", many=True, read_only=True)

    class Meta(StatementBriefSerializer.Meta):
        fields = [*StatementBriefSerializer.Meta.fields, "speakers"]

    def to_representation(self, statement):
        request = self.context.get("request")
        if (
            request is not None
            and not statement.is_public
            and not sees_drafts(request.user, models.Statement)
        ):
            return None
        return super().to_representation(statement)


class ClaimSerializer(AuditMixin, serializers.ModelSerializer):
    # Declared once, not built per claim: a serializer inspects its model each time it is made.
    statement = ClaimStatementSerializer(read_only=True, allow_null=True)
    topics = TopicBriefSerializer(many=True, read_only=True)
    reviews = ReviewBriefSerializer(many=True, read_only=True)

    class Meta:
        model = models.Claim
        fields = [*AUDIT, "status", "text", "statement", "topics", "reviews"]


class ClaimWriteSerializer(StatusWriteMixin, ModelValidationMixin, serializers.ModelSerializer):
    text = serializers.CharField(max_length=TEXT_MAX, trim_whitespace=False)
    statement = PublicRef(queryset=models.Statement.objects.all(), required=False, allow_null=True)
    topics = PublicRef(queryset=models.Topic.objects.all(), slug_field="slug", many=True, required=False)

    class Meta:
        model = models.Claim
        fields = ["status", "text", "statement", "topics"]

    def to_representation(self, instance):
        return ClaimSerializer(instance, context=self.context).data


# The same fields are read and written; reads show related records, writes take their ids.
REVIEW_FIELDS = [
    "status",
    "claim",
    "reviewer",
    "rating_text",
    "rating_value",
    "best_rating",
    "worst_rating",
    "verdict",
    "summary",
    "url",
    "published_on",
    "evidence",
]


class ReviewSerializer(AuditMixin, serializers.ModelSerializer):
    claim = ClaimBriefSerializer(read_only=True)
    reviewer = OutletBriefSerializer(read_only=True)
    evidence = SourceBriefSerializer(many=True, read_only=True)

    class Meta:
        model = models.Review
        fields = [*AUDIT, *REVIEW_FIELDS]


class ReviewWriteSerializer(StatusWriteMixin, ModelValidationMixin, serializers.ModelSerializer):
    claim = PublicRef(queryset=models.Claim.objects.all())
    reviewer = PublicRef(queryset=models.Outlet.objects.all(), slug_field="slug")
    summary = serializers.CharField(max_length=TEXT_MAX, allow_blank=True, required=False)
    evidence = PublicRef(queryset=models.Source.objects.all(), many=True, required=False)

    class Meta:
        model = models.Review
        fields = REVIEW_FIELDS

    def to_representation(self, instance):
        return ReviewSerializer(instance, context=self.context).data


# ---------------------------------------------------------------- history


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField()
    new = serializers.JSONField()


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="history_id")
    date = serializers.DateTimeField(source="history_date")
    user = serializers.CharField(
        source="shown_user",
        allow_null=True,
        help_text="Who saved this version: the username for curators; for other readers what "
        "HISTORY_PUBLIC_AUTHOR says (by default nothing).",
    )
    type = serializers.SerializerMethodField()
    reason = serializers.CharField(source="history_change_reason", allow_null=True)
    changes = ChangeSerializer(many=True)

    def get_type(self, obj) -> str:
        return {"+": "created", "~": "changed", "-": "deleted"}[obj.history_type]


# ---------------------------------------------------------------- similar claims


class SimilarClaimsQuerySerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=2000, help_text="The new claim, as seen (up to 2,000 characters)."
    )
    threshold = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        default=search.SIMILAR_CLAIMS_THRESHOLD,
        help_text=f"Lowest score to return, 0 to 1 (default {search.SIMILAR_CLAIMS_THRESHOLD}).",
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=50,
        default=search.SIMILAR_CLAIMS_LIMIT,
        help_text="At most this many claims (1-50).",
    )


class SimilarClaimSerializer(ClaimSerializer):
    score = serializers.FloatField(help_text="Similarity to the text, 0 to 1.")

    class Meta(ClaimSerializer.Meta):
        fields = [*ClaimSerializer.Meta.fields, "score"]


class SimilarClaimsSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True, help_text="Always null: the best matches fit one answer.")
    results = SimilarClaimSerializer(many=True)
