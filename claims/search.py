"""Text search: one place for normalisation and matching, used by the API and the admin.

Matching is accent- and case-insensitive (PostgreSQL ``unaccent``) and counts a
speaker's aliases as the speaker's name, so ``erdogan`` finds Erdoğan and
``mismari`` finds al-Mesmari.
"""

from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value

from . import models

MAX_QUERY_LENGTH = 200


def alias_text():
    """A speaker's aliases as one string, for matching."""
    return Func(F("aliases"), Value(" "), function="array_to_string", output_field=TextField())


def speakers_matching(term: str) -> QuerySet:
    return models.Speaker.objects.annotate(alias_text=alias_text()).filter(
        Q(name__unaccent__icontains=term) | Q(alias_text__unaccent__icontains=term)
    )


def search_speakers(queryset: QuerySet, term: str) -> QuerySet:
    return queryset.filter(pk__in=speakers_matching(term).values("pk"))


def search_statements(queryset: QuerySet, term: str) -> QuerySet:
    """Curated text, quotes as printed, speakers' names and aliases, sources and outlets."""
    by_speaker = models.StatementSpeaker.objects.filter(
        statement=OuterRef("pk"), speaker__in=speakers_matching(term).values("pk")
    )
    in_source = models.Appearance.objects.filter(statement=OuterRef("pk")).filter(
        Q(quote__unaccent__icontains=term)
        | Q(source__title__unaccent__icontains=term)
        | Q(source__outlet__name__unaccent__icontains=term)
    )
    return queryset.filter(
        Q(text__unaccent__icontains=term)
        | Q(original_text__unaccent__icontains=term)
        | Exists(by_speaker)
        | Exists(in_source)
    )


def search_claims(queryset: QuerySet, term: str) -> QuerySet:
    return queryset.filter(Q(text__unaccent__icontains=term) | Q(statement__text__unaccent__icontains=term))


def search_sources(queryset: QuerySet, term: str) -> QuerySet:
    return queryset.filter(
        Q(title__unaccent__icontains=term)
        | Q(url__icontains=term)
        | Q(description__unaccent__icontains=term)
        | Q(outlet__name__unaccent__icontains=term)
    )
