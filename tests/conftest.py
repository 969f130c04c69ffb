import importlib

import pytest

from tests.factories import UserFactory


@pytest.fixture
def editor(db):
    return UserFactory(username="editor", groups=["editors"])


@pytest.fixture
def publisher(db):
    return UserFactory(username="publisher", groups=["publishers"])


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def groups(db):
    """The editors and publishers groups as migration 0002 makes them, for transactional
    tests (whose flush between tests removes what migrations created)."""
    from django.contrib.auth.models import Group, Permission

    migration = importlib.import_module("claims.migrations.0002_extensions_and_groups")
    claims = Permission.objects.filter(content_type__app_label="claims")
    for name, codenames in migration.group_codenames().items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(claims.filter(codename__in=codenames))


@pytest.fixture(autouse=True)
def _documents_built_at_each_write(request):
    """A statement's documents are built when its transaction commits (claims/documents/), and a
    test's transaction never commits: for a test in one, they are built at each write instead
    (documents.built_at_each_write), so that what the test reads is what a reader after the
    commit would. Transactional tests commit, and build as in production; tests of the
    deferral itself turn this off again."""
    marker = request.node.get_closest_marker("django_db")
    transactional = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    if transactional or (marker is None and "db" not in request.fixturenames):
        return
    request.getfixturevalue("db")
    from django.db import connection

    from claims import documents

    with connection.cursor() as cursor:
        documents.built_at_each_write(cursor)


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate-limit counters live in the cache; each test starts with none.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def rates(monkeypatch):
    """Set the rate limits for one test (DRF reads them once, into the throttle class)."""
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**rates):
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)

    return set_rates


def token_client(user=None):
    """An API client that authenticates the way real clients do: with a token header."""
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def anon_api(db):
    return token_client()


@pytest.fixture
def editor_api(editor):
    return token_client(editor)


@pytest.fixture
def publisher_api(publisher):
    return token_client(publisher)


@pytest.fixture
def admin_api(superuser):
    return token_client(superuser)
