"""Who may do what: anonymous, editor, publisher, superuser; tokens; rate limits; CORS."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from claims.models import Claim, Statement, Status
from tests.conftest import token_client
from tests.factories import ClaimFactory, ReviewFactory, StatementFactory, UserFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"


def etag_of(client, url):
    return client.get(url)["ETag"]


def attempt(client, action, status_factory=StatementFactory):
    """Try one action on a statement; return the status code."""
    if action == "list":
        return client.get(f"{API}/statements/").status_code
    if action == "create_draft":
        return client.post(f"{API}/statements/", {"text": "New."}, format="json").status_code
    if action == "create_published":
        return client.post(
            f"{API}/statements/", {"text": "New.", "status": "published"}, format="json"
        ).status_code
    statement = status_factory(status=Status.PUBLISHED if action.startswith("retract") else Status.DRAFT)
    url = f"{API}/statements/{statement.public_id}/"
    admin = token_client(UserFactory(username="etag-reader", is_superuser=True))
    tag = etag_of(admin, url)
    if action == "retrieve_draft":
        return client.get(url).status_code
    if action == "edit_draft":
        return client.patch(url, {"text": "Edited."}, format="json", HTTP_IF_MATCH=tag).status_code
    if action == "publish":
        return client.patch(url, {"status": "published"}, format="json", HTTP_IF_MATCH=tag).status_code
    if action == "retract":
        return client.patch(url, {"status": "retracted"}, format="json", HTTP_IF_MATCH=tag).status_code
    if action == "delete":
        return client.delete(url, HTTP_IF_MATCH=tag).status_code
    raise AssertionError(action)


MATRIX = {
    #                  anonymous  editor  publisher  superuser
    "list": (200, 200, 200, 200),
    "retrieve_draft": (404, 200, 200, 200),
    "create_draft": (401, 201, 201, 201),
    "create_published": (401, 403, 201, 201),
    "edit_draft": (401, 200, 200, 200),
    "publish": (401, 403, 200, 200),
    "retract": (401, 403, 200, 200),
    "delete": (401, 403, 204, 204),
}
ROLES = ["anonymous", "editor", "publisher", "superuser"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
def test_permission_matrix(request, role, action):
    user = None if role == "anonymous" else request.getfixturevalue(role)
    expected = MATRIX[action][ROLES.index(role)]
    before = Statement.objects.count()
    assert attempt(token_client(user), action) == expected
    if expected >= 400 and action.startswith("create"):
        assert Statement.objects.count() == before


def test_refused_publish_changes_nothing(editor_api):
    statement = StatementFactory(text="Draft text.")
    url = f"{API}/statements/{statement.public_id}/"
    response = editor_api.patch(
        url, {"status": "published", "text": "Sneaky."}, format="json", HTTP_IF_MATCH=etag_of(editor_api, url)
    )
    assert response.status_code == 403
    assert "Only publishers" in response.json()["errors"][0]["detail"]
    statement.refresh_from_db()
    assert (statement.status, statement.text) == (Status.DRAFT, "Draft text.")


def test_ids_status_and_audit_fields_are_not_mass_assignable(editor_api, editor, superuser):
    forged = {
        "text": "New.",
        "id": "00000000-0000-0000-0000-000000000001",
        "public_id": "00000000-0000-0000-0000-000000000001",
        "created_by": superuser.pk,
        "updated_by": superuser.pk,
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
        "said_until": "2000-01-01",
    }
    response = editor_api.post(f"{API}/statements/", forged, format="json")
    assert response.status_code == 201
    statement = Statement.objects.get()
    assert str(statement.public_id) != forged["id"]
    assert statement.created_by == editor and statement.updated_by == editor
    assert statement.created_at.year == timezone.now().year
    assert statement.history.get().history_user == editor


def test_drafts_never_reach_anonymous_users(anon_api):
    draft = StatementFactory(status=Status.DRAFT, text="Secret draft.")
    published = StatementFactory(status=Status.PUBLISHED)
    retracted = StatementFactory(status=Status.RETRACTED)
    draft_claim = ClaimFactory(statement=published, status=Status.DRAFT)
    public_claim = ClaimFactory(
        statement=draft, status=Status.PUBLISHED, text="Public claim of a draft statement."
    )
    ReviewFactory(claim=public_claim, status=Status.DRAFT)

    listed = {r["id"] for r in anon_api.get(f"{API}/statements/").json()["results"]}
    assert listed == {str(published.public_id), str(retracted.public_id)}
    assert anon_api.get(f"{API}/statements/{draft.public_id}/").status_code == 404
    # Nor through the records that point at them.
    assert anon_api.get(f"{API}/statements/{published.public_id}/").json()["claims"] == []
    claim = anon_api.get(f"{API}/claims/{public_claim.public_id}/").json()
    assert claim["statement"] is None and claim["reviews"] == []
    assert anon_api.get(f"{API}/claims/{draft_claim.public_id}/").status_code == 404
    assert anon_api.get(f"{API}/reviews/").json()["results"] == []
    assert anon_api.get(f"{API}/statements/{draft.public_id}/history/").status_code == 404
    assert "Secret draft" not in anon_api.get(f"{API}/statements/?q=secret").content.decode()


def test_retracted_records_are_visible_as_retracted(anon_api):
    retracted = StatementFactory(status=Status.RETRACTED)
    assert anon_api.get(f"{API}/statements/{retracted.public_id}/").json()["status"] == "retracted"


def test_authenticated_user_without_a_role_reads_public_data_only():
    client = token_client(UserFactory(username="reader", is_staff=False))
    StatementFactory(status=Status.DRAFT)
    assert client.get(f"{API}/statements/").json()["results"] == []
    assert client.post(f"{API}/statements/", {"text": "x"}, format="json").status_code == 403


# ---------------------------------------------------------------- tokens


def test_create_api_token_prints_only_a_working_token(editor):
    out = io.StringIO()
    call_command("create_api_token", "editor", stdout=out)
    token = out.getvalue().strip()
    assert "\n" not in token and len(token) >= 40
    stored = AuthToken.objects.get(user=editor)
    assert token not in (stored.digest, stored.token_key)  # only a hash is kept
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post(f"{API}/claims/", {"text": "Via token."}, format="json").status_code == 201


def test_create_api_token_refuses_unknown_users(db):
    with pytest.raises(CommandError, match="No user named"):
        call_command("create_api_token", "nobody")


def test_expired_and_revoked_tokens_are_refused(editor):
    instance, token = AuthToken.objects.create(user=editor, expiry=datetime.timedelta(seconds=-1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post(f"{API}/claims/", {"text": "x"}, format="json").status_code == 401

    instance, token = AuthToken.objects.create(user=editor)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(f"{API}/claims/").status_code == 200
    instance.delete()  # revoking in the admin deletes the token
    assert client.get(f"{API}/claims/").status_code == 401
    assert not Claim.objects.exists()


def test_session_auth_needs_csrf(editor):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(editor)
    response = client.post(f"{API}/claims/", {"text": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["detail"]


# ---------------------------------------------------------------- rate limits and CORS


def test_anonymous_clients_are_rate_limited(anon_api, rates):
    rates(anon="3/minute", user="100/minute")
    assert [anon_api.get(f"{API}/topics/").status_code for _ in range(4)] == [200, 200, 200, 429]
    response = anon_api.get(f"{API}/topics/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["errors"][0]["code"] == "throttled"


def test_authenticated_clients_have_their_own_limit(editor_api, rates):
    rates(anon="1/minute", user="2/minute")
    assert [editor_api.get(f"{API}/topics/").status_code for _ in range(3)] == [200, 200, 429]


@override_settings(CORS_ALLOWED_ORIGINS=["https://newsroom.example"])
def test_cors_allows_configured_origins_without_credentials(anon_api):
    response = anon_api.get(f"{API}/topics/", HTTP_ORIGIN="https://newsroom.example")
    assert response["Access-Control-Allow-Origin"] == "https://newsroom.example"
    assert "Access-Control-Allow-Credentials" not in response
    other = anon_api.get(f"{API}/topics/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other


def test_rate_limits_are_shared_through_redis(anon_api, rates, settings):
    """With REDIS_URL, every server process counts against the same limit."""
    import redis
    from django.core.cache import caches

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server on 127.0.0.1:6379")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    rates(anon="2/minute", user="100/minute")
    caches["default"].clear()
    try:
        assert anon_api.get(f"{API}/topics/").status_code == 200
        # A second process reads the same counter from Redis.
        assert any(b"throttle_anon" in key for key in redis.Redis.from_url(url).keys("*"))
        assert anon_api.get(f"{API}/topics/").status_code == 200
        assert anon_api.get(f"{API}/topics/").status_code == 429
    finally:
        caches["default"].clear()
