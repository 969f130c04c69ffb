"""Bounded work per request (statement timeout) and read replicas."""

import os
import subprocess
import sys

import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from tests.factories import StatementFactory

API = "/api/v1"


def run_with_project_settings(script: str, **environment) -> str:
    """The last line ``script`` prints in a new process on the project's own settings."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **environment}
    env.pop("CLAIMS_WEB_PROCESS", None)
    run = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return run.stdout.strip().splitlines()[-1]


def show_statement_timeout(code_before: str) -> str:
    script = (
        f"{code_before}; from django.db import connection; cursor = connection.cursor(); "
        "cursor.execute('SHOW statement_timeout'); print(cursor.fetchone()[0])"
    )
    server = {}
    if os.environ.get("DATABASE_URL"):  # the server's own database, which always exists
        server["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    return run_with_project_settings(script, **server)


def test_the_web_server_cancels_long_queries_and_commands_do_not():
    # What gunicorn loads: every query of the process is bounded.
    assert show_statement_timeout("import project.wsgi") == "5s"
    # A management command (a migration, an import) is not.
    assert show_statement_timeout("import django; django.setup()") == "0"


@pytest.mark.django_db(transaction=True)
def test_a_request_past_the_timeout_is_a_503_that_says_so(anon_api):
    StatementFactory(status="published")
    params = connection.get_connection_params()
    blocker = psycopg2.connect(**params)
    try:
        with blocker.cursor() as cursor:  # holds the table until rollback
            cursor.execute("LOCK TABLE claims_statement IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 300")
        anon_api.raise_request_exception = False  # a 5xx is reported (logged) as well as answered
        response = anon_api.get(f"{API}/statements/")
    finally:
        blocker.rollback()
        blocker.close()
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "query_timeout"
    assert response["Retry-After"] == "5"
    # The table is free again: the next request is answered.
    assert anon_api.get(f"{API}/statements/").status_code == 200


# ---------------------------------------------------------------- read replicas

replicas = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


@pytest.fixture
def routed(settings):
    settings.READ_REPLICAS = ["replica"]
    settings.READ_YOUR_WRITES_SECONDS = 30


def queries_by_alias(do) -> tuple[list[str], list[str]]:
    """What ``do()`` sent to the primary and to the replica."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        do()
    return [q["sql"] for q in primary.captured_queries], [q["sql"] for q in replica.captured_queries]


def statement_queries(sqls):
    return [sql for sql in sqls if "claims_statement" in sql]


@replicas
def test_anonymous_reads_go_to_the_replica(routed, anon_api):
    statement = StatementFactory(status="published")
    for url in (f"{API}/statements/", f"{API}/statements/{statement.public_id}/", f"{API}/claims/"):
        primary, replica = queries_by_alias(lambda url=url: anon_api.get(url))
        assert replica, url
        assert not primary, (url, primary)


@replicas
def test_exports_stream_from_the_replica(routed, anon_api):
    from django.db.backends.signals import connection_created

    StatementFactory(status="published")
    opened = []

    def record(sender, connection, **kwargs):
        opened.append(connection.alias)

    # The COPY runs in a thread of its own, on a connection of its own: which alias it opens.
    connection_created.connect(record)
    try:
        response = anon_api.get(f"{API}/statements/export/?format=csv")
        assert response.status_code == 200
        assert b"".join(response.streaming_content).count(b"\n") == 2
    finally:
        connection_created.disconnect(record)
    assert opened == ["replica"]


@replicas
def test_writers_read_their_writes_from_the_primary(routed, groups, editor_api, anon_api):
    created = editor_api.post(
        f"{API}/statements/", {"text": "Fresh words.", "said_on": "2024-05-01", "speakers": []}, format="json"
    )
    assert created.status_code == 201, created.json()
    url = f"{API}/statements/{created.json()['id']}/"
    # The writer, within READ_YOUR_WRITES_SECONDS: the primary, which has the write.
    primary, replica = queries_by_alias(lambda: editor_api.get(url))
    assert statement_queries(primary) and not statement_queries(replica)
    # Anyone else: a replica.
    primary, replica = queries_by_alias(lambda: anon_api.get(f"{API}/statements/"))
    assert statement_queries(replica) and not statement_queries(primary)
    # Writes themselves always go to the primary.
    primary, replica = queries_by_alias(
        lambda: editor_api.patch(url, {"text": "Changed."}, format="json", HTTP_IF_MATCH="*")
    )
    assert any(sql.startswith("UPDATE") for sql in primary) and not statement_queries(replica)


@replicas
def test_the_admin_and_commands_use_the_primary(routed, client, superuser):
    StatementFactory(status="published")
    client.force_login(superuser)
    primary, replica = queries_by_alias(lambda: client.get("/admin/claims/statement/"))
    assert statement_queries(primary) and not replica
    from claims.models import Statement

    primary, replica = queries_by_alias(lambda: list(Statement.objects.all()))
    assert primary and not replica


def test_replica_urls_become_aliases():
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "print(sorted(settings.DATABASES), settings.READ_REPLICAS, "
        "settings.DATABASES['replica2']['HOST'], settings.DATABASES['replica2']['NAME'])"
    )
    printed = run_with_project_settings(
        script,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/claims",
        DATABASE_REPLICA_URLS="postgres://postgres@10.0.0.2:5432/claims, postgres://postgres@10.0.0.3/claims",
    )
    assert printed == "['default', 'replica1', 'replica2'] ['replica1', 'replica2'] 10.0.0.3 claims"
