"""Full-text search configurations and the triggers that keep search documents current.

Documents are maintained in the database, not in Python, so that fixtures,
bulk loads and imports are indexed exactly like admin and API edits. To
rebuild every document (after a bulk load with triggers disabled, say), run
``python manage.py rebuild_search``.
"""

from django.db import migrations

FORWARD = r"""
-- Accent-insensitive configurations: English with stemming, and "simple"
-- (exact words) for names and for text in other languages.
CREATE TEXT SEARCH CONFIGURATION claims_english (COPY = english);
ALTER TEXT SEARCH CONFIGURATION claims_english
    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
CREATE TEXT SEARCH CONFIGURATION claims_simple (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION claims_simple
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, hword, hword_part, word WITH unaccent, simple;

CREATE FUNCTION claims_config(language text) RETURNS regconfig LANGUAGE sql IMMUTABLE AS $$
    SELECT (CASE WHEN language = 'en' OR language LIKE 'en-%' THEN 'claims_english' ELSE 'claims_simple' END)::regconfig
$$;

CREATE FUNCTION claims_normalize(value text) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT lower(unaccent(coalesce(value, '')))
$$;

-- Statements: A = curated text, B = speakers' names and aliases,
-- C = quotes as printed and the original text, D = sources, outlets, context.
CREATE FUNCTION claims_statement_document(
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

CREATE FUNCTION claims_statement_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := claims_statement_document(NEW.id, NEW.text, NEW.original_text, NEW.context, NEW.language);
    RETURN NEW;
END $$;
CREATE TRIGGER claims_statement_search BEFORE INSERT OR UPDATE ON claims_statement
    FOR EACH ROW EXECUTE FUNCTION claims_statement_search();

-- Setting the document to NULL makes the trigger above recompute it.
CREATE FUNCTION claims_touch_statements(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    UPDATE claims_statement SET search_vector = NULL WHERE id = ANY(ids)
$$;

CREATE FUNCTION claims_statement_part_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM claims_touch_statements(ARRAY[OLD.statement_id]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM claims_touch_statements(ARRAY[NEW.statement_id]);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER claims_statementspeaker_search AFTER INSERT OR UPDATE OR DELETE ON claims_statementspeaker
    FOR EACH ROW EXECUTE FUNCTION claims_statement_part_changed();
CREATE TRIGGER claims_appearance_search AFTER INSERT OR UPDATE OR DELETE ON claims_appearance
    FOR EACH ROW EXECUTE FUNCTION claims_statement_part_changed();

-- Speakers: names and aliases, normalised for trigram lookup; a rename
-- re-indexes the speaker's statements.
CREATE FUNCTION claims_speaker_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_names := claims_normalize(NEW.name || ' ' || array_to_string(NEW.aliases, ' '));
    RETURN NEW;
END $$;
CREATE TRIGGER claims_speaker_search BEFORE INSERT OR UPDATE ON claims_speaker
    FOR EACH ROW EXECUTE FUNCTION claims_speaker_search();

CREATE FUNCTION claims_speaker_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM claims_touch_statements(ARRAY(
        SELECT statement_id FROM claims_statementspeaker WHERE speaker_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER claims_speaker_renamed AFTER UPDATE OF name, aliases ON claims_speaker
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.aliases IS DISTINCT FROM NEW.aliases)
    EXECUTE FUNCTION claims_speaker_renamed();

-- Sources: title, URL, description and outlet name.
CREATE FUNCTION claims_source_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('claims_english', coalesce(NEW.title, '')), 'A')
        -- URLs are split into words, so that "duvarenglish" finds duvarenglish.com.
        || setweight(to_tsvector('claims_simple', regexp_replace(coalesce(NEW.url, ''), '[^[:alnum:]]+', ' ', 'g')), 'B')
        || setweight(to_tsvector('claims_english', coalesce(NEW.description, '')), 'C')
        || setweight(to_tsvector('claims_simple', coalesce(
            (SELECT name FROM claims_outlet WHERE id = NEW.outlet_id), '')), 'D');
    RETURN NEW;
END $$;
CREATE TRIGGER claims_source_search BEFORE INSERT OR UPDATE ON claims_source
    FOR EACH ROW EXECUTE FUNCTION claims_source_search();

CREATE FUNCTION claims_source_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM claims_touch_statements(ARRAY(
        SELECT statement_id FROM claims_appearance WHERE source_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER claims_source_renamed AFTER UPDATE OF title, outlet_id ON claims_source
    FOR EACH ROW WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.outlet_id IS DISTINCT FROM NEW.outlet_id)
    EXECUTE FUNCTION claims_source_renamed();

CREATE FUNCTION claims_outlet_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE claims_source SET search_vector = NULL WHERE outlet_id = NEW.id;
    PERFORM claims_touch_statements(ARRAY(
        SELECT a.statement_id FROM claims_appearance a JOIN claims_source s ON s.id = a.source_id
        WHERE s.outlet_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER claims_outlet_renamed AFTER UPDATE OF name ON claims_outlet
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION claims_outlet_renamed();

-- Claims: A = claim text, B = its statement's text; plus the normalised
-- text that similar-claim matching compares.
CREATE FUNCTION claims_claim_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('claims_english', coalesce(NEW.text, '')), 'A')
        || setweight(to_tsvector('claims_english', coalesce(
            (SELECT text FROM claims_statement WHERE id = NEW.statement_id), '')), 'B');
    NEW.normalized_text := claims_normalize(NEW.text);
    RETURN NEW;
END $$;
CREATE TRIGGER claims_claim_search BEFORE INSERT OR UPDATE ON claims_claim
    FOR EACH ROW EXECUTE FUNCTION claims_claim_search();

CREATE FUNCTION claims_statement_text_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE claims_claim SET search_vector = NULL WHERE statement_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER claims_statement_text_changed AFTER UPDATE OF text ON claims_statement
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text)
    EXECUTE FUNCTION claims_statement_text_changed();

-- Index what already exists.
UPDATE claims_speaker SET search_names = '';
UPDATE claims_source SET search_vector = NULL;
UPDATE claims_statement SET search_vector = NULL;
UPDATE claims_claim SET search_vector = NULL;
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS claims_statement_text_changed ON claims_statement;
DROP TRIGGER IF EXISTS claims_claim_search ON claims_claim;
DROP TRIGGER IF EXISTS claims_outlet_renamed ON claims_outlet;
DROP TRIGGER IF EXISTS claims_source_renamed ON claims_source;
DROP TRIGGER IF EXISTS claims_source_search ON claims_source;
DROP TRIGGER IF EXISTS claims_speaker_renamed ON claims_speaker;
DROP TRIGGER IF EXISTS claims_speaker_search ON claims_speaker;
DROP TRIGGER IF EXISTS claims_appearance_search ON claims_appearance;
DROP TRIGGER IF EXISTS claims_statementspeaker_search ON claims_statementspeaker;
DROP TRIGGER IF EXISTS claims_statement_search ON claims_statement;
DROP FUNCTION IF EXISTS claims_statement_text_changed(), claims_claim_search(), claims_outlet_renamed(),
    claims_source_renamed(), claims_source_search(), claims_speaker_renamed(), claims_speaker_search(),
    claims_statement_part_changed(), claims_touch_statements(bigint[]), claims_statement_search(),
    claims_statement_document(bigint, text, text, text, text), claims_normalize(text), claims_config(text);
DROP TEXT SEARCH CONFIGURATION IF EXISTS claims_simple;
DROP TEXT SEARCH CONFIGURATION IF EXISTS claims_english;
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0004_search_fields")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
