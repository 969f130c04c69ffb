"""Datasets: every format the archive is exported in and imported from, one module per format.

- ``statements.py``: the statements CSV and JSON Lines, writer and reader;
- ``claims.py``: the claims CSV and JSON Lines (written only);
- ``claimreview.py``: ClaimReview JSON-LD, writer and reader (any fact-checker's feed);
- ``package/``: the Frictionless Data Package (schema, export, checks, load);
- ``reading.py`` and ``streaming.py``: what the readers and the writers share.

Each export format is a ``Format`` (its name, media type, file extension, how it streams and
how it is written), so that the API's views and the commands pick one by name
(``STATEMENT_FORMATS``, ``CLAIM_FORMATS``).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from . import claimreview, claims, statements, streaming


@dataclass(frozen=True)
class Written:
    """An export under way: its chunks, and the rows it reads (those of an export built in
    Python, which the caller starts before answering and closes when the body ends)."""

    chunks: Iterator[Any]
    rows: streaming.ExportRows | None = None


@dataclass(frozen=True)
class Format:
    """One export format of one kind of record."""

    name: str  # as the API's ?format= and the commands name it
    media_type: str
    extension: str
    # "copy": written by PostgreSQL's COPY, its first chunk made before answering; "rows": built
    # in Python from the rows read in chunks, the first chunk of rows read before answering.
    streams: str
    write: Callable[..., Written]


def _claim_records(records: Callable[[Iterable[dict[str, Any]]], Iterator[str]]) -> Callable[..., Written]:
    def write(selected: QuerySet[Any], *, public_only: bool, reviews: QuerySet[Any]) -> Written:
        rows = streaming.iterate(claims.claims_for_export(selected, reviews))
        return Written(records(claims.claim_record(claim, public_only=public_only) for claim in rows), rows)

    return write


def _claimreviews(selected: QuerySet[Any], *, public_only: bool, reviews: QuerySet[Any]) -> Written:
    # One complete ClaimReview per review of the claims selected.
    chosen = reviews.filter(claim__in=selected).order_by("id")
    return Written(claimreview.claimreviews_jsonl(chosen, public_only=public_only))


CSV = ("csv", "text/csv", "csv")
JSONL = ("jsonl", "application/jsonl", "jsonl")
STATEMENT_FORMATS = {
    "csv": Format(
        *CSV, "copy", lambda s, *, public_only: Written(statements.statements_csv(s, public_only=public_only))
    ),
    "jsonl": Format(
        *JSONL,
        "copy",
        lambda s, *, public_only: Written(statements.statements_jsonl(s, public_only=public_only)),
    ),
}
CLAIM_FORMATS = {
    "csv": Format(*CSV, "rows", _claim_records(lambda r: streaming.stream_csv(r, claims.CLAIM_COLUMNS))),
    "jsonl": Format(*JSONL, "rows", _claim_records(streaming.stream_jsonl)),
    "claimreview": Format("claimreview", "application/ld+json", "jsonl", "copy", _claimreviews),
}
