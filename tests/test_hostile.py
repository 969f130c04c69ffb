"""Hostile input: each case is a clear 4xx (or a refused import) and the database is unchanged."""

import io

import pytest
from django.core.management import CommandError, call_command

from claims.models import Claim, Statement
from tests.factories import ClaimFactory, UserFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"


def test_deeply_nested_json_is_a_400(admin_api):
    body = "[" * 100_000 + "]" * 100_000
    response = admin_api.generic("POST", f"{API}/claims/", body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert not Claim.objects.exists()


def test_truncated_json_is_a_400(admin_api):
    response = admin_api.generic(
        "POST", f"{API}/claims/", '{"text": "cut off', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "parse_error"
    assert not Claim.objects.exists()


def test_a_megabyte_string_is_refused_with_the_limit(admin_api):
    response = admin_api.post(f"{API}/claims/", {"text": "x" * 1_000_000}, format="json")
    assert response.status_code in (400, 413)
    assert not Claim.objects.exists()


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 1_000_000},
        {"q": "a\x00b"},
        {"said_after": "2020-13-45"},
        {"said_after": "99999-01-01"},
        {"page_size": "-5"},
        {"page_size": "10000000000000000000000"},
        {"cursor": "forged-cursor"},
        {"cursor": "eyJvIjoiLXNhaWRfb24iLCJ2IjpbXX0"},
        {"speaker": "\u202eevil"},
        {"speaker": "s\x00lug"},
        {"topic": "\x00"},
        {"ordering": "id; DROP TABLE claims_statement"},
        {"status": "<script>"},
    ],
)
def test_hostile_query_parameters_are_400s(anon_api, params):
    response = anon_api.get(f"{API}/statements/", params)
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["attr"] in params


def test_a_nul_in_a_reference_filter_is_an_invalid_id(anon_api):
    for resource, name in (("statements", "speaker"), ("sources", "outlet"), ("claims", "topic")):
        response = anon_api.get(f"{API}/{resource}/", {name: "a\x00b"})
        assert response.status_code == 400
        assert response.json()["errors"][0] == {
            "code": "invalid",
            "detail": "'a\\x00b' is not a valid id (a UUID).",
            "attr": name,
        }


def test_control_characters_in_names_are_refused_or_kept_exactly(admin_api):
    text = "Line one\nline two\ttabbed \u200b zero-width \u0301 combining"
    response = admin_api.post(f"{API}/claims/", {"text": text}, format="json")
    assert response.status_code == 201
    assert Claim.objects.get().text == text


def test_html_is_escaped_in_the_admin(client):
    ClaimFactory(text="<script>alert('x')</script>")
    client.force_login(UserFactory(username="boss", is_superuser=True, is_staff=True))
    page = client.get("/admin/claims/claim/").content.decode()
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page


def test_wrong_encoding_in_an_import_is_refused_with_the_file(tmp_path):
    path = tmp_path / "statements.csv"
    path.write_bytes("id,text\n1,Erdo\u011fan said\n".encode("utf-16"))
    with pytest.raises(CommandError) as error:
        call_command("import_statements", str(path), stdout=io.StringIO())
    assert "UTF-8" in str(error.value) or "utf-8" in str(error.value)
    assert not Statement.objects.exists()


def test_wrong_encoding_in_a_data_package_is_refused(tmp_path):
    call_command("loaddata", "seed", verbosity=0)
    call_command("export_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    statements = tmp_path / "pkg" / "statements.csv"
    statements.write_bytes(statements.read_text(encoding="utf-8").encode("cp1254", errors="replace"))
    before = Statement.objects.count()
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert "statements.csv" in str(error.value) and "UTF-8" in str(error.value)
    assert Statement.objects.count() == before


@pytest.mark.parametrize("command", ["import_statements", "import_claimreview"])
def test_a_file_over_the_import_limit_is_refused_before_reading(tmp_path, settings, command):
    settings.IMPORT_MAX_BYTES = 1000
    path = tmp_path / "huge.jsonl"
    path.write_text('{"text": "x"}\n' * 500, encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command(command, str(path), stdout=io.StringIO())
    assert "more than the 1,000 an import reads (IMPORT_MAX_BYTES)" in str(error.value)
    assert not Statement.objects.exists() and not Claim.objects.exists()


def test_a_data_package_file_over_the_limit_is_refused(tmp_path, settings):
    call_command("loaddata", "seed", verbosity=0)
    call_command("export_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    settings.IMPORT_MAX_BYTES = 2000
    with pytest.raises(CommandError) as error:
        call_command("import_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    assert "statements.csv:" in str(error.value) and "IMPORT_MAX_BYTES" in str(error.value)
