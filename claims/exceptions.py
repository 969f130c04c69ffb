"""One JSON error shape for every failure (drf-standardized-errors), plus the
database errors that bad or conflicting input can still reach."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from drf_standardized_errors.handler import ExceptionHandler as StandardExceptionHandler
from psycopg2.errors import QueryCanceled
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.serializers import as_serializer_error


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class DatabaseUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "The database is unavailable at the moment; the request was not carried out. Try again shortly."
    )
    default_code = "database_unavailable"
    wait = 5  # seconds, sent as Retry-After


class QueryTimeout(APIException):
    """A request's query ran past ``DATABASE_STATEMENT_TIMEOUT_MS`` and was cancelled."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "The request took too long and was stopped; nothing was changed. "
        "Narrow it (more filters, a smaller page) or try again shortly."
    )
    default_code = "query_timeout"
    wait = 5  # seconds, sent as Retry-After


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This conflicts with the current state of the record."
    default_code = "conflict"


class PreconditionRequired(APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = (
        "Send an If-Match header with the ETag from your last read of this record, "
        "so that you cannot overwrite someone else's change."
    )
    default_code = "precondition_required"


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it (its ETag no longer matches): read it again and reapply your change."
    default_code = "precondition_failed"


def describe_references(protected_objects) -> str:
    counts: dict[str, int] = {}
    for obj in protected_objects:
        meta = obj._meta
        counts[meta.verbose_name_plural] = counts.get(meta.verbose_name_plural, 0) + 1
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


class ExceptionHandler(StandardExceptionHandler):
    """drf-standardized-errors' handler, knowing the database errors input can still reach."""

    def convert_known_exceptions(self, exc):
        if isinstance(exc, ProtectedError | RestrictedError):
            objects = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", [])
            return Conflict(
                f"Cannot delete: still referenced by {describe_references(objects)}. "
                "Evidence is kept; retract it instead, or remove the references first."
            )
        if isinstance(exc, OperationalError) and isinstance(exc.__cause__, QueryCanceled):
            # statement_timeout: bounded work per request (settings.DATABASE_STATEMENT_TIMEOUT_MS).
            return QueryTimeout()
        if isinstance(exc, OperationalError | InterfaceError):
            # The database is down or restarting: a clear 503, and the transaction rolled back.
            return DatabaseUnavailable()
        if isinstance(exc, DataError):
            # A value that passed validation but not the database's range (an extreme date, say).
            reason = str(exc).splitlines()[0]
            return ParseError(f"A value in the request is outside what can be stored or compared: {reason}.")
        if isinstance(exc, IntegrityError):
            # Validation runs first, so this is a race with another write.
            return Conflict(
                "Another change to the same data was saved at the same time; read it again and retry."
            )
        if isinstance(exc, RequestDataTooBig):
            return PayloadTooLarge(
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
            )
        if isinstance(exc, DjangoValidationError):
            return ValidationError(as_serializer_error(exc))
        return super().convert_known_exceptions(exc)
