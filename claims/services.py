"""Workflows that touch several models or have side effects."""

from django.apps import apps
from django.db import transaction


@transaction.atomic
def record_missing_history(*, reason: str) -> int:
    """Give every curated record without a history entry its first one.

    Fixtures and bulk loads save rows without history; without a first entry
    the first edit could not be compared with, or undone to, the loaded text.
    Returns how many entries were written.
    """
    written = 0
    for model in apps.get_app_config("claims").get_models():
        history = getattr(model, "history", None)
        if history is None or not hasattr(history, "bulk_history_create"):
            continue
        missing = model._default_manager.exclude(pk__in=history.values("id"))
        written += len(history.bulk_history_create(list(missing), default_change_reason=reason))
    return written
