"""Streaming helpers shared by the formats: COPY ... TO STDOUT streamed from a thread, records
streamed as CSV or JSON Lines, querysets read in chunks."""

import contextlib
import csv
import io
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connections, router
from django.db.models import QuerySet

from .. import models

CHUNK = 2000
# Bytes of COPY output handed on at a time.
COPY_BLOCK = 64 * 1024
# Memory PostgreSQL may use for each sort and hash of a COPY export (its own connection).
EXPORT_WORK_MEM = "256MB"
LIST_SEPARATOR = "; "


def _joined(values: Iterable[Any]) -> str:
    return LIST_SEPARATOR.join(str(v) for v in values if v not in (None, ""))


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, cls=DjangoJSONEncoder, separators=(",", ":"))


# One JSON object per line. COPY's CSV format with a quote and a delimiter
# that JSON text never contains raw (it escapes control characters) writes
# each stored line exactly as PostgreSQL produced it.
JSONL_COPY_OPTIONS = "FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02', ENCODING 'UTF8'"


def selected_ids(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SQL (and its parameters) selecting the ids of a filtered queryset, to embed in a COPY."""
    return queryset.order_by().values("pk").query.sql_with_params()


class _Cancelled(Exception):
    pass


def copy_to_stdout(sql: str, params: Any) -> Iterator[bytes]:
    """Stream the output of ``COPY ... TO STDOUT`` while PostgreSQL writes it, from a read
    replica when the request may read from one (chosen now: the stream runs after the view)."""
    return _copy_stream(sql, params, router.db_for_read(models.Statement))


def _copy_stream(sql: str, params: Any, alias: str) -> Iterator[bytes]:
    """Stream the output of ``COPY ... TO STDOUT`` while PostgreSQL writes it.

    psycopg2 hands COPY output to a file object and returns only at the end;
    so the COPY runs in a thread, on its own connection, writing into a small
    bounded queue that this generator drains: memory stays flat, and a client
    that goes away stops the COPY.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=64)
    cancelled = threading.Event()
    done = object()

    class Sink:
        """Receives COPY's output a row at a time; hands it on in blocks of about 64 kB."""

        def __init__(self) -> None:
            self.rows: list[bytes] = []
            self.size = 0

        def write(self, data: bytes | str) -> None:
            self.rows.append(data if isinstance(data, bytes) else data.encode())
            self.size += len(data)
            if self.size >= COPY_BLOCK:
                self.flush()

        def flush(self) -> None:
            if not self.rows:
                return
            block, self.rows, self.size = b"".join(self.rows), [], 0
            while not cancelled.is_set():
                try:
                    chunks.put(block, timeout=0.5)
                    return
                except queue.Full:
                    continue
            raise _Cancelled

    def run() -> None:
        connection = connections[alias]  # this thread's own connection
        try:
            with connection.cursor() as cursor:
                # One big sort-and-aggregate: in memory, not spilled to disk.
                cursor.execute("SET work_mem = %s", [EXPORT_WORK_MEM])
                # A whole export may take longer than one request's query may (settings).
                cursor.execute("SET statement_timeout = %s", [settings.EXPORT_STATEMENT_TIMEOUT_MS])
                sink = Sink()
                cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params).decode(), sink)
                sink.flush()
        except _Cancelled:
            pass
        except Exception as error:  # handed to the reader, which re-raises it
            chunks.put(error)
        finally:
            connection.close()
            chunks.put(done)

    worker = threading.Thread(target=run, name="copy-to-stdout", daemon=True)
    worker.start()
    try:
        while (chunk := chunks.get()) is not done:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk
    finally:
        cancelled.set()
        while worker.is_alive():  # unblock the writer, then let it finish
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.1)


def stream_csv(records: Iterable[dict[str, Any]], columns: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return data

    writer.writerow(columns)
    yield flush()
    for n, record in enumerate(records, 1):
        writer.writerow([_joined(v) if isinstance(v, list) else v for v in (record[c] for c in columns)])
        if n % 500 == 0:
            yield flush()
    yield flush()


def stream_jsonl(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    batch = []
    for record in records:
        batch.append(_dumps(record))
        if len(batch) == 500:
            yield "\n".join(batch) + "\n"
            batch = []
    if batch:
        yield "\n".join(batch) + "\n"


class ExportRows:
    """Rows in chunks, related rows prefetched per chunk: memory stays flat.

    Read on the request's connection under the exports' time limit
    (``EXPORT_STATEMENT_TIMEOUT_MS``, as the COPY exports on their own connections), not the
    web requests' (``DATABASE_STATEMENT_TIMEOUT_MS``), which would cut a long export short.
    Nothing is read before the first row is asked for; ``close()`` (at the end of the rows, or
    when the response is closed, a reader gone) gives the connection its own limit back."""

    def __init__(self, queryset: QuerySet[Any]):
        self._queryset, self._closed = queryset, False
        self._rows: Iterator[Any] | None = None
        self._first: list[Any] = []

    def start(self) -> None:
        """Read the first chunk now (the view does, so that a database that is down is an
        ordinary error answer, a 503, instead of a body that breaks before its first byte)."""
        if self._rows is not None or self._closed:
            return
        with connections[self._queryset.db].cursor() as cursor:
            cursor.execute("SET statement_timeout = %s", [settings.EXPORT_STATEMENT_TIMEOUT_MS])
        self._rows = self._queryset.iterator(chunk_size=CHUNK)
        self._first = [row for row in [next(self._rows, None)] if row is not None]

    def __iter__(self) -> "ExportRows":
        return self

    def __next__(self) -> Any:
        self.start()
        if self._first:
            return self._first.pop()
        if self._rows is None:  # closed before it started
            raise StopIteration
        try:
            return next(self._rows)
        except StopIteration:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._rows is not None:
            with contextlib.suppress(DatabaseError), connections[self._queryset.db].cursor() as cursor:
                cursor.execute("RESET statement_timeout")


def iterate(queryset: QuerySet[Any]) -> ExportRows:
    return ExportRows(queryset)
