"""The side doors outside testing found (issue 18), each with the test that failed before its fix."""

import datetime
import json
import re
import threading
import time

import psycopg2
import pytest
from django.db import connection

from tests.conftest import token_client
from tests.factories import ClaimFactory, StatementFactory, UserFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"


def etag(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.content
    return response["ETag"]


def patch(client, url, data):
    response = client.patch(url, data, format="json", HTTP_IF_MATCH=etag(client, url))
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def curators(db):
    editor = UserFactory(username="ed-the-editor", groups=["editors"])
    publisher = UserFactory(username="pat-the-publisher", groups=["publishers"])
    return token_client(editor), token_client(publisher)


@pytest.fixture
def published_after_drafts(curators):
    """A statement written as a draft, reworded twice, then published and corrected."""
    editor_api, publisher_api = curators
    statement = StatementFactory(status="draft", text="SECRETDRAFTWORDING first try.")
    url = f"{API}/statements/{statement.public_id}/"
    patch(editor_api, url, {"text": "SECRETDRAFTWORDING second try."})
    patch(editor_api, url, {"text": "The wording as published."})
    patch(publisher_api, url, {"status": "published"})
    patch(publisher_api, url, {"text": "The wording as corrected."})
    return url


# ---------------------------------------------------------------- 1. history


def test_public_history_shows_only_public_versions_and_no_names(anon_api, published_after_drafts):
    response = anon_api.get(published_after_drafts + "history/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "SECRETDRAFTWORDING" not in body
    assert "ed-the-editor" not in body and "pat-the-publisher" not in body
    versions = response.json()["results"]
    assert len(versions) == 2  # the publication and the correction; none of the drafts
    assert all(version["user"] is None for version in versions)
    correction, publication = versions
    # Compared with the public version before it; the first public one with nothing before it.
    assert {c["field"]: (c["old"], c["new"]) for c in correction["changes"]} == {
        "text": ("The wording as published.", "The wording as corrected.")
    }
    assert publication["changes"] == []
    assert not any(c["field"] in ("created_by", "updated_by") for v in versions for c in v["changes"])


def test_curators_see_every_version_and_who_made_it(curators, published_after_drafts):
    editor_api, _ = curators
    versions = editor_api.get(published_after_drafts + "history/").json()["results"]
    assert len(versions) == 5
    assert {v["user"] for v in versions} >= {"ed-the-editor", "pat-the-publisher"}
    assert "SECRETDRAFTWORDING" in json.dumps(versions)


@pytest.mark.parametrize(
    ("setting", "shown"),
    [("role", {"publisher"}), ("The verification desk", {"The verification desk"})],
)
def test_public_history_names_the_organisations_choice(
    settings, anon_api, published_after_drafts, setting, shown
):
    settings.HISTORY_PUBLIC_AUTHOR = setting
    versions = anon_api.get(published_after_drafts + "history/").json()["results"]
    assert {v["user"] for v in versions} == shown


def test_public_history_of_a_claim_hides_its_draft_statement(anon_api, curators):
    _, publisher_api = curators
    draft = StatementFactory(status="draft", text="Unpublished.")
    claim = ClaimFactory(statement=None, status="published", text="A published claim.")
    url = f"{API}/claims/{claim.public_id}/"
    patch(publisher_api, url, {"statement": str(draft.public_id)})
    body = anon_api.get(url + "history/").content.decode()
    assert str(draft.public_id) not in body
    changes = {c["field"]: c for v in anon_api.get(url + "history/").json()["results"] for c in v["changes"]}
    assert changes["statement"]["new"] is None


# ---------------------------------------------------------------- 9. 500s


@pytest.mark.parametrize(
    "url",
    [
        f"{API}/statements/?said_after=0001-01-01",
        f"{API}/statements/?said_after=0001-01-01&ordering=said_on",
        f"{API}/claims/?said_after=0001-01-01",
        f"{API}/statements/?said_before=0001-01-01",
    ],
)
def test_the_earliest_dates_are_answered(anon_api, url):
    StatementFactory(status="published")
    assert anon_api.get(url).status_code == 200


@pytest.mark.parametrize("resource", ["speakers", "topics", "outlets", "sources", "statements"])
def test_a_nul_in_an_id_or_slug_is_a_404(anon_api, resource):
    response = anon_api.get(f"{API}/{resource}/%00/")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["patch", "delete"])
def test_a_write_racing_a_delete_with_the_same_etag_is_a_412(method):
    """The write waits for the deleting transaction's row lock; when it gets the row, there is none."""
    superuser = UserFactory(username="racer", is_superuser=True)
    claim = ClaimFactory(text="Original.", status="published")
    url = f"{API}/claims/{claim.public_id}/"
    client = token_client(superuser)
    tag = etag(client, url)
    holder = psycopg2.connect(**connection.get_connection_params())
    results = []
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM claims_claim WHERE id = %s FOR UPDATE", [claim.pk])

            def write():
                try:
                    response = getattr(client, method)(
                        url, {"text": "Edit."}, format="json", HTTP_IF_MATCH=tag
                    )
                    results.append(response)
                finally:
                    connection.close()

            thread = threading.Thread(target=write)
            thread.start()
            waiting_for_the_lock(holder, results)
            cursor.execute("DELETE FROM claims_claim WHERE id = %s", [claim.pk])
        holder.commit()
        thread.join(30)
    finally:
        holder.close()
    assert [r.status_code for r in results] == [412], [r.content for r in results]
    assert "deleted" in results[0].json()["errors"][0]["detail"]


def waiting_for_the_lock(holder, results, seconds=20):
    deadline = time.monotonic() + seconds
    with holder.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction the statistics views are a snapshot, taken at their first read.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"the write never waited for the row lock: {[r.content for r in results]}")


