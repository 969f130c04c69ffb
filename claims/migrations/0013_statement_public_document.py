"""What anonymous readers get from the API for each public statement, stored with it.

The statements list and detail are the API's hottest paths. Their JSON (as
``claims.representations`` builds it, and as ``StatementSerializer`` defines
it) is kept in ``public_document`` by triggers, so that a page of 50 is one
index scan returning 50 stored texts. Everything the document shows keeps it
current: the statement itself; its speakers, topics, appearances, links and
claims; the names and slugs of the speakers, topics, sources and outlets it
shows; and the statements it links to or is linked from (their text, date and
status). Drafts have none (curators' reads are built live). Bulk imports defer
it with ``claims.defer_documents`` like the search documents and build it
set-based afterwards (``claims.search.build_public_documents``).
"""

from django.db import migrations, models

PUBLIC = "('published', 'retracted')"

# claims.representations.PUBLIC_DOCUMENT as of this migration.
DOCUMENT = """
        json_build_object(
            'id', s.public_id,
            'created_at', to_char((s.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN to_char((s.created_at AT TIME ZONE 'UTC'), 'US') = '000000' THEN '' ELSE '.' || to_char((s.created_at AT TIME ZONE 'UTC'), 'US') END || 'Z',
            'updated_at', to_char((s.updated_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN to_char((s.updated_at AT TIME ZONE 'UTC'), 'US') = '000000' THEN '' ELSE '.' || to_char((s.updated_at AT TIME ZONE 'UTC'), 'US') END || 'Z',
            'status', s.status,
            'text', s.text,
            'text_type', s.text_type,
            'original_text', s.original_text,
            'original_language', s.original_language,
            'language', s.language,
            'said_on', s.said_on,
            'said_on_precision', s.said_on_precision,
            'place', s.place,
            'context', s.context,
            'speakers', (SELECT coalesce(json_agg(json_build_object('id', sp.public_id, 'slug', sp.slug, 'name', sp.name, 'role', ss.role) ORDER BY ss.position, ss.id), '[]'::json) FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id WHERE ss.statement_id = s.id),
            'topics', (SELECT coalesce(json_agg(json_build_object('slug', t.slug, 'name', t.name) ORDER BY t.name, t.id), '[]'::json) FROM claims_statement_topics st JOIN claims_topic t ON t.id = st.topic_id WHERE st.statement_id = s.id),
            'appearances', (SELECT coalesce(json_agg(json_build_object(
            'id', a.public_id,
            'source', json_build_object(
                'id', so.public_id, 'label', CASE WHEN so.title <> '' THEN so.title ELSE
            CASE so.kind WHEN 'article' THEN 'Article' WHEN 'agency_wire' THEN 'Agency wire' WHEN 'video' THEN 'Video' WHEN 'social_post' THEN 'Social media post' WHEN 'press_release' THEN 'Press release' WHEN 'transcript' THEN 'Transcript' WHEN 'joint_statement' THEN 'Joint statement' WHEN 'other' THEN 'Other' ELSE so.kind END
            || CASE WHEN o.id IS NULL THEN '' ELSE ' by ' || o.name END
            || CASE WHEN so.published_on IS NULL THEN '' ELSE ', ' || to_char(so.published_on, 'DD FMMonth FMYYYY') END
        END, 'title', so.title, 'url', so.url,
                'kind', so.kind, 'published_on', so.published_on,
                'outlet', CASE WHEN o.id IS NULL THEN NULL ELSE
                    json_build_object('id', o.public_id, 'slug', o.slug, 'name', o.name, 'kind', o.kind) END),
            'quote', a.quote,
            'is_first', a.is_first) ORDER BY a.is_first DESC, a.id), '[]'::json) FROM claims_appearance a JOIN claims_source so ON so.id = a.source_id LEFT JOIN claims_outlet o ON o.id = so.outlet_id WHERE a.statement_id = s.id),
            'links', (SELECT coalesce(json_agg(json_build_object('type', l.type, 'statement', json_build_object('id', ls.public_id, 'text', ls.text, 'said_on', ls.said_on, 'said_on_precision', ls.said_on_precision, 'status', ls.status), 'note', l.note) ORDER BY l.type, l.id), '[]'::json) FROM claims_statementlink l JOIN claims_statement ls ON ls.id = l.to_statement_id WHERE l.from_statement_id = s.id AND (false OR ls.status IN ('published', 'retracted'))),
            'said_until', CASE s.said_on_precision
            WHEN 'month' THEN (s.said_on + INTERVAL '1 month' - INTERVAL '1 day')::date
            WHEN 'year' THEN (s.said_on + INTERVAL '1 year' - INTERVAL '1 day')::date
            ELSE s.said_on
        END,
            'said_on_display', CASE
            WHEN s.said_on IS NULL THEN 'date unknown'
            WHEN s.said_on_precision = 'day' THEN to_char(s.said_on, 'FMDD FMMonth FMYYYY')
            WHEN s.said_on_precision = 'month' THEN to_char(s.said_on, 'FMMonth FMYYYY')
            ELSE to_char(s.said_on, 'FMYYYY')
        END,
            'linked_from', (SELECT coalesce(json_agg(json_build_object('type', l.type, 'statement', json_build_object('id', ls.public_id, 'text', ls.text, 'said_on', ls.said_on, 'said_on_precision', ls.said_on_precision, 'status', ls.status), 'note', l.note) ORDER BY ls.said_on DESC, ls.id DESC, l.type, l.id), '[]'::json) FROM claims_statementlink l JOIN claims_statement ls ON ls.id = l.from_statement_id WHERE l.to_statement_id = s.id AND (false OR ls.status IN ('published', 'retracted'))),
            'claims', (SELECT coalesce(json_agg(json_build_object('id', c.public_id, 'text', c.text, 'status', c.status) ORDER BY c.created_at DESC, c.id DESC), '[]'::json) FROM claims_claim c WHERE c.statement_id = s.id AND (false OR c.status IN ('published', 'retracted')))
        )
"""

