"""``claims_config`` (a statement's text search configuration by its language) is inlined.

Its body cast a text to ``regconfig``, a lookup that depends on the search path
(stable, not immutable), so PostgreSQL would not inline the immutable function:
every statement document called it twice as a SQL function, about 5 µs a call
(0.1 s of each 100,000 statements' documents). The configurations are now
constants of the body; the function returns the same configuration as before.
It is also marked parallel-safe, as it is, so that the statements' texts can be
tokenised by parallel workers when documents are built in bulk.
"""

from django.db import migrations

BODY = """
CREATE OR REPLACE FUNCTION claims_config(language text) RETURNS regconfig LANGUAGE sql IMMUTABLE {} AS $$
    SELECT {}
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0018_deferred_triggers_not_called")]

    operations = [
        migrations.RunSQL(
            BODY.format(
                "PARALLEL SAFE",
                "CASE WHEN language = 'en' OR language LIKE 'en-%' "
                "THEN 'claims_english'::regconfig ELSE 'claims_simple'::regconfig END"
            ),
            BODY.format(
                "PARALLEL UNSAFE",
                "(CASE WHEN language = 'en' OR language LIKE 'en-%' THEN 'claims_english' ELSE 'claims_simple' END)::regconfig"
            ),
        )
    ]
