"""Workflows: writes that touch several records or follow rules of their own.

Called alike by the API (serializers and views), the admin and the importers, so that each
rule is written once: who may set a status, what a restore brings back, that a statement is
not linked to itself, that an editor's change to a public record takes it back to draft, what
may be deleted. Each workflow is a typed, keyword-only function; those that write are atomic
and end with the statements' documents built (``documents.build_pending``), so that a reader
later in the same transaction sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypedDict

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Model, ProtectedError

from . import documents, models
from .permissions import can_publish

# Who makes a change; None for the operator (a management command run by whoever runs the
# server), who may do anything a publisher may.
User = Account | AnonymousUser | None

SELF_AFFILIATION = "A speaker cannot be affiliated with itself."

# At most this many referring records are named when a deletion is refused.
NAMED_REFERENCES = 1000


def lost_references(record: Model) -> list[Model]:
    """The records that deleting ``record`` would silently change through a many-to-many
    relation (no foreign key to protect them): the reviews citing a source as evidence, the
    statements and claims tagged with a topic."""
    if isinstance(record, models.Source) and record.pk is not None:
        return list(record.evidence_for.all()[:NAMED_REFERENCES])
    if isinstance(record, models.Topic) and record.pk is not None:
        return [*record.statements.all()[:NAMED_REFERENCES], *record.claims.all()[:NAMED_REFERENCES]]
    return []


def protect_references(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    """pre_delete: refuse to delete evidence that many-to-many relations would lose silently
    (the same ProtectedError a PROTECT foreign key raises, so API and admin answer alike)."""
    referring = lost_references(instance)
    if referring:
        raise ProtectedError(f"Cannot delete {instance}: other records refer to it.", set(referring))


def back_to_draft_if_an_editor_changed(record: Any, user: User, *, changed: bool) -> bool:
    """An editor's change to a published or retracted record takes it back to draft.

    Publishing is a publisher's decision: an edit by someone who may not publish (new wording,
    another verdict, another statement for a claim) is not public until a publisher publishes
    the record again. The status is set on ``record`` (the caller saves it) with the reason the
    history will show. Returns whether it did."""
    if not changed or not getattr(record, "is_public", False) or may_publish(user, type(record)):
        return False
    was = record.status
    record.status = models.Status.DRAFT
    record._change_reason = (
        f"Changed by an editor while {was}: back to draft until a publisher publishes it again"
    )
    return True


def deletion_refused(record: Any) -> str | None:
    """Why ``record`` may not be deleted by a curator (API or admin), or None.

    Published and retracted records were public: they are kept (a retracted one stays visible,
    marked retracted), so that nothing that was public vanishes. Drafts may be deleted."""
    if getattr(record, "is_public", False):
        return (
            f"This {record._meta.verbose_name} is {record.status}: published and retracted records are "
            "kept. Retract it instead (it stays visible, marked retracted)."
        )
    return None


def changes_anything(instance: Model, validated: dict[str, Any]) -> bool:
    """Whether a write would change ``instance``: a field given with another value, or any
    list of related rows given (speakers, appearances, links, topics: counted as a change)."""
    for name, value in validated.items():
        current = getattr(instance, name, None)
        if hasattr(current, "all") or isinstance(value, list):
            return True
        if current != value:
            return True
    return False


# ---------------------------------------------------------------- status


def may_publish(user: User, model: type[Model]) -> bool:
    return user is None or can_publish(user, model)


def status_change_refused(user: User, model: type[Model], *, current: str, new: str) -> str | None:
    """Why ``user`` may not change a ``model`` record's status from ``current`` to ``new``, or None.

    Only publishers (and superusers) publish, retract or set a status at all; editors create
    and edit drafts."""
    if new == current or may_publish(user, model):
        return None
    return (
        f"Only publishers may change the status of a {model._meta.verbose_name} "
        f"(to {new!r}); editors create and edit drafts."
    )


def keep_status_unless_publisher(record: Any, user: User) -> None:
    """Someone who may not publish leaves a record's status as it is stored (a new record is a
    draft), whatever a form or a restored version brought."""
    if may_publish(user, type(record)):
        return
    if record.pk is not None and not record._state.adding:
        record.status = type(record).objects.values_list("status", flat=True).get(pk=record.pk)
    else:
        record.status = models.Status.DRAFT


@transaction.atomic
def set_status(*, records: Iterable[Any], status: str, user: User) -> int:
    """Give these records ``status``, each saved on its own so that each change is in its
    history; returns how many changed."""
    changed = 0
    for record in records:
        reason = status_change_refused(user, type(record), current=record.status, new=status)
        if reason:
            raise PermissionDenied(reason)
        if record.status == status:
            continue
        record.status = status
        record.updated_by = user
        record._history_user = user
        record.save(update_fields=["status", "updated_at", "updated_by"])
        changed += 1
    _documents_built()
    return changed


# ---------------------------------------------------------------- statements


class SpeakerRow(TypedDict):
    speaker: models.Speaker
    role: str


class AppearanceRow(TypedDict):
    source: models.Source
    quote: str
    is_first: bool


class LinkRow(TypedDict):
    statement: models.Statement
    type: str
    note: str


def sync_rows(
    existing: Iterable[Any],
    *,
    key: Callable[[Any], Any],
    wanted: dict[Any, dict[str, Any]],
    create: Callable[[Any, dict[str, Any]], Any],
    compare: Iterable[str] | None = None,
) -> None:
    """Make a record's child rows match ``wanted`` (key -> field values).

    Rows no longer wanted are deleted, changed ones updated, new ones created;
    unchanged rows are left alone and keep their public ids. Only the fields in
    ``compare`` (default: all given) decide whether a row changed.
    """
    current = {key(row): row for row in existing}
    for k, row in current.items():
        if k not in wanted:
            row.delete()
    for k, values in wanted.items():
        row = current.get(k)
        if row is None:
            create(k, values)
        elif any(getattr(row, f) != values[f] for f in compare or values):
            for f, v in values.items():
                setattr(row, f, v)
            row.save()


def self_link_refused(statement: models.Statement, targets: Iterable[models.Statement]) -> str | None:
    """Why ``statement`` may not link to these statements (itself among them), or None."""
    if statement.pk is not None and any(target.pk == statement.pk for target in targets):
        return models.SELF_LINK
    return None


@transaction.atomic
def save_statement(
    *,
    statement: models.Statement,
    user: User,
    topics: Iterable[models.Topic] | None = None,
    speakers: list[SpeakerRow] | None = None,
    appearances: list[AppearanceRow] | None = None,
    links: list[LinkRow] | None = None,
) -> models.Statement:
    """Save a statement and replace whichever of its lists are given (None: left as they are),
    its documents built once for all of it."""
    statement.save()
    if topics is not None:
        statement.topics.set(topics)
    replace_statement_relations(
        statement=statement, user=user, speakers=speakers, appearances=appearances, links=links
    )
    return statement


@transaction.atomic
def replace_statement_relations(
    *,
    statement: models.Statement,
    user: User,
    speakers: list[SpeakerRow] | None = None,
    appearances: list[AppearanceRow] | None = None,
    links: list[LinkRow] | None = None,
) -> None:
    """Make a saved statement's speakers, appearances and outgoing links (those given) these."""
    if links is not None and (reason := self_link_refused(statement, [r["statement"] for r in links])):
        raise ValidationError({"links": reason})
    author = user if isinstance(user, Account) else None
    if speakers is not None:
        sync_rows(
            statement.speaker_roles.all(),
            key=lambda row: (row.speaker_id, row.role),
            wanted={(r["speaker"].pk, r["role"]): {"position": n} for n, r in enumerate(speakers)},
            create=lambda k, values: models.StatementSpeaker.objects.create(
                statement=statement, speaker_id=k[0], role=k[1], **values
            ),
        )
    if appearances is not None:
        wanted = {
            r["source"].pk: {"quote": r["quote"], "is_first": r["is_first"], "updated_by": author}
            for r in appearances
        }
        # Unset "first" before setting it elsewhere: one first per statement.
        for row in statement.appearances.filter(is_first=True):
            if not wanted.get(row.source_id, {}).get("is_first"):
                row.is_first, row.updated_by = False, author
                row.save()
        sync_rows(
            statement.appearances.all(),
            key=lambda row: row.source_id,
            wanted=wanted,
            create=lambda source_id, values: models.Appearance.objects.create(
                statement=statement, source_id=source_id, created_by=author, **values
            ),
            compare=("quote", "is_first"),
        )
    if links is not None:
        sync_rows(
            statement.outgoing_links.all(),
            key=lambda row: (row.to_statement_id, row.type),
            wanted={(r["statement"].pk, r["type"]): {"note": r["note"]} for r in links},
            create=lambda k, values: models.StatementLink.objects.create(
                from_statement=statement, to_statement_id=k[0], type=k[1], **values
            ),
        )
    _documents_built()


