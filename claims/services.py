"""Workflows that touch several models or have side effects."""

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone


@transaction.atomic
def record_missing_history(*, reason: str) -> int:
    """Give every curated record without a history entry its first one.

    Fixtures and bulk loads save rows without history; without a first entry
    the first edit could not be compared with, or undone to, the loaded text.
    One INSERT ... SELECT per model (the same row django-simple-history's
    bulk_history_create would write, without loading the records into Python).
    Returns how many entries were written.
    """
    written = 0
    for model in apps.get_app_config("claims").get_models():
        if _history_model(model) is not None:
            table = _history_model(model)._meta.db_table
            written += _copy_to_history(
                model, "+", reason, f"NOT EXISTS (SELECT 1 FROM {table} h WHERE h.id = m.id)", []
            )
    return written


# In place of the primary keys given to record_history: every record of the table (one
# that a bulk load filled from empty), read whole instead of looked up by a list of keys.
EVERY_ROW = frozenset({"every row"})


@transaction.atomic
def record_history(records: dict, *, reason: str, history_type: str = "~") -> int:
    """A history entry for each record given (model -> primary keys, or EVERY_ROW), as it
    now is: for bulk writes, which save rows without django-simple-history's signals.
    ``history_type`` is "+" for records just created, "~" for records changed."""
    written = 0
    for model, pks in records.items():
        if pks and _history_model(model) is not None:
            if pks is EVERY_ROW:
                written += _copy_to_history(model, history_type, reason, "true", [])
            else:
                written += _copy_to_history(model, history_type, reason, "m.id = ANY(%s)", [sorted(pks)])
    return written


def _history_model(model):
    history = getattr(model, "history", None)
    if history is None or not hasattr(history, "bulk_history_create"):
        return None
    return history.model


def _copy_to_history(model, history_type: str, reason: str, where: str, params: list) -> int:
    """One INSERT ... SELECT: the rows of ``model`` that match ``where`` (alias m) into its history."""
    history_model = _history_model(model)
    # Generated columns (said_until) compute themselves.
    columns = [f.column for f in history_model.tracked_fields if not f.generated]
    names = ", ".join(f'"{c}"' for c in columns)
    copied = ", ".join(f'm."{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {history_model._meta.db_table}
                ({names}, history_date, history_change_reason, history_type, history_user_id)
            SELECT {copied}, %s, %s, %s, NULL FROM {model._meta.db_table} m WHERE {where}
            """,
            [timezone.now(), reason, history_type, *params],
        )
        return cursor.rowcount
