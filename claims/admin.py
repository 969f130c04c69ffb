"""The curation desk: fact-checkers log, link, review and publish here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.db import models
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from simple_history.admin import SimpleHistoryAdmin

from . import search, services
from .models import (
    Affiliation,
    Appearance,
    Claim,
    Outlet,
    RatingMapping,
    Review,
    Source,
    Speaker,
    Statement,
    StatementLink,
    StatementSpeaker,
    Status,
    Topic,
)
from .permissions import can_publish

AUDIT_FIELDS = ("public_id", "created_at", "created_by", "updated_at", "updated_by")
# Links typed without a scheme are taken as https (Django 6's default).
URL_FIELDS: dict[type[models.Field[Any, Any]], dict[str, Any]] = {models.URLField: {"assume_scheme": "https"}}


def stamp(obj, user) -> None:
    """Record who created and last changed a curated record."""
    if obj.pk is None and hasattr(obj, "created_by_id"):
        obj.created_by = user
    if hasattr(obj, "updated_by_id"):
        obj.updated_by = user


class VersionedForm(forms.ModelForm):
    """Refuses a save when someone else saved the record after this form was opened.

    The version is the record's ``updated_at`` when the page was rendered; it
    is checked against the row locked for this save (the admin saves inside a
    transaction), so two editors can never silently overwrite each other.
    """

    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            # From the database: the history page's "revert" form holds an old version.
            current = self.current_version(lock=False)
            self.fields["version"].initial = current
            self.fields["version"].required = True

    def current_version(self, *, lock: bool) -> str | None:
        rows = type(self.instance)._default_manager.filter(pk=self.instance.pk)
        if lock:
            rows = rows.select_for_update()
        updated = rows.values_list("updated_at", flat=True).first()
        return updated.isoformat() if updated else None

    def clean(self):
        cleaned = super().clean()
        sent = self.data.get(self.add_prefix("version"))
        if self.instance.pk is not None and sent and sent != self.current_version(lock=True):
            raise forms.ValidationError(
                "Someone else saved this record after you opened it. Nothing was saved: your changes "
                "are still in the form. Open the record in a new tab to see theirs, then apply yours again.",
                code="stale",
            )
        return cleaned


class CuratedAdmin(SimpleHistoryAdmin):
    """Audit fields shown read-only; every save and inline save is attributed; stale saves refused."""

    form = VersionedForm
    formfield_overrides = URL_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *AUDIT_FIELDS)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if len(fieldsets) == 1 and fieldsets[0][0] is None:
            fields = [f for f in fieldsets[0][1]["fields"] if f not in (*AUDIT_FIELDS, "version")]
            fieldsets = [
                (None, {"fields": fields}),
                ("Record", {"fields": AUDIT_FIELDS, "classes": ["collapse"]}),
            ]
        if obj is not None:
            fieldsets = [*fieldsets, (None, {"fields": ["version"], "classes": ["hidden"]})]
        return fieldsets

    def save_model(self, request, obj, form, change):
        stamp(obj, request.user)
        super().save_model(request, obj, form, change)

    def get_deleted_objects(self, objs, request):
        """Also listed as protected (so the delete page refuses, as for a PROTECT key): public
        records, which are kept, and what a many-to-many relation would lose (services)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        kept = []
        for obj in objs:
            reason = services.deletion_refused(obj)
            if reason:
                kept.append(f"{obj}: {reason}")
            kept += [f"{type(r)._meta.verbose_name.capitalize()}: {r}" for r in services.lost_references(obj)]
        return deleted, counts, perms_needed, [*protected, *kept]

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            if inline_form.has_changed() and inline_form.instance is not None:
                stamp(inline_form.instance, request.user)
        super().save_formset(request, form, formset, change)