FORWARD = rf"""
CREATE FUNCTION claims_statement_public_document() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF claims_documents_deferred() THEN
        RETURN NEW;
    END IF;
    IF NEW.status IN {PUBLIC} THEN
        SELECT ({DOCUMENT})::text INTO NEW.public_document FROM (SELECT (NEW).*) AS s;
    ELSE
        NEW.public_document := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER claims_statement_public_document BEFORE INSERT OR UPDATE ON claims_statement
    FOR EACH ROW EXECUTE FUNCTION claims_statement_public_document();

-- A statement's text, date or status shows in the documents of the statements
-- it links to and is linked from.
CREATE FUNCTION claims_statement_neighbours_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM claims_touch_statements(ARRAY(
        SELECT to_statement_id FROM claims_statementlink WHERE from_statement_id = NEW.id
        UNION SELECT from_statement_id FROM claims_statementlink WHERE to_statement_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER claims_statement_neighbours_changed
    AFTER UPDATE OF text, said_on, said_on_precision, status, public_id ON claims_statement
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text OR OLD.said_on IS DISTINCT FROM NEW.said_on
                       OR OLD.said_on_precision IS DISTINCT FROM NEW.said_on_precision
                       OR OLD.status IS DISTINCT FROM NEW.status OR OLD.public_id IS DISTINCT FROM NEW.public_id)
    EXECUTE FUNCTION claims_statement_neighbours_changed();

-- A link shows at both ends.
CREATE OR REPLACE FUNCTION claims_statement_link_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM claims_touch_statements(ARRAY[OLD.from_statement_id, OLD.to_statement_id]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM claims_touch_statements(ARRAY[NEW.from_statement_id, NEW.to_statement_id]);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER claims_claim_statement_document
    AFTER INSERT OR UPDATE OF text, status, statement_id, public_id, created_at OR DELETE ON claims_claim
    FOR EACH ROW EXECUTE FUNCTION claims_statement_part_changed();

CREATE TRIGGER claims_topic_named AFTER UPDATE OF name ON claims_topic
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION claims_topic_renamed();

CREATE TRIGGER claims_source_described AFTER UPDATE OF kind, published_on ON claims_source
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.published_on IS DISTINCT FROM NEW.published_on)
    EXECUTE FUNCTION claims_source_renamed();

CREATE FUNCTION claims_outlet_described() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM claims_touch_statements(ARRAY(
        SELECT a.statement_id FROM claims_appearance a JOIN claims_source s ON s.id = a.source_id
        WHERE s.outlet_id = NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER claims_outlet_described AFTER UPDATE OF slug, kind ON claims_outlet
    FOR EACH ROW WHEN (OLD.slug IS DISTINCT FROM NEW.slug OR OLD.kind IS DISTINCT FROM NEW.kind)
    EXECUTE FUNCTION claims_outlet_described();

-- The existing statements, set-based, without recomputing their search documents.
SELECT set_config('claims.defer_documents', 'on', true);
UPDATE claims_statement s SET public_document = ({DOCUMENT})::text WHERE s.status IN {PUBLIC};
SELECT set_config('claims.defer_documents', 'off', true);
"""

BACKWARD = r"""
DROP TRIGGER claims_outlet_described ON claims_outlet;
DROP FUNCTION claims_outlet_described();
DROP TRIGGER claims_source_described ON claims_source;
DROP TRIGGER claims_topic_named ON claims_topic;
DROP TRIGGER claims_claim_statement_document ON claims_claim;
CREATE OR REPLACE FUNCTION claims_statement_link_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM claims_touch_statements(ARRAY[OLD.from_statement_id]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM claims_touch_statements(ARRAY[NEW.from_statement_id]);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER claims_statement_neighbours_changed ON claims_statement;
DROP FUNCTION claims_statement_neighbours_changed();
DROP TRIGGER claims_statement_public_document ON claims_statement;
DROP FUNCTION claims_statement_public_document();
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0012_narrower_document_triggers")]

    operations = [
        migrations.AddField(
            model_name="statement",
            name="public_document",
            field=models.TextField(editable=False, null=True),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