# ---------------------------------------------------------------- speakers


class AffiliationRow(TypedDict, total=False):
    organisation: models.Speaker
    role: str
    started_on: Any
    ended_on: Any


@transaction.atomic
def replace_affiliations(*, speaker: models.Speaker, rows: list[AffiliationRow], user: User) -> None:
    """Make a saved speaker's affiliations these."""
    if any(row["organisation"].pk == speaker.pk for row in rows):
        raise ValidationError({"affiliations_input": SELF_AFFILIATION})
    for affiliation in speaker.affiliations.all():
        affiliation.delete()
    author = user if isinstance(user, Account) else None
    for row in rows:
        models.Affiliation.objects.create(speaker=speaker, created_by=author, **row)


# ---------------------------------------------------------------- history


@transaction.atomic
def restore_version(*, record: Any, version: int, user: User) -> Any:
    """Make ``record`` what its history's ``version`` held again, as a new version (the status
    too, for whoever may publish it: see ``keep_status_unless_publisher``), validated as an
    edit is. Raises ``record.history.model.DoesNotExist`` for a version it does not have."""
    old = record.history.get(history_id=version)
    restored = old.instance
    restored.pk = record.pk
    restored._state.adding = False  # the row it replaces exists: uniqueness is checked against others
    restored.updated_by = user
    restored._history_user = user
    restored._change_reason = f"Restored version {old.history_id}"
    if hasattr(restored, "status"):
        keep_status_unless_publisher(restored, user)
    # The same validation as an edit: an old version may not fit what changed since (a
    # source's old citation can close a cycle through a source edited meanwhile).
    try:
        restored.full_clean(validate_unique=True, validate_constraints=True)
    except ValidationError as error:
        raise ValidationError(
            {
                "version": [
                    f"Version {old.history_id} cannot be restored: {message}" for message in error.messages
                ]
            }
        ) from None
    restored.save()
    _documents_built()
    return restored


def _documents_built() -> None:
    with connection.cursor() as cursor:
        documents.build_pending(cursor)
