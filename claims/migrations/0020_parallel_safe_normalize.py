"""``claims_normalize`` (lower case, accents removed) is marked parallel-safe, as it is.

A bulk import computes the claims' search documents and normalised texts with a
``CREATE TABLE AS`` that parallel workers can share; a function left at
PostgreSQL's default label (parallel-unsafe) kept the whole query in one process.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("claims", "0019_inlined_text_search_config")]

    operations = [
        migrations.RunSQL(
            "ALTER FUNCTION claims_normalize(text) PARALLEL SAFE",
            "ALTER FUNCTION claims_normalize(text) PARALLEL UNSAFE",
        )
    ]
