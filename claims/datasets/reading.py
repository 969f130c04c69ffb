"""Reading shared by the importers: the errors they report, the report they give, size limits, JSON
that cannot crash the reader, and partial dates."""

import datetime
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from .. import models

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
class Report:
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    rejected: list[str] = field(default_factory=list)
    unmapped_ratings: Counter[tuple[str, str]] = field(default_factory=Counter)
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


def loads(text: str) -> Any:
    """``json.loads``, with nesting too deep to parse reported as the JSON error it is (the
    parser's recursion would otherwise end the import with a traceback)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None


def partial_date(value: Any, problems: list[str], where: str, key: str) -> tuple[datetime.date | None, str]:
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
