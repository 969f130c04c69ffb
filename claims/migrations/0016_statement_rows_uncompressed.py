"""Statements' rows stay whole and uncompressed up to 4 kB (``toast_tuple_target``).

With its stored documents (the API's, the export lists and line) a statement's
row is 2–3 kB, over PostgreSQL's default target of 2 kB: every write of a
statement compressed its API document with pglz, and every read decompressed it.
Compression was 2 of the 10 s that building the documents of 94,000 imported
statements took; uncompressed, their table is a quarter larger. Longer rows
are still compressed and moved out of line as before.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("claims", "0015_statement_export_jsonl")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE claims_statement SET (toast_tuple_target = 4080)",
            "ALTER TABLE claims_statement RESET (toast_tuple_target)",
        )
    ]
