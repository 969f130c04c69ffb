"""History: recording it for bulk writes, and reading it as the API shows it.

django-simple-history records each save of a curated record; bulk writes (fixtures, imports)
save rows without its signals and record their history here, one INSERT ... SELECT per model.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import ManyToManyField, Model
from django.utils import timezone

from . import models


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
def record_history(records: dict[type[Model], Any], *, reason: str, history_type: str = "~") -> int:
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


def _history_model(model: type[Model]) -> Any:
    history = getattr(model, "history", None)
    if history is None or not hasattr(history, "bulk_history_create"):
        return None
    return history.model


def _copy_to_history(
    model: type[Model], history_type: str, reason: str, where: str, params: list[Any]
) -> int:
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
        return int(cursor.rowcount)


# Who changed a record is for curators: the public history shows neither these fields nor names.
CURATOR_ONLY_HISTORY_FIELDS = frozenset({"created_by", "updated_by"})


def changes_between(new: Any, old: Any, *, public: bool = False) -> list[dict[str, Any]]:
    """Field by field, what ``new`` changed from ``old``, in public terms (no internal ids).

    ``public``: for readers who see no drafts, references to records that are not public
    (a claim's draft statement) are shown as null and the audit fields are left out."""
    if old is None:
        return []
    delta = new.diff_against(old, foreign_keys_are_objs=True)
    model = new.instance_type
    changes = []
    for change in delta.changes:
        if public and change.field in CURATOR_ONLY_HISTORY_FIELDS:
            continue
        field = model._meta.get_field(change.field)
        if field.many_to_many:
            old_value, new_value = _m2m_refs(field, change.old), _m2m_refs(field, change.new)
        elif public:
            old_value, new_value = _plain(_if_public(change.old)), _plain(_if_public(change.new))
        else:
            old_value, new_value = _plain(change.old), _plain(change.new)
        changes.append({"field": change.field, "old": old_value, "new": new_value})
    return changes


def _if_public(value: Any) -> Any:
    if isinstance(value, models.StatusMixin) and not value.is_public:
        return None
    return value


def public_authors(versions: list[Any]) -> dict[int, str | None]:
    """What the public history shows as each version's author (``HISTORY_PUBLIC_AUTHOR``)."""
    setting = settings.HISTORY_PUBLIC_AUTHOR
    if setting != "role":
        return {v.history_id: (setting or None) for v in versions}
    user_ids = {v.history_user_id for v in versions if v.history_user_id is not None}
    users = {user.pk: user for user in User.objects.filter(pk__in=user_ids).prefetch_related("groups")}
    return {v.history_id: _role(users.get(v.history_user_id)) for v in versions}


def _role(user: User | None) -> str | None:
    if user is None:
        return None
    if user.is_superuser:
        return "administrator"
    groups = {group.name for group in user.groups.all()}
    if "publishers" in groups:
        return "publisher"
    if "editors" in groups:
        return "editor"
    return "curator"


def _ref(obj: Model) -> str:
    return getattr(obj, "slug", None) or str(getattr(obj, "public_id", obj.pk))


def _m2m_refs(field: ManyToManyField[Any, Any], rows: list[dict[str, Any]] | None) -> list[str]:
    # simple-history gives the through rows as dicts, {"statement": ..., "topic": ...},
    # holding the related objects themselves.
    key = field.m2m_reverse_field_name()
    return sorted(_plain(row[key]) for row in rows or [])


def _plain(value: Any) -> Any:
    if isinstance(value, models.models.Model):
        return _ref(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