class StatusAdmin(CuratedAdmin):
    """Editors write drafts; only publishers (and superusers) publish and retract."""

    actions = ["publish", "retract"]

    def has_publish_permission(self, request):
        return can_publish(request.user, self.model)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return readonly if self.has_publish_permission(request) else ("status", *readonly)

    def save_model(self, request, obj, form, change):
        # Also covers restoring an old version from the history page, which would otherwise
        # bring back that version's status.
        services.keep_status_unless_publisher(obj, request.user)
        if change and services.back_to_draft_if_an_editor_changed(
            obj, request.user, changed=form.has_changed()
        ):
            self._back_to_draft_notice(request, obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Only an inline changed (a speaker, an appearance): the record goes back to draft too.
        obj = form.instance
        inline_changed = change and any(formset.has_changed() for formset in formsets)
        if inline_changed and services.back_to_draft_if_an_editor_changed(obj, request.user, changed=True):
            obj._history_user = request.user
            obj.save(update_fields=["status", "updated_at"])
            self._back_to_draft_notice(request, obj)

    def _back_to_draft_notice(self, request, obj):
        self.message_user(
            request,
            f"This {self.opts.verbose_name} was public: your change took it back to draft, and it is not "
            "public until a publisher publishes it again.",
            messages.WARNING,
        )

    def _set_status(self, request, queryset, status):
        changed = services.set_status(
            records=queryset.exclude(status=status), status=status, user=request.user
        )
        self.message_user(
            request, f"{changed} {self.opts.verbose_name_plural} marked {status}.", messages.SUCCESS
        )

    @admin.action(description="Publish selected items", permissions=["publish"])
    def publish(self, request, queryset):
        self._set_status(request, queryset, Status.PUBLISHED)

    @admin.action(description="Retract selected items", permissions=["publish"])
    def retract(self, request, queryset):
        self._set_status(request, queryset, Status.RETRACTED)


class LinesArrayField(SimpleArrayField):
    """A list edited as one item per line; blank lines are ignored."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4}))
        super().__init__(forms.CharField(max_length=200), delimiter="\n", required=False, **kwargs)

    def to_python(self, value):
        if isinstance(value, str):
            value = "\n".join(line.strip() for line in value.splitlines() if line.strip())
        return super().to_python(value)


class SpeakerForm(VersionedForm):
    aliases = LinesArrayField(help_text="Other spellings and transliterations, one per line.")

    class Meta:
        model = Speaker
        fields = ["name", "slug", "kind", "aliases", "description", "wikidata_qid"]


@admin.register(Topic)
class TopicAdmin(CuratedAdmin):
    list_display = ["name", "slug", "updated_at"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


class AffiliationInline(admin.TabularInline):
    model = Affiliation
    fk_name = "speaker"
    fields = ["organisation", "role", "start_date", "end_date"]
    autocomplete_fields = ["organisation"]
    extra = 0


@admin.register(Speaker)
class SpeakerAdmin(CuratedAdmin):
    form = SpeakerForm
    list_display = ["name", "kind", "alias_list", "wikidata_qid", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "slug", "wikidata_qid"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [AffiliationInline]

    @admin.display(description="aliases")
    def alias_list(self, obj):
        return ", ".join(obj.aliases)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            # Fact-checkers type names without diacritics and by their other
            # spellings: match names and aliases as the API does.
            matches = search.search_speakers(self.model.objects.all(), term).values("pk")
            queryset = queryset | self.model.objects.filter(pk__in=matches)
        return queryset, may_have_duplicates


@admin.register(Affiliation)
class AffiliationAdmin(CuratedAdmin):
    list_display = ["speaker", "role", "organisation", "start_date", "end_date"]
    list_filter = ["organisation__kind"]
    search_fields = ["speaker__name", "organisation__name", "role"]
    autocomplete_fields = ["speaker", "organisation"]


@admin.register(Outlet)
class OutletAdmin(CuratedAdmin):
    list_display = ["name", "kind", "country", "language", "homepage"]
    list_filter = ["kind", "country", "language"]
    search_fields = ["name", "slug", "homepage"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Source)
class SourceAdmin(CuratedAdmin):
    list_display = ["__str__", "kind", "outlet", "published_on", "cites", "url"]
    list_filter = ["kind", "language", "outlet__kind"]
    list_select_related = ["outlet", "cites__outlet"]
    search_fields = ["title", "url", "description", "outlet__name"]
    autocomplete_fields = ["outlet", "cites"]
    date_hierarchy = "published_on"
    readonly_fields = ["cited_by_list"]

    @admin.display(description="cited by")
    def cited_by_list(self, obj):
        return "; ".join(str(s) for s in obj.cited_by.all()) or "—"


class StatementSpeakerInline(admin.TabularInline):
    model = StatementSpeaker
    fields = ["speaker", "role", "position"]
    autocomplete_fields = ["speaker"]
    extra = 1


class AppearanceInline(admin.TabularInline):
    model = Appearance
    fields = ["source", "quote", "is_first"]
    autocomplete_fields = ["source"]
    extra = 0


class StatementLinkInline(admin.TabularInline):
    model = StatementLink
    fk_name = "from_statement"
    fields = ["type", "to_statement", "note"]
    autocomplete_fields = ["to_statement"]
    extra = 0
    verbose_name = "link to another statement"
    verbose_name_plural = "links to other statements"


class ClaimInline(admin.TabularInline):
    model = Claim
    fields = ["text", "status"]
    readonly_fields = ["status"]
    extra = 0
    show_change_link = True


@admin.register(Statement)
class StatementAdmin(StatusAdmin):
    list_display = ["__str__", "speaker_names", "said_on", "said_on_precision", "text_type", "status"]
    list_filter = ["status", "text_type", "said_on_precision", "language", "topics"]
    search_fields = ["text", "original_text", "context", "speakers__name", "appearances__quote"]
    autocomplete_fields = ["topics"]
    date_hierarchy = "said_on"
    inlines = [StatementSpeakerInline, AppearanceInline, StatementLinkInline, ClaimInline]
    fieldsets = [
        (None, {"fields": ["text", "text_type", "language", "original_text", "original_language"]}),
        ("When and where", {"fields": ["said_on", "said_on_precision", "place", "context"]}),
        (None, {"fields": ["topics", "status"]}),
        ("Record", {"fields": AUDIT_FIELDS, "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("speakers")

    @admin.display(description="speakers")
    def speaker_names(self, obj):
        return ", ".join(s.name for s in obj.speakers.all())


class ReviewInline(admin.StackedInline):
    model = Review
    formfield_overrides = URL_FIELDS
    fields = [
        "reviewer",
        ("rating_text", "verdict"),
        ("rating_value", "worst_rating", "best_rating"),
        "url",
        "published_on",
        "status",
    ]
    readonly_fields = ["status"]
    autocomplete_fields = ["reviewer"]
    extra = 0
    show_change_link = True


def similar_to(claim, limit=5):
    return search.similar_claims(
        claim.text,
        threshold=search.SIMILAR_CLAIMS_THRESHOLD,
        limit=limit,
        queryset=Claim.objects.exclude(pk=claim.pk),
    )


def claim_links(claims):
    return format_html_join(
        mark_safe("<br>"),
        '<a href="{}">{}</a> ({}% similar)',
        ((reverse("admin:claims_claim_change", args=[c.pk]), str(c), round(c.score * 100)) for c in claims),
    )


@admin.register(Claim)
class ClaimAdmin(StatusAdmin):
    list_display = ["__str__", "statement", "status", "review_count", "updated_at"]
    list_filter = ["status", "topics", "reviews__verdict"]
    search_fields = ["text", "statement__text"]
    autocomplete_fields = ["statement", "topics"]
    readonly_fields = ["possible_duplicates"]
    inlines = [ReviewInline]

    @admin.display(description="possible duplicates")
    def possible_duplicates(self, obj):
        if obj is None or obj.pk is None:
            return "Shown once the claim is saved."
        return claim_links(similar_to(obj)) or "None found."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "text" in form.changed_data:
            duplicates = similar_to(obj)
            if duplicates:
                messages.warning(
                    request, format_html("This claim may already be recorded: {}", claim_links(duplicates))
                )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("statement").annotate(Count("reviews"))

    @admin.display(description="reviews", ordering="reviews__count")
    def review_count(self, obj):
        return obj.reviews__count


@admin.register(Review)
class ReviewAdmin(StatusAdmin):
    list_display = ["claim", "reviewer", "rating_text", "verdict", "published_on", "status"]
    list_filter = ["status", "verdict", "reviewer"]
    list_select_related = ["claim", "reviewer"]
    search_fields = ["claim__text", "rating_text", "summary", "url"]
    autocomplete_fields = ["claim", "reviewer", "evidence"]
    date_hierarchy = "published_on"


@admin.register(StatementSpeaker)
class StatementSpeakerAdmin(SimpleHistoryAdmin):
    list_display = ["statement", "speaker", "role"]
    list_filter = ["role"]
    list_select_related = ["statement", "speaker"]
    search_fields = ["speaker__name", "statement__text"]
    autocomplete_fields = ["statement", "speaker"]


@admin.register(StatementLink)
class StatementLinkAdmin(SimpleHistoryAdmin):
    list_display = ["from_statement", "type", "to_statement"]
    list_filter = ["type"]
    list_select_related = ["from_statement", "to_statement"]
    search_fields = ["from_statement__text", "to_statement__text"]
    autocomplete_fields = ["from_statement", "to_statement"]


@admin.register(Appearance)
class AppearanceAdmin(CuratedAdmin):
    list_display = ["statement", "source", "is_first"]
    list_filter = ["is_first", "source__kind"]
    list_select_related = ["statement", "source__outlet"]
    search_fields = ["quote", "statement__text", "source__title", "source__url"]
    autocomplete_fields = ["statement", "source"]


@admin.register(RatingMapping)
class RatingMappingAdmin(CuratedAdmin):
    list_display = ["rating", "verdict", "reviewer"]
    list_filter = ["verdict", "reviewer"]
    search_fields = ["rating", "reviewer__name"]
    autocomplete_fields = ["reviewer"]
