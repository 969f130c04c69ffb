"""Workflows that touch several models or have side effects."""

from django.apps import apps
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

# At most this many referring records are named when a deletion is refused.
NAMED_REFERENCES = 1000


def lost_references(record) -> list:
    """The records that deleting ``record`` would silently change through a many-to-many
    relation (no foreign key to protect them): the reviews citing a source as evidence, the
    statements and claims tagged with a topic."""
    from .models import Source, Topic

    if isinstance(record, Source) and record.pk is not None:
        return list(record.evidence_for.all()[:NAMED_REFERENCES])
    if isinstance(record, Topic) and record.pk is not None:
        return [*record.statements.all()[:NAMED_REFERENCES], *record.claims.all()[:NAMED_REFERENCES]]
    return []


def protect_references(sender, instance, **kwargs) -> None:
    """pre_delete: refuse to delete evidence that many-to-many relations would lose silently
    (the same ProtectedError a PROTECT foreign key raises, so API and admin answer alike)."""
    referring = lost_references(instance)
    if referring:
        raise ProtectedError(f"Cannot delete {instance}: other records refer to it.", set(referring))


def back_to_draft_if_an_editor_changed(record, user, *, changed: bool) -> bool:
    """An editor's change to a published or retracted record takes it back to draft.

    Publishing is a publisher's decision: an edit by someone who may not publish (new wording,
    another verdict, another statement for a claim) is not public until a publisher publishes
    the record again. The status is set on ``record`` (the caller saves it) with the reason the
    history will show. Returns whether it did."""
    from .models import Status
    from .permissions import can_publish

    if not changed or not getattr(record, "is_public", False) or can_publish(user, type(record)):
        return False
    was = record.status
    record.status = Status.DRAFT
    record._change_reason = (
        f"Changed by an editor while {was}: back to draft until a publisher publishes it again"
    )
    return True


def deletion_refused(record) -> str | None:
    """Why ``record`` may not be deleted by a curator (API or admin), or None.

    Published and retracted records were public: they are kept (a retracted one stays visible,
    marked retracted), so that nothing that was public vanishes. Drafts may be deleted."""
    if getattr(record, "is_public", False):
        return (
            f"This {record._meta.verbose_name} is {record.status}: published and retracted records are "
            "kept. Retract it instead (it stays visible, marked retracted)."
        )
    return None


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
