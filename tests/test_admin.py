"""The curation desk: every page renders, forms enforce the rules, roles are respected."""

import datetime

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from claims.history import record_missing_history
from claims.models import Claim, Review, Source, Speaker, Statement, StatementSpeaker, Status
from tests.factories import (
    ClaimFactory,
    FactCheckerFactory,
    ReviewFactory,
    SourceFactory,
    SpeakerFactory,
    StatementFactory,
)

pytestmark = pytest.mark.django_db

MODEL_ADMINS = [model for model in admin.site._registry if model._meta.app_label == "claims"]


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def inlines(*prefixes, **existing):
    """Management-form data for empty inline formsets (or ones with existing rows)."""
    data = {}
    for prefix in prefixes:
        count = existing.get(prefix, 0)
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(count),
                f"{prefix}-INITIAL_FORMS": str(count),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    return data


STATEMENT_INLINES = ("speaker_roles", "appearances", "outgoing_links", "claims")


def version(obj):
    """What the change form carries to detect a concurrent save: the record's updated_at."""
    return type(obj).objects.get(pk=obj.pk).updated_at.isoformat()


def statement_form(**fields):
    return {
        "text": "We will continue until the end.",
        "text_type": "verbatim",
        "language": "en",
        "said_on": "2020-01-09",
        "said_on_precision": "day",
        "status": "draft",
        **inlines(*STATEMENT_INLINES),
        **fields,
    }


@pytest.fixture
def seeded(db):
    call_command("loaddata", "seed", verbosity=0)
    record_missing_history(reason="seed")
    ReviewFactory(claim=Claim.objects.first(), rating_text="Mostly true", verdict="mostly_true")


