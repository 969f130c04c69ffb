import pytest
from django.core.management import call_command


def test_no_missing_migrations(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_extensions_are_installed():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        assert {"unaccent", "pg_trgm"} <= {row[0] for row in cursor.fetchall()}


def test_healthz_reports_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_groups_exist_with_publish_rights_only_for_publishers(db):
    from django.contrib.auth.models import Group

    editors = set(Group.objects.get(name="editors").permissions.values_list("codename", flat=True))
    publishers = set(Group.objects.get(name="publishers").permissions.values_list("codename", flat=True))
    assert {"add_statement", "change_statement", "change_review"} <= editors
    assert not any(code.startswith("publish_") for code in editors)
    assert {"publish_statement", "publish_claim", "publish_review"} <= publishers
    assert "delete_source" not in editors
    assert editors < publishers


def _manage(*args, **env):
    import os
    import subprocess
    import sys

    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args], capture_output=True, text=True, env=environment, timeout=120
    )


def test_production_settings_pass_the_deployment_checks():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x7Gq2-" * 10, DJANGO_ALLOWED_HOSTS="claims.example.org",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_real_secret_key():
    result = _manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr
    result = _manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="short")
    assert result.returncode != 0 and "long random string" in result.stderr


def test_production_refuses_to_start_without_a_shared_rate_limit_cache():
    key = "x7Gq2-" * 10
    result = _manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=key, REDIS_URL="", RATE_LIMIT_CACHE="")
    assert result.returncode != 0 and "REDIS_URL must be set" in result.stderr
    # A single-process deployment says so.
    result = _manage(
        "check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY=key, REDIS_URL="", RATE_LIMIT_CACHE="local"
    )
    assert result.returncode == 0, result.stderr
