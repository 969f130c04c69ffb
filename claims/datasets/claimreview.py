"""ClaimReview (schema.org) JSON-LD: written by PostgreSQL's COPY, one review a line; read from any
fact-checker's feed by ``import_claimreviews``."""

import datetime
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, TypeVar

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils.text import slugify

from .. import models
from ..documents.public import PUBLIC_SQL
from ..documents.statements import said_on_text
from .reading import ImportRejected, Report, loads, partial_date
from .streaming import JSONL_COPY_OPTIONS, copy_to_stdout, selected_ids

SCHEMA_ORG = "https://schema.org"
WIKIDATA = re.compile(r"^https?://(?:www\.)?wikidata\.org/(?:wiki|entity)/(Q[1-9][0-9]*)$")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _creative_work(source: str, outlet: str) -> str:
    """A source as a schema.org CreativeWork; untitled ones are named as Source.__str__ names them."""
    kinds = " ".join(
        f"WHEN {_sql_text(value)} THEN {_sql_text(str(label))}" for value, label in models.SourceKind.choices
    )
    label = (
        f"(CASE {source}.kind {kinds} ELSE {source}.kind END"
        f" || coalesce(' by ' || {outlet}.name, '')"
        f" || coalesce(', ' || to_char({source}.published_on, 'DD FMMonth YYYY'), ''))"
    )
    return f"""json_build_object(
        '@type', 'CreativeWork', 'url', NULLIF({source}.url, ''), 'headline', NULLIF({source}.title, ''),
        'name', CASE WHEN {source}.title = '' THEN {label} END, 'datePublished', {source}.published_on,
        'publisher', CASE WHEN {outlet}.id IS NOT NULL THEN json_build_object('@type', 'Organization', 'name', {outlet}.name) END)"""


def claimreview_sql(ids_sql: str, *, public_only: bool = False) -> str:
    """One row per review (``ids_sql`` selects their ids): its schema.org ClaimReview as JSON text.

    Google's fact-check markup: the reviewer as author, the rating on the
    reviewer's own scale (no numbers when it has none, never constants), and
    the claim with its speakers (``sameAs`` Wikidata when known), when it was
    made (at its precision, not when it was checked), and where it appeared.
    Fields without a value are left out (``json_strip_nulls``). Speakers and
    sources are aggregated per statement set-based, not looked up per review.
    ``public_only`` (readers who see no drafts): a claim's draft statement is left out,
    with its speakers, date and appearances.
    """
    work = _creative_work("so", "po")
    statement_id = (
        f"(SELECT cs.id FROM claims_statement cs WHERE cs.id = c.statement_id AND cs.status IN {PUBLIC_SQL})"
        if public_only
        else "c.statement_id"
    )
    return f"""
    WITH selected AS MATERIALIZED (
        SELECT r.id, r.public_id, r.rating_text, r.rating_value, r.best_rating, r.worst_rating, r.url,
               r.published_on, r.summary, r.reviewer_id, c.text AS claim_text, {statement_id} AS statement_id
        FROM claims_review r JOIN claims_claim c ON c.id = r.claim_id
        WHERE r.id IN ({ids_sql})
    ), authors AS (
        SELECT ss.statement_id, json_agg(json_build_object(
                '@type', CASE WHEN sp.kind = 'person' THEN 'Person' ELSE 'Organization' END,
                'name', sp.name, 'sameAs', 'https://www.wikidata.org/wiki/' || NULLIF(sp.wikidata_qid, ''))
                ORDER BY ss.position, ss.id) AS authors
        FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id
        WHERE ss.statement_id IN (SELECT statement_id FROM selected) AND ss.role IN ('speaker', 'co_signatory')
        GROUP BY 1
    ), works AS (
        SELECT a.statement_id, json_agg({work} ORDER BY a.is_first DESC, a.id) AS works,
               (array_agg({work} ORDER BY a.id) FILTER (WHERE a.is_first))[1] AS first
        FROM claims_appearance a JOIN claims_source so ON so.id = a.source_id
        LEFT JOIN claims_outlet po ON po.id = so.outlet_id
        WHERE a.statement_id IN (SELECT statement_id FROM selected)
        GROUP BY 1
    )
    SELECT json_strip_nulls(json_build_object(
        '@context', {_sql_text(SCHEMA_ORG)}, '@type', 'ClaimReview', 'identifier', r.public_id,
        'claimReviewed', r.claim_text,
        'author', json_build_object('@type', 'Organization', 'name', o.name, 'url', NULLIF(o.homepage, '')),
        'reviewRating', json_build_object(
            '@type', 'Rating', 'alternateName', r.rating_text, 'ratingValue', trim_scale(r.rating_value),
            'bestRating', trim_scale(r.best_rating), 'worstRating', trim_scale(r.worst_rating)),
        'itemReviewed', json_build_object(
            '@type', 'Claim', 'author', au.authors, 'datePublished', NULLIF({said_on_text("st")}, ''),
            'appearance', w.works, 'firstAppearance', w.first),
        'url', NULLIF(r.url, ''), 'datePublished', r.published_on, 'reviewBody', NULLIF(r.summary, '')))
    FROM selected r
    JOIN claims_outlet o ON o.id = r.reviewer_id
    LEFT JOIN claims_statement st ON st.id = r.statement_id
    LEFT JOIN authors au ON au.statement_id = r.statement_id
    LEFT JOIN works w ON w.statement_id = r.statement_id
    ORDER BY r.id
    """