@pytest.mark.parametrize("model", MODEL_ADMINS, ids=lambda m: m._meta.model_name)
def test_every_admin_page_renders_for_a_superuser(client, superuser, seeded, model):
    client.force_login(superuser)
    obj = model._default_manager.first()
    assert obj is not None, "the seed should give every model at least one row"
    for page in (
        url(model, "changelist"),
        url(model, "add"),
        url(model, "change", obj.pk),
        url(model, "history", obj.pk),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
    response = client.get(url(model, "changelist"), {"q": "ceasefire"})
    assert response.status_code == 200


def test_statement_changelist_filters_render(client, superuser, seeded):
    client.force_login(superuser)
    for params in ({"status__exact": "published"}, {"said_on__year": "2020"}, {"topics__id__exact": "1"}):
        assert client.get(url(Statement, "changelist"), params).status_code == 200


def test_speaker_search_finds_aliases_without_accents(client, superuser, seeded):
    client.force_login(superuser)
    for term, expected in (
        ("erdogan", "Recep Tayyip Erdoğan"),
        ("mismari", "Ahmad al-Mesmari"),
        ("cavusoglu", "Mevlüt Çavuşoğlu"),
    ):
        response = client.get(
            reverse("admin:autocomplete"),
            {"term": term, "app_label": "claims", "model_name": "statementspeaker", "field_name": "speaker"},
        )
        assert response.status_code == 200
        assert expected in [r["text"] for r in response.json()["results"]], term


# Bad input in admin forms is reported on the form and nothing is written.
def test_admin_form_rejects_bad_qid(client, superuser):
    client.force_login(superuser)
    data = {"name": "X", "slug": "x", "kind": "person", "aliases": "", **inlines("affiliations")}
    data["wikidata_qid"] = "12345"
    response = client.post(url(Speaker, "add"), data)
    assert response.status_code == 200
    assert "A Wikidata QID is Q followed by digits" in response.content.decode()
    assert not Speaker.objects.filter(slug="x").exists()


def test_admin_form_rejects_self_citation(client, superuser):
    client.force_login(superuser)
    source = SourceFactory()
    data = {
        "kind": "article",
        "title": source.title,
        "url": source.url,
        "cites": source.pk,
        "version": version(source),
    }
    response = client.post(url(Source, "change", source.pk), data)
    assert response.status_code == 200
    assert "cannot cite itself" in response.content.decode()
    source.refresh_from_db()
    assert source.cites is None


def test_admin_form_rejects_future_statement_and_link_to_itself(client, superuser):
    client.force_login(superuser)
    future = (datetime.date.today() + datetime.timedelta(days=10)).isoformat()
    response = client.post(url(Statement, "add"), statement_form(said_on=future))
    assert "This date is in the future." in response.content.decode()
    assert not Statement.objects.exists()

    statement = StatementFactory()
    data = statement_form(version=version(statement))
    data.update(
        {
            "outgoing_links-TOTAL_FORMS": "1",
            "outgoing_links-0-type": "supports",
            "outgoing_links-0-to_statement": str(statement.pk),
            "outgoing_links-0-from_statement": str(statement.pk),
        }
    )
    response = client.post(url(Statement, "change", statement.pk), data)
    assert response.status_code == 200
    assert "cannot be linked to itself" in response.content.decode()
    assert not statement.outgoing_links.exists()


def test_admin_form_rejects_rating_outside_scale(client, superuser):
    client.force_login(superuser)
    claim, reviewer = ClaimFactory(), FactCheckerFactory()
    data = {
        "claim": claim.pk,
        "reviewer": reviewer.pk,
        "rating_text": "Four Pinocchios",
        "verdict": "false",
        "rating_value": "7",
        "best_rating": "1",
        "worst_rating": "4",
        "status": "draft",
    }
    response = client.post(url(Review, "add"), data)
    assert "within the scale" in response.content.decode()
    assert not Review.objects.exists()


def test_admin_form_requires_fact_checker_as_reviewer(client, superuser):
    client.force_login(superuser)
    newspaper = SourceFactory().outlet
    data = {
        "claim": ClaimFactory().pk,
        "reviewer": newspaper.pk,
        "rating_text": "False",
        "verdict": "false",
        "status": "draft",
    }
    response = client.post(url(Review, "add"), data)
    assert response.status_code == 200
    assert not Review.objects.exists()


def test_editor_creates_statement_with_speakers_as_draft(client, editor):
    client.force_login(editor)
    speaker, principal = SpeakerFactory(), SpeakerFactory()
    data = statement_form(status="published")
    data.update(
        {
            "speaker_roles-TOTAL_FORMS": "2",
            "speaker_roles-0-speaker": str(speaker.pk),
            "speaker_roles-0-role": "speaker",
            "speaker_roles-0-position": "0",
            "speaker_roles-1-speaker": str(principal.pk),
            "speaker_roles-1-role": "on_behalf_of",
            "speaker_roles-1-position": "1",
        }
    )
    response = client.post(url(Statement, "add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    statement = Statement.objects.get()
    # The editor asked for "published"; the status field is not theirs to set.
    assert statement.status == Status.DRAFT
    assert statement.created_by == editor and statement.updated_by == editor
    assert set(StatementSpeaker.objects.values_list("speaker", "role")) == {
        (speaker.pk, "speaker"),
        (principal.pk, "on_behalf_of"),
    }
    assert statement.history.get().history_user == editor


def test_editor_cannot_publish(client, editor):
    client.force_login(editor)
    statement = StatementFactory()
    changelist = client.get(url(Statement, "changelist"))
    assert changelist.status_code == 200
    assert 'value="publish"' not in changelist.content.decode()

    response = client.post(
        url(Statement, "changelist"), {"action": "publish", "_selected_action": [statement.pk]}
    )
    statement.refresh_from_db()
    assert statement.status == Status.DRAFT
    assert response.status_code in (200, 302)

    client.post(
        url(Statement, "change", statement.pk), statement_form(text=statement.text, status="published")
    )
    statement.refresh_from_db()
    assert statement.status == Status.DRAFT


def test_editor_cannot_republish_by_restoring_an_old_version(client, editor, publisher):
    statement = StatementFactory(status=Status.PUBLISHED)
    statement.status = Status.RETRACTED
    statement.save()
    published_version = statement.history.earliest()
    client.force_login(editor)
    history_form = reverse(
        "admin:claims_statement_simple_history", args=[statement.pk, published_version.history_id]
    )
    response = client.post(history_form, statement_form(text=statement.text, version=version(statement)))
    assert response.status_code == 302
    statement.refresh_from_db()
    # Not republished: an editor's change to a public record takes it back to draft (issue 18).
    assert statement.status == Status.DRAFT


@pytest.mark.parametrize("status", [Status.PUBLISHED, Status.RETRACTED])
def test_an_editors_change_to_a_public_statement_takes_it_back_to_draft(client, editor, status):
    statement = StatementFactory(status=status, text="As published.", said_on=datetime.date(2020, 1, 9))
    client.force_login(editor)
    form = statement_form(text="Reworded in the admin.", status=status, version=version(statement))
    response = client.post(url(Statement, "change", statement.pk), form, follow=True)
    assert response.status_code == 200
    assert "took it back to draft" in response.content.decode()
    statement.refresh_from_db()
    assert (statement.status, statement.text) == (Status.DRAFT, "Reworded in the admin.")
    assert "back to draft" in statement.history.first().history_change_reason
    # Saving it unchanged is no change.
    published = StatementFactory(
        status=Status.PUBLISHED, text="Untouched.", said_on=datetime.date(2020, 1, 9)
    )
    form = statement_form(text="Untouched.", status=Status.PUBLISHED, version=version(published))
    client.post(url(Statement, "change", published.pk), form)
    published.refresh_from_db()
    assert published.status == Status.PUBLISHED


def test_a_publishers_change_in_the_admin_keeps_the_record_public(client, publisher):
    statement = StatementFactory(status=Status.PUBLISHED, text="As published.")
    client.force_login(publisher)
    form = statement_form(text="Corrected.", status=Status.PUBLISHED, version=version(statement))
    client.post(url(Statement, "change", statement.pk), form)
    statement.refresh_from_db()
    assert (statement.status, statement.text) == (Status.PUBLISHED, "Corrected.")


@pytest.mark.parametrize("model", [Statement, Claim, Review])
def test_publisher_publishes_and_retracts(client, publisher, model):
    factory = {Statement: StatementFactory, Claim: ClaimFactory, Review: ReviewFactory}[model]
    items = [factory(), factory()]
    client.force_login(publisher)
    assert 'value="publish"' in client.get(url(model, "changelist")).content.decode()
    ids = [obj.pk for obj in items]
    response = client.post(url(model, "changelist"), {"action": "publish", "_selected_action": ids})
    assert response.status_code == 302
    assert set(model.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.PUBLISHED}
    client.post(url(model, "changelist"), {"action": "retract", "_selected_action": ids[:1]})
    assert model.objects.get(pk=ids[0]).status == Status.RETRACTED
    # Retracted is kept, and each step is in the history with its author.
    history = model.objects.get(pk=ids[0]).history.order_by("history_date")
    assert [h.status for h in history] == ["draft", "published", "retracted"]
    assert history.last().history_user == publisher


def test_history_records_an_edit_and_restore_brings_old_text_back(client, publisher):
    client.force_login(publisher)
    statement = StatementFactory(text="Original text.", said_on=datetime.date(2020, 1, 9))
    response = client.post(
        url(Statement, "change", statement.pk),
        statement_form(text="Edited text.", version=version(statement)),
    )
    assert response.status_code == 302
    statement.refresh_from_db()
    assert statement.text == "Edited text."

    history = list(statement.history.order_by("history_date"))
    assert [h.text for h in history] == ["Original text.", "Edited text."]
    assert history[-1].history_user == publisher
    delta = history[-1].diff_against(history[0])
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("text", "Original text.", "Edited text.")]

    page = client.get(url(Statement, "history", statement.pk)).content.decode()
    # The admin's history lists who changed what, from and to.
    changes = page[page.index('id="change-history"') :]
    assert "publisher" in changes and "Original text." in changes and "Edited text." in changes

    revert = reverse("admin:claims_statement_simple_history", args=[statement.pk, history[0].history_id])
    form = client.get(revert)
    assert form.status_code == 200 and "Original text." in form.content.decode()
    response = client.post(revert, statement_form(text="Original text.", version=version(statement)))
    assert response.status_code == 302
    statement.refresh_from_db()
    assert statement.text == "Original text."
    assert statement.history.count() == 3


def test_superuser_can_restore_any_version(client, superuser):
    client.force_login(superuser)
    speaker = SpeakerFactory(name="Ahmed Mismari", aliases=["al-Mismari"])
    speaker.name = "Ahmad al-Mesmari"
    speaker.save()
    old = speaker.history.earliest()
    revert = reverse("admin:claims_speaker_simple_history", args=[speaker.pk, old.history_id])
    data = {
        "name": old.name,
        "slug": old.slug,
        "kind": "person",
        "aliases": "al-Mismari",
        "version": version(speaker),
        **inlines("affiliations"),
    }
    assert client.post(revert, data).status_code == 302
    speaker.refresh_from_db()
    assert speaker.name == "Ahmed Mismari"


def test_concurrent_admin_edits_never_overwrite_each_other(client, publisher, editor):
    from django.test import Client

    statement = StatementFactory(text="Original.", said_on=datetime.date(2020, 1, 9))
    first, second = client, Client()
    first.force_login(publisher)
    second.force_login(editor)
    # Both open the form, reading the same version.
    opened = version(statement)
    assert f'value="{opened}"' in first.get(url(Statement, "change", statement.pk)).content.decode()
    assert (
        first.post(
            url(Statement, "change", statement.pk), statement_form(text="First edit.", version=opened)
        ).status_code
        == 302
    )

    response = second.post(
        url(Statement, "change", statement.pk), statement_form(text="Second edit.", version=opened)
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Someone else saved this record after you opened it" in page
    assert "Second edit." in page  # the refused edit is still in the form
    statement.refresh_from_db()
    assert statement.text == "First edit."
    assert [h.text for h in statement.history.order_by("history_date")] == ["Original.", "First edit."]

    # Reloaded, the second editor can apply theirs.
    response = second.post(
        url(Statement, "change", statement.pk),
        statement_form(text="Second edit.", version=version(statement)),
    )
    assert response.status_code == 302
    statement.refresh_from_db()
    assert statement.text == "Second edit."


def test_change_form_without_version_is_refused(client, superuser):
    client.force_login(superuser)
    statement = StatementFactory(text="Kept.")
    response = client.post(url(Statement, "change", statement.pk), statement_form(text="Blind overwrite."))
    assert response.status_code == 200
    statement.refresh_from_db()
    assert statement.text == "Kept."
