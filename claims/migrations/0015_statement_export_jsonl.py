"""Each statement's line of the JSON Lines export, stored with it (``export_jsonl``).

Built at export time, the lines (``row_to_json`` of the statement's columns, its
lists as JSON arrays, its timestamps) cost three times the plain ``COPY`` of the
statements' rows: 8.3 s against 1.9 s for a million. Stored, the export is one
scan writing the lines out as they are. A trigger builds the line from the row
being written, after ``claims_statement_search`` has set its export lists
(triggers fire in the order of their names); bulk loads defer it with the other
documents (``claims.defer_documents``) and build it set-based
(``claims.search.build_statement_documents``). Dates are written with
``to_char``, whose output no connection's DateStyle changes.
"""

from django.db import migrations, models

# claims.exports.statement_line() as of this migration, for the row $row.
LINE = r"""row_to_json(ROW(
        $row.public_id,
        $row.status,
        $row.text,
        $row.text_type,
        $row.original_text,
        $row.original_language,
        $row.language,
        CASE WHEN $row.said_on IS NULL THEN ''
         WHEN $row.said_on_precision = 'month' THEN to_char($row.said_on, 'YYYY-MM')
         WHEN $row.said_on_precision = 'year' THEN to_char($row.said_on, 'YYYY')
         ELSE to_char($row.said_on, 'YYYY-MM-DD') END,
        CASE WHEN $row.said_on IS NULL THEN '' ELSE $row.said_on_precision END,
        $row.place,
        $row.context,
        CASE WHEN $row.export_speakers = '' THEN '[]'::json ELSE to_json(string_to_array($row.export_speakers, '; ')) END,
        CASE WHEN $row.export_speaker_roles = '' THEN '[]'::json ELSE to_json(string_to_array($row.export_speaker_roles, '; ')) END,
        CASE WHEN $row.export_topics = '' THEN '[]'::json ELSE to_json(string_to_array($row.export_topics, '; ')) END,
        jsonb_path_query_array($row.export_appearances, '$[*] ? (@.url != "").url'),
        jsonb_path_query_array($row.export_appearances, '$[*] ? (@.quote != "").quote'),
        CASE WHEN $row.export_responds_to = '' THEN '[]'::json ELSE to_json(string_to_array($row.export_responds_to, '; ')) END,
        to_char($row.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        to_char($row.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
        $row.export_appearances
    )::claims_statement_line)::text"""

# claims.exports.STATEMENT_LINE_FIELDS as of this migration.
FORWARD = r"""
CREATE TYPE claims_statement_line AS (
    id uuid,
    status text,
    text text,
    text_type text,
    original_text text,
    original_language text,
    language text,
    said_on text,
    said_on_precision text,
    place text,
    context text,
    speakers json,
    speaker_roles json,
    topics json,
    source_urls jsonb,
    quotes jsonb,
    responds_to json,
    created_at text,
    updated_at text,
    appearances jsonb
);

CREATE FUNCTION claims_statement_to_jsonl() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF claims_documents_deferred() THEN
        RETURN NEW;
    END IF;
    NEW.export_jsonl := {LINE_NEW};
    RETURN NEW;
END $$;
CREATE TRIGGER claims_statement_to_jsonl BEFORE INSERT OR UPDATE ON claims_statement
    FOR EACH ROW EXECUTE FUNCTION claims_statement_to_jsonl();

-- The existing statements, set-based, from their stored export lists, without
-- recomputing their other documents.
SELECT set_config('claims.defer_documents', 'on', true);
UPDATE claims_statement s SET export_jsonl = {LINE_S};
SELECT set_config('claims.defer_documents', 'off', true);
""".replace("{LINE_NEW}", LINE.replace("$row.", "NEW.")).replace("{LINE_S}", LINE.replace("$row.", "s."))

BACKWARD = r"""
DROP TRIGGER claims_statement_to_jsonl ON claims_statement;
DROP FUNCTION claims_statement_to_jsonl();
DROP TYPE claims_statement_line;
"""


class Migration(migrations.Migration):
    dependencies = [("claims", "0014_covering_list_indexes")]

    operations = [
        migrations.AddField(
            model_name="statement",
            name="export_jsonl",
            field=models.TextField(db_default="", default="", editable=False),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