def _claimreviews_copy(reviews: QuerySet[Any], *, public_only: bool = False) -> tuple[str, tuple[Any, ...]]:
    ids_sql, params = selected_ids(reviews)
    sql = claimreview_sql(ids_sql, public_only=public_only)
    return f"COPY ({sql}) TO STDOUT WITH ({JSONL_COPY_OPTIONS})", params


def claimreviews_jsonl(reviews: QuerySet[Any], *, public_only: bool = False) -> Iterator[bytes]:
    """The reviews as ClaimReview JSON Lines, built by PostgreSQL and streamed as it comes."""
    return copy_to_stdout(*_claimreviews_copy(reviews, public_only=public_only))


def write_claimreviews(reviews: QuerySet[Any], file: BinaryIO) -> None:
    """The reviews as ClaimReview JSON Lines into a binary file, on this connection (and transaction)."""
    sql, params = _claimreviews_copy(reviews)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params).decode(), file)


def claimreview(review: models.Review, *, public_only: bool = False) -> dict[str, Any]:
    """One review as a ClaimReview object."""
    with connection.cursor() as cursor:
        cursor.execute(claimreview_sql("%s", public_only=public_only), [review.pk])
        found: dict[str, Any] = cursor.fetchone()[0]  # psycopg2 parses JSON
        return found


@dataclass
class Author:
    name: str
    person: bool
    qid: str = ""


@dataclass
class Work:
    url: str = ""
    title: str = ""
    first: bool = False


@dataclass
class Record:
    """One validated ClaimReview."""

    number: int
    claim_text: str
    reviewer_name: str
    reviewer_url: str
    rating_text: str
    rating_value: Decimal | None
    best_rating: Decimal | None
    worst_rating: Decimal | None
    url: str
    published_on: datetime.date | None
    summary: str
    authors: list[Author] = field(default_factory=list)
    said_on: datetime.date | None = None
    precision: str = models.DatePrecision.DAY
    appearances: list[Work] = field(default_factory=list)


def read_items(text: str) -> list[tuple[int, object]]:
    """(record number, item) pairs from an object, an array, an @graph, or JSON Lines."""
    try:
        data = loads(text)
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise ImportRejected(
                [f"Not JSON: {whole_error.msg} (line {whole_error.lineno}, column {whole_error.colno})."]
            ) from None
        items, problems = [], []
        for n, line in lines:
            try:
                items.append((n, loads(line)))
            except json.JSONDecodeError as error:
                problems.append(f"line {n}: not JSON ({error.msg}, column {error.colno})")
        if problems:
            raise ImportRejected(problems) from None
        return items
    if isinstance(data, dict) and isinstance(data.get("@graph"), list):
        return [(n, item) for n, item in enumerate(data["@graph"], 1) if _type(item) == "ClaimReview"]
    if isinstance(data, dict):
        return [(1, data)]
    if isinstance(data, list):
        return list(enumerate(data, 1))
    raise ImportRejected(["Expected a ClaimReview object, an array of them, an @graph, or JSON Lines."])


def _type(item: Any) -> str:
    value = item.get("@type") if isinstance(item, dict) else None
    return value[0] if isinstance(value, list) and value else value or ""


