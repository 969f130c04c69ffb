"""The claims CSV and JSON Lines: built in Python from the claims read in chunks, reviews prefetched."""

from typing import Any

from django.db.models import Prefetch, QuerySet

from .. import models


def _reduced_date(statement: models.Statement) -> str:
    """ISO 8601 at the date's precision: 2020-01-09, 2020-01 or 2020."""
    if not statement.said_on:
        return ""
    return {
        models.DatePrecision.DAY: statement.said_on.isoformat(),
        models.DatePrecision.MONTH: statement.said_on.strftime("%Y-%m"),
        models.DatePrecision.YEAR: statement.said_on.strftime("%Y"),
    }[models.DatePrecision(statement.said_on_precision)]


CLAIM_COLUMNS = [
    "id",
    "status",
    "text",
    "statement",
    "speakers",
    "said_on",
    "topics",
    "verdicts",
    "reviewers",
    "review_urls",
    "created_at",
    "updated_at",
]


def claims_for_export(queryset: QuerySet[Any], reviews: QuerySet[Any]) -> QuerySet[Any]:
    return queryset.select_related("statement").prefetch_related(
        Prefetch("statement__speaker_roles", models.StatementSpeaker.objects.select_related("speaker")),
        "topics",
        Prefetch("reviews", reviews.select_related("reviewer").order_by("published_on", "id")),
    )


def claim_record(claim: models.Claim, *, public_only: bool = False) -> dict[str, Any]:
    """``public_only``: for readers who see no drafts, a draft statement is no statement."""
    statement = claim.statement
    if public_only and statement is not None and not statement.is_public:
        statement = None
    reviews = list(claim.reviews.all())
    return {
        "id": str(claim.public_id),
        "status": claim.status,
        "text": claim.text,
        "statement": str(statement.public_id) if statement else "",
        "speakers": [r.speaker.slug for r in statement.speaker_roles.all()] if statement else [],
        "said_on": _reduced_date(statement) if statement else "",
        "topics": sorted(t.slug for t in claim.topics.all()),
        "verdicts": [r.verdict for r in reviews],
        "reviewers": [r.reviewer.slug for r in reviews],
        "review_urls": [r.url for r in reviews if r.url],
        "created_at": claim.created_at.isoformat(),
        "updated_at": claim.updated_at.isoformat(),
    }
