"""Triggers that do nothing while documents are deferred are not even called then.

A bulk load (``claims.defer_documents`` on: an import, ``generate_data``) builds
the statements' documents set-based at the end; meanwhile these triggers' bodies
returned at once, but PostgreSQL still called a PL/pgSQL function for every row
written, and queued an event for every row of the AFTER ones: about 2 of the 23 s
of a 94,000-statement import. A ``WHEN`` condition is evaluated by the server
itself, and a false one queues nothing. Outside a bulk load they fire as before.
"""

from django.db import migrations

DEFERRED = "claims_documents_deferred()"

# (trigger, table, timing and events, function): what migrations 0005-0015 created.
TRIGGERS = [
    ("claims_statement_search", "claims_statement", "BEFORE INSERT OR UPDATE", "claims_statement_search"),
    (
        "claims_statement_public_document",
        "claims_statement",
        "BEFORE INSERT OR UPDATE",
        "claims_statement_public_document",
    ),
    ("claims_statement_to_jsonl", "claims_statement", "BEFORE INSERT OR UPDATE", "claims_statement_to_jsonl"),
    (
        "claims_statementspeaker_search",
        "claims_statementspeaker",
        "AFTER INSERT OR DELETE OR UPDATE",
        "claims_statement_part_changed",
    ),
    (
        "claims_appearance_search",
        "claims_appearance",
        "AFTER INSERT OR DELETE OR UPDATE",
        "claims_statement_part_changed",
    ),
    (
        "claims_statement_topics_export",
        "claims_statement_topics",
        "AFTER INSERT OR DELETE OR UPDATE",
        "claims_statement_part_changed",
    ),
    (
        "claims_statementlink_export",
        "claims_statementlink",
        "AFTER INSERT OR DELETE OR UPDATE",
        "claims_statement_link_changed",
    ),
    (
        "claims_claim_statement_document",
        "claims_claim",
        "AFTER INSERT OR DELETE OR UPDATE OF text, status, statement_id, public_id, created_at",
        "claims_statement_part_changed",
    ),
]


def sql(guarded: bool) -> str:
    when = f" WHEN (NOT {DEFERRED})" if guarded else ""
    return "\n".join(
        f"DROP TRIGGER {name} ON {table};\n"
        f"CREATE TRIGGER {name} {events} ON {table} FOR EACH ROW{when} EXECUTE FUNCTION {function}();"
        for name, table, events, function in TRIGGERS
    )


class Migration(migrations.Migration):
    dependencies = [("claims", "0017_bulk_inserts_bring_their_documents")]

    operations = [migrations.RunSQL(sql(True), sql(False))]
