"""The seed article, curated as a careful fact-checker would: the facts they would check."""

import datetime

import pytest
from django.core.management import call_command

from claims.models import Appearance, Claim, Source, Speaker, Statement, StatementLink, Topic

pytestmark = pytest.mark.django_db

JAN_8 = datetime.date(2020, 1, 8)
JAN_9 = datetime.date(2020, 1, 9)


@pytest.fixture
def seed(db):
    call_command("loaddata", "seed", verbosity=0)


def roles(statement):
    return {(r.speaker.slug, r.role) for r in statement.speaker_roles.select_related("speaker")}


def mesmari_statement():
    return Statement.objects.get(speaker_roles__speaker__slug="ahmad-al-mesmari")


def test_mesmari_speaks_on_behalf_of_haftar_on_9_january(seed):
    statement = mesmari_statement()
    assert statement.said_on == JAN_9
    assert statement.said_on_precision == "day"
    assert roles(statement) == {("ahmad-al-mesmari", "speaker"), ("khalifa-haftar", "on_behalf_of")}
    assert statement.context == "Video posted to social media."


def test_rejection_responds_to_and_rejects_the_joint_call(seed):
    statement = mesmari_statement()
    links = StatementLink.objects.filter(from_statement=statement)
    assert {link.type for link in links} == {"responds_to", "rejects"}
    call = links.first().to_statement
    assert {link.to_statement for link in links} == {call}
    assert call.said_on == JAN_8
    assert roles(call) == {("recep-tayyip-erdogan", "speaker"), ("vladimir-putin", "speaker")}
    assert "ceasefire" in call.text
    assert set(call.topics.values_list("slug", flat=True)) == {"libya", "ceasefire"}


def test_citation_chain_duvar_anadolu_video(seed):
    duvar = Source.objects.get(outlet__slug="duvar-english")
    chain = duvar.citation_chain()
    assert [s.kind for s in chain] == ["article", "agency_wire", "video"]
    assert chain[1].outlet.slug == "anadolu-agency"
    assert chain[1].published_on == JAN_9
    assert chain[2].outlet is None
    # ...and followed the other way.
    assert list(chain[2].cited_by.all()) == [chain[1]]
    assert list(chain[1].cited_by.all()) == [duvar]


def test_mesmari_first_appeared_in_the_video(seed):
    first = Appearance.objects.get(statement=mesmari_statement(), is_first=True)
    assert first.source.kind == "video"
    assert Appearance.objects.filter(statement=mesmari_statement()).count() == 3


def test_khamenei_vow_is_known_only_to_the_month(seed):
    vow = Statement.objects.get(speaker_roles__speaker__slug="ali-khamenei")
    assert vow.said_on == datetime.date(2020, 1, 1)
    assert vow.said_on_precision == "month"
    assert vow.said_on_display == "January 2020"


def test_quote_as_printed_keeps_the_misprint_but_the_curated_text_does_not(seed):
    appearance = Appearance.objects.get(quote__contains="Weevaluate")
    assert "QudsForce" in appearance.quote and "andhis" in appearance.quote
    statement = appearance.statement
    assert statement.text.startswith("We evaluate the U.S. air operation")
    assert "Weevaluate" not in statement.text and "Quds Force" in statement.text
    assert roles(statement) == {("turkey", "co_signatory"), ("russia", "co_signatory")}
    assert Appearance.objects.get(statement=statement, is_first=True).source.kind == "joint_statement"


def test_speakers_have_aliases_and_affiliations(seed):
    erdogan = Speaker.objects.get(slug="recep-tayyip-erdogan")
    assert erdogan.name == "Recep Tayyip Erdoğan"
    assert "Erdogan" in erdogan.aliases
    assert erdogan.wikidata_qid == "Q39259"
    assert "Ahmed al-Mismari" in Speaker.objects.get(slug="ahmad-al-mesmari").aliases
    assert "Mevlut Cavusoglu" in Speaker.objects.get(slug="mevlut-cavusoglu").aliases
    mesmari_roles = Speaker.objects.get(slug="ahmad-al-mesmari").affiliations.get()
    assert (mesmari_roles.role, mesmari_roles.organisation.slug) == ("Spokesman", "libyan-national-army")
    president = erdogan.affiliations.get()
    assert (president.role, president.organisation.slug) == ("President", "turkey")


def test_topics_and_claims(seed):
    assert set(Topic.objects.values_list("name", flat=True)) == {
        "Libya",
        "Ceasefire",
        "Iran–US tensions",
        "Syria",
        "TurkStream",
    }
    missiles = Claim.objects.get(text__contains="ballistic missiles")
    assert "more than a dozen" in missiles.text and "8 January 2020" in missiles.text
    assert Claim.objects.filter(statement=mesmari_statement()).exists()
    # No verdicts are invented: the article reviews nothing.
    assert not Claim.objects.filter(reviews__isnull=False).exists()


def test_seed_invents_no_urls(seed):
    assert not Source.objects.exclude(url="").exists()


def test_seed_passes_model_validation(seed):
    for model in (Speaker, Source, Statement, Appearance, Claim):
        for obj in model.objects.all():
            obj.full_clean()


def test_seed_loads_twice_without_duplicates(seed):
    counts = (Statement.objects.count(), Appearance.objects.count(), StatementLink.objects.count())
    call_command("loaddata", "seed", verbosity=0)
    assert (Statement.objects.count(), Appearance.objects.count(), StatementLink.objects.count()) == counts


def test_init_local_loads_seed_once_and_creates_admin(db, settings, tmp_path, capsys):
    settings.BASE_DIR = tmp_path
    call_command("init_local")
    out = capsys.readouterr().out
    assert "Loaded the seed article." in out
    password = (tmp_path / "var" / "local-admin-password.txt").read_text().strip()
    assert f"Password: {password}" in out
    assert Statement.objects.count() == 9
    # Loaded records have a first history entry, so the first edit can be undone.
    assert mesmari_statement().history.count() == 1
    assert Speaker.objects.get(slug="khalifa-haftar").history.count() == 1
    assert Source.objects.get(kind="video").history.count() == 1

    call_command("init_local")
    assert "seed not loaded again" in capsys.readouterr().out
    assert Statement.objects.count() == 9
