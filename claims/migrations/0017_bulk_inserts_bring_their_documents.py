"""During a bulk load, a source or claim inserted with its search document keeps it.

The triggers built every inserted source's and claim's document row by row (a
query for its outlet's name or its statement's text, in PL/pgSQL): 1.1 s of the
93,000 sources of a one-year package, against 0.4 s set-based in the INSERT
itself, which is what ``import_dataset`` now does for tables that were empty
(``claims.defer_documents`` on). Any other write is indexed as before: updates
always, and inserts without a document, or outside a bulk load.
"""

from django.db import migrations

# The functions of migration 0005, with the keeping of a bulk insert's document (GUARD) or without.
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION claims_source_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{SOURCE_GUARD}
    NEW.search_vector :=
        setweight(to_tsvector('claims_english', coalesce(NEW.title, '')), 'A')
        -- URLs are split into words, so that "duvarenglish" finds duvarenglish.com.
        || setweight(to_tsvector('claims_simple', regexp_replace(coalesce(NEW.url, ''), '[^[:alnum:]]+', ' ', 'g')), 'B')
        || setweight(to_tsvector('claims_english', coalesce(NEW.description, '')), 'C')
        || setweight(to_tsvector('claims_simple', coalesce(
            (SELECT name FROM claims_outlet WHERE id = NEW.outlet_id), '')), 'D');
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION claims_claim_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN{CLAIM_GUARD}
    NEW.search_vector :=
        setweight(to_tsvector('claims_english', coalesce(NEW.text, '')), 'A')
        || setweight(to_tsvector('claims_english', coalesce(
            (SELECT text FROM claims_statement WHERE id = NEW.statement_id), '')), 'B');
    NEW.normalized_text := claims_normalize(NEW.text);
    RETURN NEW;
END $$;
"""
GUARD = """
    IF TG_OP = 'INSERT' AND NEW.search_vector IS NOT NULL{also} AND claims_documents_deferred() THEN
        RETURN NEW;
    END IF;"""
FORWARD = FUNCTIONS.replace("{SOURCE_GUARD}", GUARD.format(also="")).replace(
    "{CLAIM_GUARD}", GUARD.format(also=" AND NEW.normalized_text <> ''")
)
BACKWARD = FUNCTIONS.replace("{SOURCE_GUARD}", "").replace("{CLAIM_GUARD}", "")


class Migration(migrations.Migration):
    dependencies = [("claims", "0016_statement_rows_uncompressed")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
