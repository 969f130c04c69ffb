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


def show_statement_timeout(code_before: str) -> str:
    script = (
        f"{code_before}; from django.db import connection; cursor = connection.cursor(); "
        "cursor.execute('SHOW statement_timeout'); print(cursor.fetchone()[0])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"}
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
