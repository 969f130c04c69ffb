"""Reading ClaimReview JSON-LD from any fact-checker into the archive.

Two passes: every record is parsed and validated first (each problem reported
with its record or line number and field); only then is anything written, in
one transaction. Records are matched to what the archive already holds —
reviews by URL, reviewers by homepage or name, speakers by Wikidata QID, name
or alias, claims by their exact text, sources by URL — so importing the same
file twice changes nothing.
"""

import csv
import datetime
import io
import json
import re
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from . import models, services
from .serializers import StatementWriteSerializer

WIKIDATA = re.compile(r"^https?://(?:www\.)?wikidata\.org/(?:wiki|entity)/(Q[1-9][0-9]*)$")
PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class ImportRejected(Exception):
    """The file cannot be imported; ``problems`` says where and why."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def check_size(path: Path) -> None:
    """Refuse a file larger than IMPORT_MAX_BYTES before reading any of it."""
    size, limit = path.stat().st_size, settings.IMPORT_MAX_BYTES
    if size > limit:
        raise ImportRejected(
            [
                f"{path.name}: {size:,} bytes, more than the {limit:,} an import reads (IMPORT_MAX_BYTES); split it"
            ]
        )


def read_import_file(file: str) -> str:
    """The text of an import file, or of standard input for "-": UTF-8, at most IMPORT_MAX_BYTES."""
    if file != "-":
        path = Path(file)
        check_size(path)
        return path.read_text(encoding="utf-8")
    text = sys.stdin.read(settings.IMPORT_MAX_BYTES + 1)
    if len(text) > settings.IMPORT_MAX_BYTES:
        raise ImportRejected(
            [f"standard input: more than the {settings.IMPORT_MAX_BYTES:,} bytes an import reads"]
        )
    return text


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


@dataclass
class Report:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    rejected: list[str] = field(default_factory=list)
    unmapped_ratings: Counter = field(default_factory=Counter)
    # Existing records the file would change: kept as they are (without --update-existing), or
    # changed, each with what changed (published ones are named so a curator can check them).
    kept: list[str] = field(default_factory=list)
    changed_public: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """One line per kind of record: how many were created, updated, left unchanged."""
        kinds = sorted(set(self.created) | set(self.updated) | set(self.unchanged))
        return [
            f"{kind}: {self.created[kind]} created, {self.updated[kind]} updated, {self.unchanged[kind]} unchanged"
            for kind in kinds
        ]


# ---------------------------------------------------------------- reading


def loads(text: str):
    """``json.loads``, with nesting too deep to parse reported as the JSON error it is (the
    parser's recursion would otherwise end the import with a traceback)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


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


def _type(item) -> str:
    value = item.get("@type") if isinstance(item, dict) else None
    return value[0] if isinstance(value, list) and value else value or ""


def _one(value):
    return value[0] if isinstance(value, list) and value else value


def _list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _text(item, key, problems, where, *, required=False, limit=20_000) -> str:
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


def _url(item, key, problems, where) -> str:
    value = _text(item, key, problems, where, limit=2000)
    if value and not re.match(r"^https?://[^\s]+$", value):
        problems.append(f"{where}: {key} is not an http(s) URL: {value[:80]!r}")
        return ""
    return value


def _number(rating, key, problems, where) -> Decimal | None:
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


def _date(value, problems, where, key) -> tuple[datetime.date | None, str]:
    """A full or reduced ISO 8601 date (2020-01-09, 2020-01, 2020) and its precision."""
    if value in (None, ""):
        return None, models.DatePrecision.DAY
    match = PARTIAL_DATE.match(value) if isinstance(value, str) else None
    try:
        if not match:
            raise ValueError
        year, month, day = match.groups()
        date = datetime.date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        problems.append(f"{where}: {key} is not a date: {value!r}")
        return None, models.DatePrecision.DAY
    if date > datetime.date.today() + models.FUTURE_TOLERANCE:
        problems.append(f"{where}: {key} is in the future: {value!r}")
        return None, models.DatePrecision.DAY
    precision = (
        models.DatePrecision.DAY
        if day
        else models.DatePrecision.MONTH
        if month
        else models.DatePrecision.YEAR
    )
    return date, precision


def parse(number: int, item) -> tuple[Record | None, list[str]]:
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
    published_on, _ = _date(item.get("datePublished"), problems, where, "datePublished")
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
        record.said_on, record.precision = _date(
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


def _unique_slug(model, name: str) -> str:
    base = slugify(name)[:180] or "imported"
    slug, n = base, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


HISTORY_REASON = "Imported from ClaimReview"


M = TypeVar("M", bound=models.Curated)


class Writer:
    def __init__(self, *, status: str, user, report: Report, update_existing: bool = False):
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
    user=None,
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


# ---------------------------------------------------------------- statements CSV / JSON Lines


def read_statement_rows(text: str) -> list[tuple[int, dict]]:
    """(line number, record) from the statements JSON Lines or CSV that the API exports."""
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("["):
        try:
            loads(text)
        except json.JSONDecodeError as error:
            raise ImportRejected(
                [f"line {error.lineno}: not JSON ({error.msg}, column {error.colno})"]
            ) from None
        raise ImportRejected(
            ["A JSON array: the statements import reads JSON Lines (one object a line) or CSV."]
        )
    if lines and lines[0].lstrip().startswith("{"):
        rows, problems = [], []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"line {n}: not JSON ({error.msg}, column {error.colno})")
                continue
            if not isinstance(record, dict):
                problems.append(f"line {n}: expected a JSON object")
                continue
            rows.append((n, record))
        if problems:
            raise ImportRejected(problems)
        return rows
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise ImportRejected([f"line 1: not JSON Lines, nor CSV as the export writes it ({error})"]) from None
    if not header or "text" not in header:
        raise ImportRejected(
            ["Expected the statements JSON Lines or CSV export (a header with a text column)."]
        )
    rows = []
    try:
        for n, row in enumerate(reader, 2):
            rows.append((n, _csv_record(row)))
    except csv.Error as error:
        raise ImportRejected([f"line {reader.line_num}: not CSV as the export writes it ({error})"]) from None
    return rows


def _csv_record(row: dict) -> dict:
    """A CSV row as the record a JSON Lines line gives."""
    record = dict(row)
    for column in ("speakers", "speaker_roles", "topics", "source_urls", "responds_to"):
        record[column] = [v for v in (record.get(column) or "").split("; ") if v]
    # CSV quotes cannot be paired with their sources: a new statement gets its appearances
    # from the URLs; an existing one keeps its appearances as they are.
    record["appearances"] = None
    return record


def _statement_data(record: dict, problems: list[str], where: str, *, new: bool) -> dict:
    said_on, precision = _date(record.get("said_on") or None, problems, where, "said_on")
    speakers = record.get("speakers") or []
    roles = record.get("speaker_roles") or []
    if roles and len(roles) != len(speakers):
        problems.append(f"{where}: speaker_roles has {len(roles)} entries for {len(speakers)} speakers")
    data = {
        key: record.get(key) or ""
        for key in (
            "status",
            "text",
            "text_type",
            "original_text",
            "original_language",
            "language",
            "place",
            "context",
        )
    }
    data = {
        k: v
        for k, v in data.items()
        if v != "" or k in ("original_text", "original_language", "place", "context")
    }
    data["said_on"] = said_on
    data["said_on_precision"] = record.get("said_on_precision") or precision
    data["speakers"] = [
        {"speaker": slug, **({"role": roles[i]} if i < len(roles) else {})} for i, slug in enumerate(speakers)
    ]
    data["topics"] = list(record.get("topics") or [])
    given = record.get("appearances")
    if given is None and not new:
        return data  # appearances left alone
    if given is None:
        given = [{"url": url} for url in record.get("source_urls") or []]
    appearances = []
    for appearance in given:
        source = appearance.get("source")
        url = appearance.get("url") or ""
        if not source and url:
            found = models.Source.objects.filter(url=url).values_list("public_id", flat=True).first()
            source = str(found) if found else None
            if source is None:
                problems.append(f"{where}: no source with URL {url!r} (import or log the source first)")
                continue
        appearances.append(
            {
                "source": source,
                "quote": appearance.get("quote") or "",
                "is_first": bool(appearance.get("is_first")),
            }
        )
    data["appearances"] = appearances
    return data


def _differs(statement: models.Statement, data: dict) -> bool:
    """Whether importing ``data`` would change the statement or its speakers, topics or appearances."""
    relations = ("speakers", "topics", "appearances", "links")
    if any(getattr(statement, k) != v for k, v in data.items() if k not in relations):
        return True
    speakers = [(r["speaker"].pk, r["role"]) for r in data.get("speakers", [])]
    if speakers != [(r.speaker_id, r.role) for r in statement.speaker_roles.order_by("position", "id")]:
        return True
    if {t.pk for t in data.get("topics", [])} != set(statement.topics.values_list("pk", flat=True)):
        return True
    if "appearances" not in data:
        return False
    appearances = {(a["source"].pk, a["quote"], a["is_first"]) for a in data["appearances"]}
    return appearances != set(statement.appearances.values_list("source_id", "quote", "is_first"))


def import_statements(*, text: str, progress=None) -> Report:
    """The statements export read back: validated first, matched by public id, all or nothing.

    Speakers, topics and sources must already exist (a Data Package carries
    them all); links (``responds_to``) may point to statements later in the file.
    """
    report = Report()
    problems: list[str] = []
    prepared = []
    ids_in_file: dict[str, int] = {}  # id: the line it is first on
    for line, record in read_statement_rows(text):
        where = f"line {line}"
        public_id = record.get("id") or None
        if public_id:
            try:
                public_id = str(uuid.UUID(str(public_id)))
            except ValueError:
                problems.append(f"{where}: id {public_id!r} is not a UUID")
                continue
            if public_id in ids_in_file:
                problems.append(
                    f"{where}: id {public_id} appears twice (first on line {ids_in_file[public_id]})"
                )
                continue
            ids_in_file[public_id] = line
        existing = models.Statement.objects.filter(public_id=public_id).first() if public_id else None
        data = _statement_data(record, problems, where, new=existing is None)
        serializer = StatementWriteSerializer(instance=existing, data=data, context={"operator": True})
        if not serializer.is_valid():
            for field_name, messages in serializer.errors.items():
                problems.append(f"{where}: {field_name}: {messages}")
            continue
        prepared.append((line, public_id, existing, serializer, list(record.get("responds_to") or [])))
    for line, _, _, _, targets in prepared:
        for target in targets:
            if target not in ids_in_file and not models.Statement.objects.filter(public_id=target).exists():
                problems.append(
                    f"line {line}: responds_to {target} is neither in the file nor in the archive"
                )
    if problems:
        raise ImportRejected(problems)
    with transaction.atomic():
        saved = {}
        for line, public_id, existing, serializer, _ in progress(prepared) if progress else prepared:
            if existing is None:
                saved[line] = serializer.save(**({"public_id": public_id} if public_id else {}))
                report.created["statements"] += 1
            elif _differs(existing, serializer.validated_data):
                saved[line] = serializer.save()
                report.updated["statements"] += 1
            else:  # not saved: its updated_at and history stay as they are
                saved[line] = existing
                report.unchanged["statements"] += 1
        for line, _, _, _, targets in prepared:
            statement = saved[line]
            links = [{"type": models.LinkType.RESPONDS_TO, "statement": t, "note": ""} for t in targets]
            kept = [
                {"type": link.type, "statement": str(link.to_statement.public_id), "note": link.note}
                for link in statement.outgoing_links.exclude(type=models.LinkType.RESPONDS_TO).select_related(
                    "to_statement"
                )
            ]
            writer = StatementWriteSerializer(
                statement, data={"links": kept + links}, partial=True, context={"operator": True}
            )
            writer.is_valid(raise_exception=True)
            services.replace_statement_relations(
                statement=statement, user=None, links=writer.validated_data["links"]
            )
    return report
