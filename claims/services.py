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
    now = timezone.now()
    with connection.cursor() as cursor:
        for model in apps.get_app_config("claims").get_models():
            history = getattr(model, "history", None)
            if history is None or not hasattr(history, "bulk_history_create"):
                continue
            history_model = history.model
            # Generated columns (said_until) compute themselves.
            columns = [f.column for f in history_model.tracked_fields if not f.generated]
            names = ", ".join(f'"{c}"' for c in columns)
            copied = ", ".join(f'm."{c}"' for c in columns)
            cursor.execute(
                f"""
                INSERT INTO {history_model._meta.db_table}
                    ({names}, history_date, history_change_reason, history_type, history_user_id)
                SELECT {copied}, %s, %s, '+', NULL FROM {model._meta.db_table} m
                WHERE NOT EXISTS (SELECT 1 FROM {history_model._meta.db_table} h WHERE h.id = m.id)
                """,
                [now, reason],
            )
            written += cursor.rowcount
    return written
