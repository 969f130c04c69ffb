"""The admin in a real browser: Playwright driving Debian's Chromium against a live server.

Screenshots of the key pages are saved as test artefacts in
``$TEST_ARTIFACTS_DIR/admin`` (default ``var/test-artifacts/admin``).
Without Chromium these tests are skipped, unless REQUIRE_BROWSER=1 (CI sets
it), when they fail instead.
"""

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from claims.models import Statement, Status
from tests.factories import SourceFactory, SpeakerFactory, TopicFactory, UserFactory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = (
    Path(os.getenv("TEST_ARTIFACTS_DIR", Path(settings.BASE_DIR) / "var" / "test-artifacts")) / "admin"
)
PASSWORD = "a-long-test-password"

if not CHROMIUM and os.getenv("REQUIRE_BROWSER") != "1":
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

# The live server needs committed data: transactional tests.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture(autouse=True)
def _groups(groups):
    """The curators' groups, which a transactional test's flush removes."""


@pytest.fixture(scope="module")
def browser(django_db_setup):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "REQUIRE_BROWSER=1 but Chromium is not installed"
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between browser steps are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            # Debian's Chromium, never a downloaded one; no sandbox when running as root.
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(browser, live_server, username):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    return page


def autocomplete(page, container, text, choice):
    """Pick ``choice`` in a select2 autocomplete inside ``container`` by typing ``text``."""
    page.locator(f"{container} .select2-selection").first.click()
    page.locator(".select2-container--open .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=choice).first.click()


def test_editor_creates_a_statement_a_publisher_publishes_it_the_public_api_shows_it(browser, live_server):
    UserFactory(username="ed", password=PASSWORD, is_staff=True, groups=["editors"])
    UserFactory(username="pub", password=PASSWORD, is_staff=True, groups=["publishers"])
    SpeakerFactory(name="Recep Tayyip Erdoğan", slug="erdogan")
    SpeakerFactory(name="Vladimir Putin", slug="putin")
    SourceFactory(title="Turkey, Russia call for ceasefire in Libya", url="https://news.example/ceasefire")
    TopicFactory(name="Libya", slug="libya")

    page = log_in(browser, live_server, "ed")
    page.goto(f"{live_server.url}/admin/claims/statement/add/")
    page.fill("#id_text", "We call on all parties in Libya to declare a ceasefire.")
    page.fill("#id_said_on", "2020-01-08")
    autocomplete(page, ".field-topics", "Lib", "Libya")
    # Two speakers, each through the autocomplete (accents need not be typed).
    autocomplete(page, "#speaker_roles-0", "Erdog", "Recep Tayyip Erdoğan")
    page.click("#speaker_roles-group .add-row a")
    autocomplete(page, "#speaker_roles-1", "Putin", "Vladimir Putin")
    page.fill("#id_speaker_roles-1-position", "1")
    page.click("#appearances-group .add-row a")
    autocomplete(page, "#appearances-0", "ceasefire", "Turkey, Russia call for ceasefire")
    page.fill("#id_appearances-0-quote", "We call on all parties ...")
    page.check("#id_appearances-0-is_first")
    shot(page, "1-editor-adds-statement")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    shot(page, "2-editor-saved")

    statement = Statement.objects.get()
    assert statement.status == Status.DRAFT
    assert [r.speaker.slug for r in statement.speaker_roles.order_by("position")] == ["erdogan", "putin"]
    assert statement.appearances.get().quote == "We call on all parties ..."
    assert list(statement.topics.values_list("slug", flat=True)) == ["libya"]

    # An editor cannot publish: no publish action, and the status is read-only.
    page.goto(f"{live_server.url}/admin/claims/statement/")
    actions = page.locator("select[name=action] option").all_text_contents()
    assert not [a for a in actions if "Publish" in a]
    page.goto(f"{live_server.url}/admin/claims/statement/{statement.pk}/change/")
    assert page.locator("#id_status").count() == 0
    assert "Draft" in page.locator(".field-status .readonly").inner_text()
    shot(page, "3-editor-cannot-publish")
    # And the public API does not show a draft.
    assert public_ids(live_server) == []

    page = log_in(browser, live_server, "pub")
    page.goto(f"{live_server.url}/admin/claims/statement/")
    page.check(f"input[name=_selected_action][value='{statement.pk}']")
    page.select_option("select[name=action]", "publish")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    shot(page, "4-publisher-published")
    statement.refresh_from_db()
    assert statement.status == Status.PUBLISHED

    assert public_ids(live_server) == [str(statement.public_id)]
    record = json.loads(get(f"{live_server.url}/api/v1/statements/{statement.public_id}/"))
    assert [s["name"] for s in record["speakers"]] == ["Recep Tayyip Erdoğan", "Vladimir Putin"]


def test_concurrent_edits_in_the_admin_lose_nothing(browser, live_server):
    UserFactory(username="ed", password=PASSWORD, is_staff=True, groups=["editors"])
    UserFactory(username="ed2", password=PASSWORD, is_staff=True, groups=["editors"])
    statement = Statement.objects.create(text="Original text.")
    url = f"{live_server.url}/admin/claims/statement/{statement.pk}/change/"

    first, second = log_in(browser, live_server, "ed"), log_in(browser, live_server, "ed2")
    first.goto(url)
    second.goto(url)  # both opened the same version
    first.fill("#id_text", "The first editor's text.")
    first.click("input[name=_save]")
    first.wait_for_selector(".messagelist .success")

    second.fill("#id_place", "Moscow")
    second.click("input[name=_save]")
    second.wait_for_selector(".errornote")
    shot(second, "5-second-save-refused")
    assert "Someone else saved this record after you opened it" in second.content()
    # The refused edit is still in the form, and the first edit is saved.
    assert second.input_value("#id_place") == "Moscow"
    statement.refresh_from_db()
    assert (statement.text, statement.place) == ("The first editor's text.", "")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def public_ids(live_server):
    return [r["id"] for r in json.loads(get(f"{live_server.url}/api/v1/statements/"))["results"]]


CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
    window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_admin_and_api_docs_work_under_the_content_security_policy(browser, live_server):
    """The policy blocks nothing the admin or Swagger UI needs (no violation is reported)."""
    UserFactory(username="csp-editor", password=PASSWORD, is_staff=True, groups=["editors"])
    SpeakerFactory(name="Ahmad al-Mesmari", slug="ahmad-al-mesmari")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".swagger-ui .info .title", timeout=30000)
    shot(page, "api-docs-under-csp")
    violations = page.evaluate("window.__cspViolations")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "csp-editor")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
    violations += page.evaluate("window.__cspViolations")
    page.goto(f"{live_server.url}/admin/claims/statement/add/")
    autocomplete(page, "#speaker_roles-0", "Mismari", "Ahmad al-Mesmari")
    violations += page.evaluate("window.__cspViolations")
    page.goto(f"{live_server.url}/admin/claims/statement/")
    violations += page.evaluate("window.__cspViolations")
    context.close()
    assert violations == []
