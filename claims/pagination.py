"""Keyset pagination: no COUNT(*), no OFFSET, stable under concurrent writes.

A list is ordered by one of the view's named orderings, each a tuple of sort
keys ending with ``id`` so that the order is total. The ``next`` link carries a
signed cursor holding the last row's key values; the next page is the rows
strictly after them. A cursor made for one ordering is refused for another,
and a forged or damaged cursor is a 400, not a 500.
"""

import base64
import datetime
import json
from collections import OrderedDict
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import cast

from django.core import signing
from django.db.models import Expression, F, Field, Func, Q, Value
from django.db.models.lookups import GreaterThan, LessThan
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param

MAX_PAGE_SIZE = 100
_signer = signing.Signer(salt="claims.pagination.cursor")


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering; ``expression`` must never be NULL."""

    name: str
    descending: bool = False
    expression: Expression | None = None

    def order_by(self):
        ref = F(self.name)
        return ref.desc() if self.descending else ref.asc()


def ordering(*keys: SortKey, tiebreaker: str = "id") -> tuple[SortKey, ...]:
    """An ordering with a unique column as the final tiebreaker, in the last key's direction."""
    return (*keys, SortKey(tiebreaker, descending=keys[-1].descending if keys else True))


def apply_ordering(queryset, keys: tuple[SortKey, ...]):
    annotations = {k.name: k.expression for k in keys if k.expression is not None}
    if annotations:
        queryset = queryset.annotate(**annotations)
    return queryset.order_by(*(k.order_by() for k in keys))


def _encode_value(value):
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


class KeysetPagination(BasePagination):
    page_size_query_param = "page_size"
    cursor_query_param = "cursor"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return cast(int, api_settings.PAGE_SIZE)  # always set (settings.REST_FRAMEWORK)
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Must be a whole number from 1 to {self.max_page_size}."]}
            )
        return size

    def decode_cursor(self, raw: str, ordering_name: str, keys) -> list:
        try:
            payload = json.loads(_signer.unsign(base64.urlsafe_b64decode(raw.encode()).decode()))
            name, values = payload["o"], payload["v"]
        except (ValueError, TypeError, KeyError, signing.BadSignature, UnicodeDecodeError):
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
        if name != ordering_name or not isinstance(values, list) or len(values) != len(keys):
            raise ValidationError(
                {
                    self.cursor_query_param: [
                        "This cursor belongs to another ordering; start again without it."
                    ]
                }
            )
        return values

    def encode_cursor(self, ordering_name: str, row, keys) -> str:
        values = [_encode_value(getattr(row, k.name)) for k in keys]
        signed = _signer.sign(json.dumps({"o": ordering_name, "v": values}, separators=(",", ":")))
        return base64.urlsafe_b64encode(signed.encode()).decode()

    @staticmethod
    def after(keys, values):
        """Rows strictly after ``values`` in the order of ``keys`` (lexicographic).

        When every key runs the same way, this is one row comparison,
        ``(a, b) < (x, y)``, which PostgreSQL answers by seeking in an index
        on ``(a, b)``: a deep page costs what the first one does.
        """
        if len({k.descending for k in keys}) == 1:
            columns = (k.expression if k.expression is not None else F(k.name) for k in keys)
            row = Func(*columns, function="ROW", output_field=Field())
            cursor_row = Func(*(Value(v) for v in values), function="ROW", output_field=Field())
            return LessThan(row, cursor_row) if keys[0].descending else GreaterThan(row, cursor_row)
        clauses = []
        for i, key in enumerate(keys):
            equal = {k.name: v for k, v in zip(keys[:i], values[:i], strict=True)}
            beyond = {f"{key.name}__{'lt' if key.descending else 'gt'}": values[i]}
            clauses.append(Q(**equal, **beyond))
        return reduce(or_, clauses)

    def paginate_queryset(self, queryset, request, view=None):
        # The ordering filter has already annotated and ordered the queryset.
        self.ordering_name, keys = view.get_keyset_ordering(request)
        self.keys = keys
        self.page_size = self.get_page_size(request)
        raw_cursor = request.query_params.get(self.cursor_query_param)
        if raw_cursor:
            values = self.decode_cursor(raw_cursor, self.ordering_name, keys)
            try:
                queryset = queryset.filter(self.after(keys, values))
            except (ValueError, TypeError, signing.BadSignature) as exc:
                raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from exc
        # One row more than the page tells whether there is a next page.
        rows = list(queryset[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        self.request = request
        return self.page

    def get_next_link(self):
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        cursor = self.encode_cursor(self.ordering_name, self.page[-1], self.keys)
        return replace_query_param(url, self.cursor_query_param, cursor)

    def get_first_link(self):
        return remove_query_param(self.request.build_absolute_uri(), self.cursor_query_param)

    def get_paginated_response(self, data):
        return Response(OrderedDict([("next", self.get_next_link()), ("results", data)]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page, or null on the last page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque cursor from a `next` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_page_size} (default {api_settings.PAGE_SIZE}); "
                "other values are refused with a 400.",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
