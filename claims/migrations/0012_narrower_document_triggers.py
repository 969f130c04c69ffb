"""Sources', speakers' and claims' documents are recomputed only when what they are made of is written.

The triggers used to fire on every UPDATE: setting a source's ``cites`` (as an
import does for a whole table) tokenised its title and description again.
Setting the document column itself (to NULL, as ``rebuild_search`` does)
still recomputes it.
"""

from django.db import migrations

TRIGGERS = [
    ("claims_source_search", "claims_source", "title, url, description, outlet_id, search_vector"),
    ("claims_speaker_search", "claims_speaker", "name, aliases, search_names"),
    ("claims_claim_search", "claims_claim", "text, statement_id, search_vector, normalized_text"),
]


def sql(columns: bool) -> str:
    statements = []
    for name, table, of in TRIGGERS:
        event = f"INSERT OR UPDATE OF {of}" if columns else "INSERT OR UPDATE"
        statements.append(
            f"DROP TRIGGER {name} ON {table};\n"
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();"
        )
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("claims", "0011_deferred_documents")]

    operations = [migrations.RunSQL(sql(True), sql(False))]
