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
