"""The benchmark's peer: the same public statements in SQLite, served by Datasette.

``build(pg_url, path)`` copies the public statements with their speakers and
topics from PostgreSQL into a SQLite file with the indexes the equivalent
requests need (date order, speaker, topic) and an FTS5 index on the text, which
Datasette finds by itself. ``serve(path, port)`` runs Datasette on it from its
own virtual environment (``var/bench/datasette-venv``, pinned in
``requirements-bench.txt``), so that it never shares our dependencies.
"""

import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg2

from claims.documents.public import PUBLIC_SQL as PUBLIC

VENV = Path(__file__).resolve().parents[2] / "var" / "bench" / "datasette-venv"
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements-bench.txt"

SCHEMA = """
CREATE TABLE statements (
    id INTEGER PRIMARY KEY, public_id TEXT, text TEXT, language TEXT, said_on TEXT, said_until TEXT,
    said_on_precision TEXT, status TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE speakers (id INTEGER PRIMARY KEY, slug TEXT, name TEXT);
CREATE TABLE statement_speakers (
    statement_id INTEGER REFERENCES statements(id), speaker_id INTEGER REFERENCES speakers(id),
    role TEXT, position INTEGER);
CREATE TABLE topics (id INTEGER PRIMARY KEY, slug TEXT, name TEXT);
CREATE TABLE statement_topics (
    statement_id INTEGER REFERENCES statements(id), topic_id INTEGER REFERENCES topics(id));
"""

INDEXES = """
CREATE INDEX statements_said_on ON statements (said_on DESC, id DESC);
CREATE INDEX statements_said_until ON statements (said_until);
CREATE INDEX statement_speakers_speaker ON statement_speakers (speaker_id, statement_id);
CREATE INDEX statement_speakers_statement ON statement_speakers (statement_id);
CREATE INDEX statement_topics_topic ON statement_topics (topic_id, statement_id);
CREATE INDEX statement_topics_statement ON statement_topics (statement_id);
CREATE VIRTUAL TABLE statements_fts USING fts5 (text, content="statements", content_rowid="id");
INSERT INTO statements_fts (statements_fts) VALUES ('rebuild');
ANALYZE;
"""

COPIES = {
    "statements": f"""SELECT id, public_id::text, text, language, said_on::text, said_until::text,
        said_on_precision, status, created_at::text, updated_at::text
        FROM claims_statement WHERE status IN {PUBLIC}""",
    "speakers": "SELECT id, slug, name FROM claims_speaker",
    "statement_speakers": f"""SELECT ss.statement_id, ss.speaker_id, ss.role, ss.position
        FROM claims_statementspeaker ss JOIN claims_statement s ON s.id = ss.statement_id
        WHERE s.status IN {PUBLIC}""",
    "topics": "SELECT id, slug, name FROM claims_topic",
    "statement_topics": f"""SELECT st.statement_id, st.topic_id
        FROM claims_statement_topics st JOIN claims_statement s ON s.id = st.statement_id
        WHERE s.status IN {PUBLIC}""",
}


def build(pg_url: str, path: Path) -> None:
    """Write the SQLite file (replacing any); the last step renames it into place."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    target = sqlite3.connect(partial)
    target.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
    source = psycopg2.connect(pg_url)
    try:
        for table, query in COPIES.items():
            with source.cursor(name=f"bench_{table}") as cursor:
                cursor.itersize = 20_000
                cursor.execute(query)
                first = cursor.fetchmany(1)
                if not first:
                    continue
                width = len(first[0])
                marks = ", ".join("?" * width)
                target.executemany(f"INSERT INTO {table} VALUES ({marks})", first)
                while rows := cursor.fetchmany(20_000):
                    target.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        target.commit()
        target.executescript(INDEXES)
        target.commit()
    finally:
        source.close()
        target.close()
    partial.replace(path)


def ensure_installed(say) -> Path:
    """Datasette's own virtual environment, created on first use; its executable."""
    executable = VENV / "bin" / "datasette"
    if not executable.exists():
        say(f"installing Datasette into {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    return executable


def serve(executable: Path, path: Path, port: int) -> subprocess.Popen:
    """Datasette on ``path`` (immutable: no locking, as for published data), 50 rows a page."""
    return subprocess.Popen(
        [str(executable), "serve", "--immutable", str(path), "--host", "127.0.0.1", "--port", str(port),
         "--setting", "default_page_size", "50", "--setting", "suggest_facets", "off",
         "--setting", "sql_time_limit_ms", "10000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
