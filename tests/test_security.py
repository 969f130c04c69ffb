"""Security: brute force on the admin login, and the OWASP API Top 10 items that apply."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def login(client, username, password):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR="203.0.113.9"
    )


def test_admin_login_locks_out_after_repeated_failures(settings):
    UserFactory(username="curator", password="right-password-123", is_staff=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "curator", "wrong").status_code == 200  # the form again, with an error
    assert login(client, "curator", "wrong").status_code == 429
    # Locked out: even the right password is refused now, and nothing is logged in.
    response = login(client, "curator", "right-password-123")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address, or another username, is not affected.
    other = Client()
    response = other.post(
        "/admin/login/?next=/admin/",
        {"username": "curator", "password": "right-password-123"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302


def test_a_successful_login_resets_the_count(settings):
    UserFactory(username="curator", password="right-password-123", is_staff=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "curator", "wrong")
    assert login(client, "curator", "right-password-123").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "curator", "wrong").status_code == 200


# ---------------------------------------------------------------- OWASP API Security Top 10 (2023)
#
# The items that apply, and where each is tested:
# API1 object-level authorization: drafts, their history and their ClaimReview are invisible to
#      anonymous clients (below; test_api_access.test_drafts_never_reach_anonymous_users).
# API2 authentication: expired and revoked tokens, session auth needs CSRF
#      (test_api_access.test_expired_and_revoked_tokens_are_refused, test_session_auth_needs_csrf);
#      admin brute force (above).
# API3 object-property-level authorization: status only by publishers, ids and audit fields not
#      mass-assignable (test_api_access.test_permission_matrix,
#      test_ids_status_and_audit_fields_are_not_mass_assignable); no internal fields in reads (below).
# API4 resource consumption: page size, search length, body size, rate limits (below;
#      test_api_errors.test_oversized_body_is_a_413; test_api_access rate-limit tests); exports stream.
# API5 function-level authorization: editors cannot delete or publish, anonymous clients cannot
#      write (test_api_access.test_permission_matrix); restore is for publishers (below).
# API8 security misconfiguration: production settings pass check --deploy
#      (test_project.test_production_settings_pass_the_deployment_checks); CORS without credentials
#      (test_api_access.test_cors_allows_configured_origins_without_credentials); JSON errors
#      without tracebacks (below).
# API9 inventory: the schema documents every route under /api/v1/ and nothing else (below).
# Not applicable: API6 (no sensitive business flows to automate), API7 (the server fetches no
# URLs given by clients), API10 (no third-party APIs consumed).

API = "/api/v1"


@pytest.fixture
def draft():
    from tests.factories import ClaimFactory, ReviewFactory, StatementFactory

    statement = StatementFactory(status="draft", text="Unpublished draft.")
    review = ReviewFactory(claim=ClaimFactory(statement=statement, status="published"), status="draft")
    return statement, review


def test_api1_drafts_their_history_and_claimreview_are_hidden(anon_api, draft):
    statement, review = draft
    assert anon_api.get(f"{API}/statements/{statement.public_id}/").status_code == 404
    assert anon_api.get(f"{API}/statements/{statement.public_id}/history/").status_code == 404
    assert anon_api.get(f"{API}/reviews/{review.public_id}/").status_code == 404
    assert anon_api.get(f"{API}/reviews/{review.public_id}/claimreview/").status_code == 404


def test_api3_reads_expose_no_internal_fields(admin_api, draft):
    statement, _ = draft
    record = admin_api.get(f"{API}/statements/{statement.public_id}/").json()
    assert record["id"] == str(statement.public_id)
    internal = {"pk", "search_vector", "created_by_id", "updated_by_id", "said_until_internal"}
    internal |= {name for name in record if name.startswith("export_")}
    assert not internal & set(record)
    assert not any(isinstance(v, int) and k.endswith("id") for k, v in record.items())


@pytest.mark.parametrize(
    ("url", "attr"),
    [
        (f"{API}/statements/?page_size=101", "page_size"),
        (f"{API}/statements/?page_size=0", "page_size"),
        (f"{API}/statements/?q={'x' * 201}", "q"),
        (f"{API}/claims/similar/?text={'x' * 5001}", "text"),
        (f"{API}/statements/?speaker={'&speaker='.join(['a'] * 51)}", "speaker"),
    ],
)
def test_api4_resource_limits(anon_api, url, attr):
    response = anon_api.get(url)
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == attr


def test_api5_only_publishers_restore_history(editor_api, publisher_api, draft):
    statement, _ = draft
    statement.text = "Edited."
    statement.save()
    url = f"{API}/statements/{statement.public_id}/"
    version = editor_api.get(f"{url}history/").json()["results"][-1]["version"]
    tag = editor_api.get(url)["ETag"]
    assert editor_api.post(f"{url}history/{version}/restore/", HTTP_IF_MATCH=tag).status_code == 403
    assert publisher_api.post(f"{url}history/{version}/restore/", HTTP_IF_MATCH=tag).status_code == 200


def test_api8_errors_are_json_without_internals(anon_api):
    for url in (f"{API}/nowhere/", f"{API}/statements/not-a-uuid/", "/api/other/"):
        response = anon_api.get(url)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert "Traceback" not in response.content.decode()


def test_api9_the_schema_documents_exactly_the_api(anon_api):
    from django.urls import get_resolver

    schema = anon_api.get("/api/schema/?format=json").json()
    documented = set(schema["paths"])
    assert documented and all(path.startswith("/api/v1/") for path in documented)
    routes = {str(p.pattern) for p in get_resolver().url_patterns}
    assert "api/v1/" in routes  # the only versioned API mounted
