"""Bulk imports may defer the statements' stored documents to the end of their transaction.

With ``SET LOCAL claims.defer_documents = 'on'`` the triggers leave the
statements' search documents and export lists alone; whoever sets it rebuilds
them set-based before committing (``claims.search.build_statement_documents``).
Without it, every speaker, appearance, topic and link row written recomputed
its statement's document once more: a statement with four parts was indexed
five times on import.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION claims_documents_deferred() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('claims.defer_documents', true), '') = 'on'
$$;

CREATE OR REPLACE FUNCTION claims_touch_statements(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT claims_documents_deferred() THEN
        UPDATE claims_statement SET search_vector = NULL WHERE id = ANY(ids);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION claims_statement_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF claims_documents_deferred() THEN
        RETURN NEW;
    END IF;
    NEW.search_vector := claims_statement_document(NEW.id, NEW.text, NEW.original_text, NEW.context, NEW.language);
    SELECT coalesce(string_agg(sp.slug, '; ' ORDER BY ss.position, ss.id), ''),
           coalesce(string_agg(ss.role, '; ' ORDER BY ss.position, ss.id), '')
      INTO NEW.export_speakers, NEW.export_speaker_roles
      FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id
     WHERE ss.statement_id = NEW.id;
    SELECT coalesce(string_agg(t.slug, '; ' ORDER BY t.slug COLLATE "C"), '')
      INTO NEW.export_topics
      FROM claims_statement_topics st JOIN claims_topic t ON t.id = st.topic_id
     WHERE st.statement_id = NEW.id;
    SELECT coalesce(string_agg(so.url, '; ' ORDER BY a.is_first DESC, a.id) FILTER (WHERE so.url <> ''), ''),
           coalesce(string_agg(a.quote, '; ' ORDER BY a.is_first DESC, a.id) FILTER (WHERE a.quote <> ''), ''),
           coalesce(jsonb_agg(jsonb_build_object('source', so.public_id, 'url', so.url, 'quote', a.quote,
                                                 'is_first', a.is_first) ORDER BY a.is_first DESC, a.id), '[]')
      INTO NEW.export_source_urls, NEW.export_quotes, NEW.export_appearances
      FROM claims_appearance a JOIN claims_source so ON so.id = a.source_id
     WHERE a.statement_id = NEW.id;
    SELECT coalesce(string_agg(t.public_id::text, '; ' ORDER BY l.id), '')
      INTO NEW.export_responds_to
      FROM claims_statementlink l JOIN claims_statement t ON t.id = l.to_statement_id
     WHERE l.from_statement_id = NEW.id AND l.type = 'responds_to';
    RETURN NEW;
END $$;
"""

BACKWARD = r"""
CREATE OR REPLACE FUNCTION claims_statement_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := claims_statement_document(NEW.id, NEW.text, NEW.original_text, NEW.context, NEW.language);
    SELECT coalesce(string_agg(sp.slug, '; ' ORDER BY ss.position, ss.id), ''),
           coalesce(string_agg(ss.role, '; ' ORDER BY ss.position, ss.id), '')
      INTO NEW.export_speakers, NEW.export_speaker_roles
      FROM claims_statementspeaker ss JOIN claims_speaker sp ON sp.id = ss.speaker_id
     WHERE ss.statement_id = NEW.id;
    SELECT coalesce(string_agg(t.slug, '; ' ORDER BY t.slug COLLATE "C"), '')
      INTO NEW.export_topics
      FROM claims_statement_topics st JOIN claims_topic t ON t.id = st.topic_id
     WHERE st.statement_id = NEW.id;
    SELECT coalesce(string_agg(so.url, '; ' ORDER BY a.is_first DESC, a.id) FILTER (WHERE so.url <> ''), ''),
           coalesce(string_agg(a.quote, '; ' ORDER BY a.is_first DESC, a.id) FILTER (WHERE a.quote <> ''), ''),
           coalesce(jsonb_agg(jsonb_build_object('source', so.public_id, 'url', so.url, 'quote', a.quote,
                                                 'is_first', a.is_first) ORDER BY a.is_first DESC, a.id), '[]')
      INTO NEW.export_source_urls, NEW.export_quotes, NEW.export_appearances
      FROM claims_appearance a JOIN claims_source so ON so.id = a.source_id
     WHERE a.statement_id = NEW.id;
    SELECT coalesce(string_agg(t.public_id::text, '; ' ORDER BY l.id), '')
      INTO NEW.export_responds_to
      FROM claims_statementlink l JOIN claims_statement t ON t.id = l.to_statement_id
     WHERE l.from_statement_id = NEW.id AND l.type = 'responds_to';
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION claims_touch_statements(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE claims_statement SET search_vector = NULL WHERE id = ANY(ids);
END $$;
DROP FUNCTION claims_documents_deferred();
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0010_statement_export_columns")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