# ---------------------------------------------------------------- 10. ETags cover nested data


@pytest.mark.parametrize("reader", ["anonymous", "curator"])
def test_a_statements_etag_changes_when_its_claim_changes(curators, reader):
    editor_api, publisher_api = curators
    client = token_client() if reader == "anonymous" else editor_api
    statement = StatementFactory(status="published", text="Said.")
    claim = ClaimFactory(statement=statement, status="published", text="Checkable before.")
    url = f"{API}/statements/{statement.public_id}/"
    before = etag(client, url)
    assert client.get(url, HTTP_IF_NONE_MATCH=before).status_code == 304
    patch(publisher_api, f"{API}/claims/{claim.public_id}/", {"text": "Checkable after."})
    response = client.get(url, HTTP_IF_NONE_MATCH=before)
    assert response.status_code == 200
    assert "Checkable after." in response.content.decode()
    assert response["ETag"] != before


def test_a_write_with_an_etag_read_before_a_nested_change_is_refused(curators):
    editor_api, publisher_api = curators
    statement = StatementFactory(status="draft", text="Said.")
    claim = ClaimFactory(statement=statement, status="draft", text="Checkable before.")
    url = f"{API}/statements/{statement.public_id}/"
    before = etag(editor_api, url)
    patch(publisher_api, f"{API}/claims/{claim.public_id}/", {"text": "Checkable after."})
    response = editor_api.patch(url, {"text": "Reworded."}, format="json", HTTP_IF_MATCH=before)
    assert response.status_code == 412
    # The ETag a write answers is the one the next read gives, so writes can follow each other.
    tag = editor_api.patch(url, {"text": "Reworded."}, format="json", HTTP_IF_MATCH=etag(editor_api, url))[
        "ETag"
    ]
    assert tag == etag(editor_api, url)


# ---------------------------------------------------------------- 2. a published claim's draft statement


@pytest.fixture
def claim_of_a_draft(db):
    from tests.factories import SpeakerFactory

    speaker = SpeakerFactory(slug="hidden-speaker")
    draft = StatementFactory(status="draft", said_on=datetime.date(2011, 5, 5), speakers=[speaker])
    claim = ClaimFactory(statement=draft, status="published", text="A claim made public early.")
    return claim, draft, speaker


@pytest.mark.parametrize(
    "query", ["said_after=2011-05-01", "said_before=2011-05-31", "speaker=hidden-speaker"]
)
def test_claim_filters_do_not_answer_from_a_draft_statement(anon_api, editor_api, claim_of_a_draft, query):
    claim, _, _ = claim_of_a_draft
    found = anon_api.get(f"{API}/claims/?{query}")
    assert found.status_code == 200
    assert found.json()["results"] == []
    # Curators, who see the draft, find the claim by it.
    assert [c["id"] for c in editor_api.get(f"{API}/claims/?{query}").json()["results"]] == [
        str(claim.public_id)
    ]


