"""Statement documents list speakers and sources in a fixed order.

Without an ORDER BY, string_agg took rows in whatever order the plan gave, so
the same statement could get different word positions (which phrase search
and ranking use) depending on how its document was built. The order is the
one the API shows: speakers by position, the first appearance first.
"""

from django.db import migrations

ORDERED = r"""
CREATE OR REPLACE FUNCTION claims_statement_document(
    p_id bigint, p_text text, p_original text, p_context text, p_language text
) RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT
        setweight(to_tsvector(claims_config(p_language), coalesce(p_text, '')), 'A')
        || setweight(to_tsvector('claims_simple', coalesce((
            SELECT string_agg(sp.name || ' ' || array_to_string(sp.aliases, ' '), ' ' ORDER BY ss.position, ss.id)
            FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id
            WHERE ss.statement_id = p_id), '')), 'B')
        || setweight(to_tsvector(claims_config(p_language), coalesce((
            SELECT string_agg(a.quote, ' ' ORDER BY a.is_first DESC, a.id)
            FROM claims_appearance a WHERE a.statement_id = p_id), '')), 'C')
        || setweight(to_tsvector('claims_simple', coalesce(p_original, '')), 'C')
        || setweight(to_tsvector('claims_simple', coalesce((
            SELECT string_agg(coalesce(so.title, '') || ' ' || coalesce(o.name, ''), ' ' ORDER BY a.is_first DESC, a.id)
            FROM claims_appearance a
            JOIN claims_source so ON so.id = a.source_id
            LEFT JOIN claims_outlet o ON o.id = so.outlet_id
            WHERE a.statement_id = p_id), '') || ' ' || coalesce(p_context, '')), 'D')
$$;
UPDATE claims_statement SET search_vector = NULL;
"""

UNORDERED = r"""
CREATE OR REPLACE FUNCTION claims_statement_document(
    p_id bigint, p_text text, p_original text, p_context text, p_language text
) RETURNS tsvector LANGUAGE sql STABLE AS $$
    SELECT
        setweight(to_tsvector(claims_config(p_language), coalesce(p_text, '')), 'A')
        || setweight(to_tsvector('claims_simple', coalesce((
            SELECT string_agg(sp.name || ' ' || array_to_string(sp.aliases, ' '), ' ')
            FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id
            WHERE ss.statement_id = p_id), '')), 'B')
        || setweight(to_tsvector(claims_config(p_language), coalesce((
            SELECT string_agg(a.quote, ' ') FROM claims_appearance a WHERE a.statement_id = p_id), '')), 'C')
        || setweight(to_tsvector('claims_simple', coalesce(p_original, '')), 'C')
        || setweight(to_tsvector('claims_simple', coalesce((
            SELECT string_agg(coalesce(so.title, '') || ' ' || coalesce(o.name, ''), ' ')
            FROM claims_appearance a
            JOIN claims_source so ON so.id = a.source_id
            LEFT JOIN claims_outlet o ON o.id = so.outlet_id
            WHERE a.statement_id = p_id), '') || ' ' || coalesce(p_context, '')), 'D')
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0008_default_rating_mappings")]

    operations = [migrations.RunSQL(ORDERED, UNORDERED)]