def _one(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _text(
    item: Any, key: str, problems: list[str], where: str, *, required: bool = False, limit: int = 20_000
) -> str:
    value = item.get(key)
    if value is None or value == "":
        if required:
            problems.append(f"{where}: {key} is missing")
        return ""
    if not isinstance(value, str):
        problems.append(f"{where}: {key} must be text")
        return ""
    if "\x00" in value:
        problems.append(f"{where}: {key} contains a NUL character")
        return ""
    if len(value) > limit:
        problems.append(f"{where}: {key} is longer than {limit} characters")
        return ""
    return value.strip()


def _url(item: Any, key: str, problems: list[str], where: str) -> str:
    value = _text(item, key, problems, where, limit=2000)
    if value and not re.match(r"^https?://[^\s]+$", value):
        problems.append(f"{where}: {key} is not an http(s) URL: {value[:80]!r}")
        return ""
    return value


def _number(rating: Any, key: str, problems: list[str], where: str) -> Decimal | None:
    value = rating.get(key)
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{where}: reviewRating.{key} is not a number: {value!r}")
        return None
    if not number.is_finite() or abs(number) >= 10_000:
        problems.append(f"{where}: reviewRating.{key} is out of range: {value!r}")
        return None
    return number


def parse(number: int, item: Any) -> tuple[Record | None, list[str]]:
    where = f"record {number}"
    problems: list[str] = []
    if not isinstance(item, dict):
        return None, [f"{where}: expected a JSON object"]
    if _type(item) != "ClaimReview":
        return None, [f"{where}: @type is {_type(item)!r}, not 'ClaimReview'"]
    claim_text = _text(item, "claimReviewed", problems, where, required=True)
    author = _one(item.get("author"))
    if not isinstance(author, dict) or not author.get("name"):
        problems.append(f"{where}: author (the fact-checker) needs a name")
        author = {}
    reviewer_name = _text(author, "name", problems, f"{where}: author", limit=200)
    reviewer_url = _url(author, "url", problems, f"{where}: author") if author else ""
    rating = _one(item.get("reviewRating"))
    if not isinstance(rating, dict):
        problems.append(f"{where}: reviewRating is missing")
        rating = {}
    rating_text = _text(
        rating, "alternateName", problems, f"{where}: reviewRating", required=bool(rating), limit=100
    )
    value, best, worst = (
        _number(rating, k, problems, where) for k in ("ratingValue", "bestRating", "worstRating")
    )
    if value is not None and (best is None or worst is None):
        problems.append(f"{where}: reviewRating has a ratingValue but not both bestRating and worstRating")
    elif (
        value is not None
        and best is not None
        and worst is not None
        and not min(best, worst) <= value <= max(best, worst)
    ):
        problems.append(f"{where}: reviewRating.ratingValue {value} lies outside {worst}–{best}")
    published_on, _ = partial_date(item.get("datePublished"), problems, where, "datePublished")
    record = Record(
        number=number,
        claim_text=" ".join(claim_text.split()),
        reviewer_name=reviewer_name,
        reviewer_url=reviewer_url,
        rating_text=rating_text,
        rating_value=value,
        best_rating=best,
        worst_rating=worst,
        url=_url(item, "url", problems, where),
        published_on=published_on,
        summary=_text(item, "reviewBody", problems, where),
    )
    claim = _one(item.get("itemReviewed"))
    if isinstance(claim, dict):
        for speaker in _list(claim.get("author")):
            if (
                not isinstance(speaker, dict)
                or not isinstance(speaker.get("name"), str)
                or not speaker["name"].strip()
            ):
                problems.append(f"{where}: itemReviewed.author needs a name")
                continue
            qid = ""
            for same_as in _list(speaker.get("sameAs")):
                found = WIKIDATA.match(same_as) if isinstance(same_as, str) else None
                qid = found.group(1) if found else qid
            record.authors.append(
                Author(name=speaker["name"].strip()[:200], person=_type(speaker) != "Organization", qid=qid)
            )
        record.said_on, record.precision = partial_date(
            claim.get("datePublished"), problems, where, "itemReviewed.datePublished"
        )
        first = _one(claim.get("firstAppearance"))
        first_url = first.get("url") if isinstance(first, dict) else None
        works = _list(claim.get("appearance")) + ([first] if isinstance(first, dict) else [])
        seen = set()
        for work in works:
            if not isinstance(work, dict):
                continue
            url = _url(work, "url", problems, f"{where}: appearance")
            title = _text(work, "headline", problems, f"{where}: appearance", limit=500) or _text(
                work, "name", problems, f"{where}: appearance", limit=500
            )
            key = url or title
            if key and key not in seen:
                seen.add(key)
                record.appearances.append(Work(url=url, title=title, first=bool(url) and url == first_url))
    return (None if problems else record), problems


# ---------------------------------------------------------------- writing


def verdict_for(reviewer: models.Outlet, rating_text: str) -> str | None:
    rating = models.RatingMapping.normalise(rating_text)
    mapping = (
        models.RatingMapping.objects.filter(Q(reviewer=reviewer) | Q(reviewer__isnull=True), rating=rating)
        .order_by("reviewer_id")  # the reviewer's own mapping (non-null) before the default
        .values_list("verdict", flat=True)
        .first()
    )
    return mapping


def _unique_slug(model: type[models.Speaker] | type[models.Outlet], name: str) -> str:
    base = slugify(name)[:180] or "imported"
    slug, n = base, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


HISTORY_REASON = "Imported from ClaimReview"


M = TypeVar("M", bound=models.Curated)


class Writer:
    def __init__(self, *, status: str, user: Any, report: Report, update_existing: bool = False) -> None:
        self.status, self.user, self.report = status, user, report
        self.update_existing = update_existing

    def save(self, obj: M, kind: str, fields: dict[str, Any], *, where: str = "") -> M:
        """Create ``obj``, or update the fields that differ when ``update_existing`` (else keep
        it as it is and say so); count which. Every write is in the history, by ``user``."""
        obj._history_user, obj._change_reason = self.user, HISTORY_REASON
        if obj.pk is None:
            for key, value in fields.items():
                setattr(obj, key, value)
            obj.created_by = obj.updated_by = self.user
            obj.full_clean()
            obj.save()
            self.report.created[kind] += 1
            return obj
        changed = [k for k, v in fields.items() if getattr(obj, k) != v]
        if changed and not self.update_existing:
            self.report.kept.append(
                f"{where}: {kind[:-1]} {obj.public_id} differs in {', '.join(changed)}: kept as it is "
                "(--update-existing applies the file's values)"
            )
            self.report.unchanged[kind] += 1
        elif changed:
            if getattr(obj, "is_public", False):
                self.report.changed_public.append(
                    f"{where}: {getattr(obj, 'status', '')} {kind[:-1]} {obj.public_id}: {', '.join(changed)} changed"
                )
            for key in changed:
                setattr(obj, key, fields[key])
            obj.updated_by = self.user
            obj.full_clean()
            obj.save()
            self.report.updated[kind] += 1
        else:
            self.report.unchanged[kind] += 1
        return obj

    def reviewer(self, record: Record) -> models.Outlet:
        """The fact-checker by its homepage; by name only when no homepage says otherwise (a
        namesake with another homepage is another organisation)."""
        outlet = None
        named = models.Outlet.objects.filter(name__iexact=record.reviewer_name)
        if record.reviewer_url:
            bare = record.reviewer_url.rstrip("/")
            outlet = models.Outlet.objects.filter(homepage__in=[bare, bare + "/"]).first()
            named = named.filter(homepage="")
        outlet = outlet or named.first()
        if outlet is not None:
            if outlet.kind != models.OutletKind.FACT_CHECKER:
                raise ImportRejected(
                    [f"record {record.number}: {outlet.name!r} is in the archive, but not as a fact-checker"]
                )
            self.report.unchanged["outlets"] += 1
            return outlet
        return self.save(
            models.Outlet(),
            "outlets",
            {
                "name": record.reviewer_name,
                "slug": _unique_slug(models.Outlet, record.reviewer_name),
                "kind": models.OutletKind.FACT_CHECKER,
                "homepage": record.reviewer_url,
            },
        )

    def speaker(self, author: Author) -> models.Speaker:
        found = models.Speaker.objects.filter(wikidata_qid=author.qid).first() if author.qid else None
        found = (
            found
            or models.Speaker.objects.filter(
                Q(name__iexact=author.name) | Q(aliases__contains=[author.name])
            ).first()
        )
        if found is not None:
            self.report.unchanged["speakers"] += 1
            return found
        kind = models.SpeakerKind.PERSON if author.person else models.SpeakerKind.ORGANISATION
        return self.save(
            models.Speaker(),
            "speakers",
            {
                "name": author.name,
                "slug": _unique_slug(models.Speaker, author.name),
                "kind": kind,
                "wikidata_qid": author.qid,
            },
        )

    def source(self, work: Work) -> models.Source:
        found = models.Source.objects.filter(url=work.url).first() if work.url else None
        found = found or (
            models.Source.objects.filter(url="", title=work.title).first() if not work.url else None
        )
        if found is not None:
            self.report.unchanged["sources"] += 1
            return found
        return self.save(
            models.Source(),
            "sources",
            {"url": work.url, "title": work.title, "kind": models.SourceKind.ARTICLE},
        )

    def statement(self, record: Record, claim: models.Claim | None) -> models.Statement | None:
        if claim is not None and claim.statement_id:
            return claim.statement
        if not (record.authors or record.said_on or record.appearances):
            return None
        statement = self.save(
            models.Statement(),
            "statements",
            {
                "text": record.claim_text,
                "text_type": models.TextType.PARAPHRASE,
                "said_on": record.said_on,
                "said_on_precision": record.precision,
                "status": self.status,
            },
        )
        for position, author in enumerate(record.authors):
            models.StatementSpeaker.objects.get_or_create(
                statement=statement,
                speaker=self.speaker(author),
                role=models.SpeakerRole.SPEAKER,
                defaults={"position": position},
            )
        for work in record.appearances:
            source = self.source(work)
            if not models.Appearance.objects.filter(statement=statement, source=source).exists():
                self.save(
                    models.Appearance(statement=statement, source=source),
                    "appearances",
                    {"is_first": work.first},
                )
        return statement

    def review(self, record: Record) -> None:
        reviewer = self.reviewer(record)
        claim = models.Claim.objects.filter(text=record.claim_text).order_by("id").first()
        statement = self.statement(record, claim)
        if claim is None:
            claim = self.save(
                models.Claim(status=self.status),
                "claims",
                {"text": record.claim_text, "statement": statement},
            )
        else:
            self.report.unchanged["claims"] += 1
        verdict = verdict_for(reviewer, record.rating_text)
        if verdict is None:
            self.report.unmapped_ratings[(reviewer.name, record.rating_text)] += 1
            verdict = models.Verdict.OTHER
        review = None
        if record.url:
            review = models.Review.objects.filter(url=record.url).select_related("reviewer").first()
            if review is not None and review.reviewer_id != reviewer.pk:
                # Matched by URL alone, a feed could rewrite another fact-checker's review.
                raise ImportRejected(
                    [
                        f"record {record.number}: {record.url} is a review by {review.reviewer.name} in the "
                        f"archive, not by {reviewer.name}: not changed"
                    ]
                )
        review = (
            review
            or models.Review.objects.filter(
                claim=claim, reviewer=reviewer, rating_text=record.rating_text, url=record.url
            ).first()
        )
        self.save(
            review or models.Review(status=self.status),
            "reviews",
            {
                "claim": claim,
                "reviewer": reviewer,
                "rating_text": record.rating_text,
                "rating_value": record.rating_value,
                "best_rating": record.best_rating,
                "worst_rating": record.worst_rating,
                "verdict": verdict,
                "summary": record.summary,
                "url": record.url,
                "published_on": record.published_on,
            },
            where=f"record {record.number}",
        )


def import_claimreviews(
    *,
    text: str,
    status: str = models.Status.DRAFT,
    skip_invalid: bool = False,
    user: Any = None,
    progress: Callable[[list[Record]], Iterable[Record]] | None = None,
    update_existing: bool = False,
) -> Report:
    """Validate every record, then write them all in one transaction (or nothing).

    An existing review is matched by URL and reviewer (a review at that URL by another
    fact-checker refuses the record) and changed only with ``update_existing``; every write
    is recorded in the history with ``user``."""
    report = Report()
    records: list[Record] = []
    for number, item in read_items(text):
        record, problems = parse(number, item)
        if problems or record is None:
            report.rejected.extend(problems)
        else:
            records.append(record)
    if report.rejected and not skip_invalid:
        raise ImportRejected(report.rejected)
    writer = Writer(status=status, user=user, report=report, update_existing=update_existing)
    refused: list[str] = []
    with transaction.atomic():
        for record in progress(records) if progress else records:
            try:
                with transaction.atomic():  # a refused record leaves nothing of itself
                    writer.review(record)
            except ImportRejected as rejected:
                (report.rejected if skip_invalid else refused).extend(rejected.problems)
        if refused:
            raise ImportRejected(refused)
    return report
