"""Schema-driven fuzzing: Schemathesis generates requests from our own OpenAPI schema.

Every operation, anonymous and as a superuser (who may call every write), with
a bounded number of examples per operation here (FUZZ_EXAMPLES, default 15);
``make fuzz`` runs a larger number. The checks: no 5xx, responses (status
codes, content types, headers, bodies) as the schema documents them.
"""

import os

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from project.wsgi import application
from tests.factories import UserFactory

EXAMPLES = int(os.getenv("FUZZ_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.getenv("FUZZ_RANDOM") != "1",  # the same examples on every run, unless asked
)


@pytest.fixture
def archive(db, monkeypatch):
    # Rate limits would answer most examples with 429; they have their own tests.
    monkeypatch.setattr(SimpleRateThrottle, "allow_request", lambda self, request, view: True)
    # The WSGI app closes the database connection after each request; the test's
    # transaction must survive it (Django's test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    call_command("loaddata", "seed", verbosity=0)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(archive):
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=UserFactory(username="fuzzer", is_superuser=True, is_staff=True))
    return token


@schema.parametrize()
@fuzz
def test_anonymous(case, archive):
    case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@fuzz
def test_superuser(case, admin_token):
    case.call_and_validate(headers={"Authorization": f"Token {admin_token}"}, checks=CHECKS)