def test_a_drafts_id_answers_as_an_unknown_id_does(anon_api, editor_api, claim_of_a_draft):
    _, draft, _ = claim_of_a_draft
    draft_claim = ClaimFactory(statement=None, status="draft")
    unknown = "00000000-0000-0000-0000-000000000000"
    for url, hidden in [
        (f"{API}/statements/?responds_to=", draft.public_id),
        (f"{API}/reviews/?claim=", draft_claim.public_id),
        (f"{API}/claims/?statement=", draft.public_id),
    ]:
        if "claims/?statement" in url and anon_api.get(url + unknown).status_code != 400:
            continue  # no such filter
        to_unknown, to_hidden = anon_api.get(f"{url}{unknown}"), anon_api.get(f"{url}{hidden}")
        assert (to_unknown.status_code, to_hidden.status_code) == (400, 400), url
        assert to_hidden.json()["errors"][0]["code"] == to_unknown.json()["errors"][0]["code"] == "not_found"
        assert editor_api.get(f"{url}{hidden}").status_code == 200


# ---------------------------------------------------------------- the draft-marker grep

MARKERS = ("zebrafishmarker", "ocelotmarker", "lynxmarker")


@pytest.fixture
def drafts_with_markers(db):
    """Drafts whose words and ids must reach no anonymous reader, beside the public records
    that refer to them."""
    from claims.models import Appearance, LinkType, StatementLink
    from tests.factories import FactCheckerFactory, ReviewFactory, SourceFactory, SpeakerFactory

    speaker = SpeakerFactory(slug="a-public-speaker")
    source = SourceFactory(title="A public source")
    draft = StatementFactory(
        status="draft", text="ZEBRAFISHMARKER harbour quarantine words", speakers=[speaker]
    )
    Appearance.objects.create(statement=draft, source=source, quote="ZEBRAFISHMARKER as printed")
    published = StatementFactory(status="published", text="A published statement.", speakers=[speaker])
    StatementLink.objects.create(from_statement=published, to_statement=draft, type=LinkType.RESPONDS_TO)
    claim = ClaimFactory(statement=draft, status="published", text="A claim made public early.")
    review = ReviewFactory(claim=claim, status="published", reviewer=FactCheckerFactory())
    draft_claim = ClaimFactory(statement=published, status="draft", text="OCELOTMARKER unchecked")
    draft_review = ReviewFactory(claim=claim, status="draft", summary="LYNXMARKER verdict pending")
    hidden = [*MARKERS, *(str(r.public_id) for r in (draft, draft_claim, draft_review))]
    return {
        "statement": published,
        "claim": claim,
        "review": review,
        "source": source,
        "speaker": speaker,
        "hidden": hidden,
    }


def anonymous_urls(records):
    statement, claim, review = records["statement"], records["claim"], records["review"]
    resources = ("statements", "claims", "reviews", "sources", "speakers", "outlets", "topics")
    urls = [f"{API}/{resource}/" for resource in resources]
    for resource, record in (
        ("statements", statement),
        ("claims", claim),
        ("reviews", review),
        ("sources", records["source"]),
        ("speakers", records["speaker"]),
        ("outlets", review.reviewer),
    ):
        urls += [f"{API}/{resource}/{record.public_id}/", f"{API}/{resource}/{record.public_id}/history/"]
    urls += [
        f"{API}/speakers/{records['speaker'].slug}/",
        f"{API}/reviews/{review.public_id}/claimreview/",
        f"{API}/claims/similar/?text=zebrafishmarker harbour quarantine words",
        f"{API}/claims/similar/?text=ocelotmarker unchecked",
        f"{API}/claims/export/?format=csv",
        f"{API}/claims/export/?format=jsonl",
        f"{API}/claims/export/?format=claimreview",
        "/api/schema/",
    ]
    for resource in ("statements", "claims", "sources", "speakers"):  # (reviews have no q)
        urls += [f"{API}/{resource}/?q={marker}" for marker in MARKERS]
    urls += [f"{API}/claims/?said_after=2020-01-01", f"{API}/claims/?speaker=a-public-speaker"]
    return urls


def body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode().lower()


