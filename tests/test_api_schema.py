"""The OpenAPI schema is valid, complete, and its docs are served without a CDN."""

import pytest
from django.core.management import call_command
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/v1/statements/",
        "/api/v1/claims/{id}/history/",
        "/api/v1/reviews/{id}/history/{version}/restore/",
    ):
        assert path in text


def test_schema_documents_filters_and_errors(anon_api):
    schema = anon_api.get("/api/schema/?format=json").json()
    params = {p["name"] for p in schema["paths"]["/api/v1/statements/"]["get"]["parameters"]}
    assert {
        "q",
        "speaker",
        "affiliation",
        "outlet",
        "source",
        "topic",
        "language",
        "said_after",
        "said_before",
        "status",
        "responds_to",
        "ordering",
        "updated_since",
        "cursor",
        "page_size",
    } <= params
    patch = schema["paths"]["/api/v1/statements/{id}/"]["patch"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in patch["parameters"])
    assert "400" in schema["paths"]["/api/v1/statements/"]["get"]["responses"]
    assert {"400", "404", "412", "428"} <= set(patch["responses"])
    assert "409" in schema["paths"]["/api/v1/statements/{id}/"]["delete"]["responses"]
    assert "429" in schema["paths"]["/api/v1/claims/"]["get"]["responses"]


def test_docs_page_uses_local_assets_only(anon_api):
    html = anon_api.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


@override_settings(DEBUG=False)
def test_unknown_api_path_is_json_with_debug_off(anon_api):
    response = anon_api.get("/api/v2/anything")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"