@pytest.mark.django_db(transaction=True)
def test_no_anonymous_endpoint_shows_a_draft(drafts_with_markers):
    """Every anonymous endpoint: no draft's words or id in what it answers, and a search for
    a draft's words finds nothing (a match shows a record, not the words it matched by)."""
    anon_api, records = token_client(), drafts_with_markers
    leaks = {}
    for url in anonymous_urls(records):
        response = anon_api.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        text = body(response)
        if "export" in url:  # the grep means something only where the public records are
            shown = {"statements": records["statement"], "claimreview": records["review"]}.get(
                "statements" if "statements" in url else url.rsplit("=", 1)[-1], records["claim"]
            )
            assert str(shown.public_id) in text, url
        found = [hidden for hidden in records["hidden"] if hidden in text]
        if ("q=" in url or "similar" in url) and any(marker in url for marker in MARKERS):
            found += [f"found by a draft's words: {result['id']}" for result in json.loads(text)["results"]]
        if found:
            leaks[url] = found
    assert leaks == {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("export_format", ["csv", "jsonl"])
def test_the_statements_exports_show_no_draft_id(drafts_with_markers, export_format):
    """A statement responding to a draft and to a public statement lists only the public one for
    anonymous readers; curators get the stored list, both ids."""
    from claims.models import LinkType, StatementLink

    published = drafts_with_markers["statement"]
    answered = StatementFactory(status="published", text="Answered in public.")
    StatementLink.objects.create(from_statement=published, to_statement=answered, type=LinkType.RESPONDS_TO)
    url = f"{API}/statements/export/?format={export_format}"
    exported = body(token_client().get(url))
    assert str(published.public_id) in exported and str(answered.public_id) in exported
    assert not any(hidden in exported for hidden in drafts_with_markers["hidden"])
    if export_format == "jsonl":
        line = next(json.loads(row) for row in exported.splitlines() if str(published.public_id) in row[:60])
        assert line["responds_to"] == [str(answered.public_id)]
        assert list(line) == list(json.loads(published.__class__.objects.get(pk=published.pk).export_jsonl))
    # Curators get the stored list: the draft responded to, then the public statement.
    curator = token_client(UserFactory(username="curious-curator", is_superuser=True))
    row = next(r for r in body(curator.get(url)).splitlines() if str(published.public_id) in r[:60])
    draft_id = drafts_with_markers["hidden"][3]
    assert row.index(draft_id) < row.index(str(answered.public_id))


# ---------------------------------------------------------------- 7. restore validates


def test_a_restore_that_would_make_a_citation_cycle_is_refused(curators):
    from tests.factories import SourceFactory

    _, publisher_api = curators
    first, second = SourceFactory(title="First"), SourceFactory(title="Second")
    first_url, second_url = f"{API}/sources/{first.public_id}/", f"{API}/sources/{second.public_id}/"
    patch(publisher_api, first_url, {"cites": str(second.public_id)})
    citing = publisher_api.get(first_url + "history/").json()["results"][0]["version"]
    patch(publisher_api, first_url, {"cites": None})
    patch(publisher_api, second_url, {"cites": str(first.public_id)})
    response = publisher_api.post(
        f"{first_url}history/{citing}/restore/", HTTP_IF_MATCH=etag(publisher_api, first_url)
    )
    assert response.status_code == 400, response.content
    assert "citation cycle" in response.json()["errors"][0]["detail"]
    first.refresh_from_db()
    assert first.cites_id is None
    # Both stay editable, and a good restore still works.
    patch(publisher_api, first_url, {"title": "First, retitled"})
    patch(publisher_api, second_url, {"cites": None})
    response = publisher_api.post(
        f"{first_url}history/{citing}/restore/", HTTP_IF_MATCH=etag(publisher_api, first_url)
    )
    assert response.status_code == 200, response.content


# ---------------------------------------------------------------- 3. rate limits


def test_a_forged_forwarded_for_does_not_escape_the_limit(anon_api, rates):
    rates(anon="3/minute", user="100/minute")
    codes = [
        anon_api.get(f"{API}/topics/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_behind_trusted_proxies_the_client_is_what_the_last_proxy_saw(anon_api, rates, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(anon="2/minute", user="100/minute")

    def get(forwarded):
        return anon_api.get(f"{API}/topics/", HTTP_X_FORWARDED_FOR=forwarded).status_code

    # What the client puts first is forged at will; the proxy appends the address it saw.
    assert [get(f"10.0.0.{n}, 203.0.113.5") for n in range(3)] == [200, 200, 429]
    assert get("203.0.113.6") == 200  # another client


def test_exports_per_client_are_limited_while_they_stream(settings):
    settings.API_EXPORTS_PER_CLIENT = 2
    StatementFactory(status="published")
    client = token_client()
    streaming = [client.get(f"{API}/statements/export/?format=csv") for _ in range(2)]
    assert [r.status_code for r in streaming] == [200, 200]
    refused = client.get(f"{API}/claims/export/?format=csv")
    assert refused.status_code == 429
    assert "At most 2 exports" in refused.json()["errors"][0]["detail"]
    # Another client is not affected.
    assert (
        token_client().get(f"{API}/statements/export/?format=csv", REMOTE_ADDR="198.51.100.9").status_code
        == 200
    )
    # One read to its end (or closed) frees its slot.
    b"".join(streaming[0].streaming_content)
    streaming[0].close()
    again = client.get(f"{API}/statements/export/?format=csv")
    assert again.status_code == 200
    for response in (streaming[1], again):
        response.close()
    assert client.get(f"{API}/statements/export/?format=csv").status_code == 200


# ---------------------------------------------------------------- 8. evidence does not vanish


def test_a_source_used_as_evidence_and_a_topic_in_use_cannot_be_deleted(admin_api):
    from claims.models import Source, Topic
    from tests.factories import ReviewFactory, SourceFactory, TopicFactory

    source = SourceFactory()
    review = ReviewFactory(status="published")
    review.evidence.add(source)
    topic = TopicFactory(slug="in-use")
    StatementFactory(status="published").topics.add(topic)
    for url in (f"{API}/sources/{source.public_id}/", f"{API}/topics/{topic.slug}/"):
        response = admin_api.delete(url, HTTP_IF_MATCH=etag(admin_api, url))
        assert response.status_code == 409, response.content
        assert "still referenced by 1 " in response.json()["errors"][0]["detail"]
    assert Source.objects.filter(pk=source.pk).exists() and Topic.objects.filter(pk=topic.pk).exists()
    assert list(review.evidence.all()) == [source]
    # Unused ones go as before.
    unused = TopicFactory(slug="unused")
    url = f"{API}/topics/{unused.slug}/"
    assert admin_api.delete(url, HTTP_IF_MATCH=etag(admin_api, url)).status_code == 204


@pytest.mark.parametrize("status", ["published", "retracted"])
def test_public_records_are_not_deleted_but_drafts_are(admin_api, status):
    kept = StatementFactory(status=status)
    url = f"{API}/statements/{kept.public_id}/"
    response = admin_api.delete(url, HTTP_IF_MATCH=etag(admin_api, url))
    assert response.status_code == 409
    assert "Retract it instead" in response.json()["errors"][0]["detail"]
    draft = StatementFactory(status="draft")
    url = f"{API}/statements/{draft.public_id}/"
    assert admin_api.delete(url, HTTP_IF_MATCH=etag(admin_api, url)).status_code == 204


def test_the_admin_delete_page_refuses_public_records_and_used_evidence(client):
    from tests.factories import ReviewFactory, SourceFactory

    client.force_login(UserFactory(username="boss", is_superuser=True, is_staff=True))
    kept = StatementFactory(status="retracted", text="Kept for the record.")
    page = client.get(f"/admin/claims/statement/{kept.pk}/delete/")
    assert page.status_code == 200
    assert "Retract it instead" in page.content.decode()
    refused = client.post(f"/admin/claims/statement/{kept.pk}/delete/", {"post": "yes"})
    assert "Cannot delete" in refused.content.decode()  # the page again, nothing deleted
    assert type(kept).objects.filter(pk=kept.pk).exists()
    source = SourceFactory()
    ReviewFactory().evidence.add(source)
    page = client.get(f"/admin/claims/source/{source.pk}/delete/")
    assert "Review:" in page.content.decode()
    assert (
        "Cannot delete"
        in client.post(f"/admin/claims/source/{source.pk}/delete/", {"post": "yes"}).content.decode()
    )
    assert type(source).objects.filter(pk=source.pk).exists()


# ---------------------------------------------------------------- 11. hardening


@pytest.mark.parametrize("url", ["/admin/login/", "/api/docs/"])
def test_pages_carry_a_content_security_policy_without_inline_scripts(client, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    # Every script the page runs is a file of this site: none inline (the policy would block it).
    scripts = re.findall(r"<script\b([^>]*)>", response.content.decode())
    assert scripts and all("src=" in attrs or "application/json" in attrs for attrs in scripts), scripts


# ---------------------------------------------------------------- 9. imports: limits and bad input


def run_import(command, path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError) as error:
        call_command(command, str(path), stdout=io.StringIO())
    return str(error.value)


@pytest.mark.parametrize("command", ["import_statements", "import_claimreview"])
@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000 + "\n", '{"text": ' + '{"a":' * 50_000 + "1" + "}" * 50_001 + "\n"]
)
def test_deeply_nested_json_is_refused_with_a_message(tmp_path, command, text):
    path = tmp_path / "deep.jsonl"
    path.write_text(text)
    message = run_import(command, path)
    assert "Nothing was imported" in message
    assert "nested too deeply" in message or "not JSON Lines, nor CSV" in message


def test_a_statement_id_twice_in_one_file_is_refused(tmp_path):
    from claims.models import Statement

    line = '{"id": "8ad72a13-49db-432b-a8a0-f69cd86ccda7", "text": "Hello.", "said_on": "2020-01-01"}\n'
    path = tmp_path / "twice.jsonl"
    path.write_text(line + line)
    assert "line 2: id 8ad72a13-49db-432b-a8a0-f69cd86ccda7 appears twice (first on line 1)" in run_import(
        "import_statements", path
    )
    assert not Statement.objects.exists()


def test_imports_apply_the_apis_length_limits(tmp_path):
    """A data package's source description longer than the API takes (5,000 characters) is refused."""
    import io

    from django.core.management import call_command

    from claims.models import Source
    from tests.factories import SourceFactory

    SourceFactory(description="Short.")
    call_command("export_dataset", str(tmp_path / "pkg"), stdout=io.StringIO())
    Source.objects.all().delete()
    sources = tmp_path / "pkg" / "sources.csv"
    sources.write_text(sources.read_text().replace("Short.", "x" * 30_000))
    message = run_import("import_dataset", tmp_path / "pkg")
    assert "description: Ensure this value has at most 5000 characters (it has 30000)" in message
    assert not Source.objects.exists()


# ---------------------------------------------------------------- 6. editors' changes to public records


@pytest.mark.parametrize("status", ["published", "retracted"])
def test_an_editors_change_to_a_public_statement_takes_it_back_to_draft(curators, status):
    editor_api, publisher_api = curators
    statement = StatementFactory(status=status, text="As published.")
    url = f"{API}/statements/{statement.public_id}/"
    answer = patch(editor_api, url, {"text": "Reworded by an editor."})
    assert answer.json()["status"] == "draft"
    statement.refresh_from_db()
    assert (statement.status, statement.text) == ("draft", "Reworded by an editor.")
    entry = statement.history.first()
    assert entry.history_user.username == "ed-the-editor"
    assert f"Changed by an editor while {status}: back to draft" in entry.history_change_reason
    assert token_client().get(url).status_code == 404  # not public until a publisher publishes it
    patch(publisher_api, url, {"status": "published"})
    assert token_client().get(url).json()["text"] == "Reworded by an editor."


def test_a_publishers_change_and_an_editors_non_change_keep_the_record_public(curators):
    editor_api, publisher_api = curators
    statement = StatementFactory(status="published", text="As published.")
    url = f"{API}/statements/{statement.public_id}/"
    assert patch(publisher_api, url, {"text": "Corrected by a publisher."}).json()["status"] == "published"
    assert patch(editor_api, url, {"text": "Corrected by a publisher."}).json()["status"] == "published"


def test_an_editors_verdict_or_statement_change_takes_a_review_or_claim_back_to_draft(curators):
    from tests.factories import ReviewFactory

    editor_api, _ = curators
    review = ReviewFactory(status="published", claim=ClaimFactory(status="published"))
    answer = patch(
        editor_api, f"{API}/reviews/{review.public_id}/", {"verdict": "true", "rating_text": "True"}
    )
    assert answer.json()["status"] == "draft"
    claim = review.claim
    other = StatementFactory(status="published")
    answer = patch(editor_api, f"{API}/claims/{claim.public_id}/", {"statement": str(other.public_id)})
    assert answer.json()["status"] == "draft"


# ---------------------------------------------------------------- 4. exports under the exports' time limit


def test_the_claims_export_runs_under_the_exports_time_limit(anon_api, settings):
    from django.test.utils import CaptureQueriesContext

    settings.EXPORT_STATEMENT_TIMEOUT_MS = 123456
    ClaimFactory(status="published", statement=StatementFactory(status="published"))
    with CaptureQueriesContext(connection) as queries:
        body(anon_api.get(f"{API}/claims/export/?format=csv"))
    sql = [q["sql"] for q in queries.captured_queries]
    start = next(i for i, q in enumerate(sql) if "statement_timeout = 123456" in q)
    reads = [i for i, q in enumerate(sql) if 'FROM "claims_claim"' in q]
    reset = next(i for i, q in enumerate(sql) if q == "RESET statement_timeout")
    assert reads and start < min(reads) and max(reads) < reset
    with connection.cursor() as cursor:  # the connection's own limit is back
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] != "123456ms"
