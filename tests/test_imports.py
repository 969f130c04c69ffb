"""Importing ClaimReview JSON-LD: every shape, matching, verdict mapping, idempotency, rejection."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from claims.models import Appearance, Claim, Outlet, RatingMapping, Review, Source, Speaker, Statement, Status
from tests.factories import FactCheckerFactory, SpeakerFactory

pytestmark = pytest.mark.django_db


def review(n=1, **overrides):
    doc = {
        "@context": "https://schema.org",
        "@type": "ClaimReview",
        "url": f"https://www.politifact.com/factchecks/{n}/",
        "claimReviewed": f"Claim number {n} about ballistic missiles.",
        "datePublished": "2020-01-10",
        "author": {"@type": "Organization", "name": "PolitiFact", "url": "https://www.politifact.com/"},
        "reviewRating": {
            "@type": "Rating",
            "alternateName": "Pants on Fire",
            "ratingValue": 0,
            "bestRating": 5,
            "worstRating": 0,
        },
        "itemReviewed": {
            "@type": "Claim",
            "author": {
                "@type": "Person",
                "name": "Recep Tayyip Erdogan",
                "sameAs": "https://www.wikidata.org/wiki/Q39259",
            },
            "datePublished": "2020-01",
            "appearance": [
                {"@type": "CreativeWork", "url": "https://news.example/a", "headline": "A speech"}
            ],
            "firstAppearance": {"@type": "CreativeWork", "url": "https://news.example/a"},
        },
    }
    doc.update(overrides)
    return doc


def run(tmp_path, content, *args):
    path = tmp_path / "claimreview.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    out = io.StringIO()
    call_command("import_claimreview", str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


SHAPES = {
    "object": lambda: json.dumps(review()),
    "array": lambda: json.dumps([review(1), review(2)]),
    "graph": lambda: json.dumps(
        {"@context": "https://schema.org", "@graph": [review(1), {"@type": "WebPage"}, review(2)]}
    ),
    "json lines": lambda: "\n".join(json.dumps(review(n)) for n in (1, 2)) + "\n",
}


@pytest.mark.parametrize("shape", SHAPES)
def test_reads_every_shape(tmp_path, shape):
    run(tmp_path, SHAPES[shape]())
    assert Review.objects.count() == (1 if shape == "object" else 2)


def test_matches_or_creates_what_it_refers_to(tmp_path):
    erdogan = SpeakerFactory(name="Recep Tayyip Erdoğan", wikidata_qid="Q39259")
    out = run(tmp_path, review())
    imported = Review.objects.get()
    assert (imported.verdict, imported.rating_text, imported.best_rating) == ("false", "Pants on Fire", 5)
    assert imported.status == Status.DRAFT and imported.url == "https://www.politifact.com/factchecks/1/"
    assert (
        imported.reviewer.kind == "fact_checker"
        and imported.reviewer.homepage == "https://www.politifact.com/"
    )
    statement = imported.claim.statement
    assert list(statement.speakers.all()) == [erdogan]  # matched by Wikidata QID, not duplicated
    assert (statement.said_on.isoformat(), statement.said_on_precision) == ("2020-01-01", "month")
    assert Appearance.objects.get(statement=statement).is_first
    assert "reviews: 1 created" in out and "speakers: 0 created" in out


def test_speakers_are_matched_by_alias(tmp_path):
    mesmari = SpeakerFactory(name="Ahmad al-Mesmari", aliases=["Ahmed al-Mismari"])
    doc = review(itemReviewed={"@type": "Claim", "author": {"@type": "Person", "name": "Ahmed al-Mismari"}})
    run(tmp_path, doc)
    assert list(Review.objects.get().claim.statement.speakers.all()) == [mesmari]


def test_importing_twice_changes_nothing(tmp_path):
    content = json.dumps([review(1), review(2)])
    run(tmp_path, content)
    counts = [m.objects.count() for m in (Review, Claim, Statement, Speaker, Outlet, Source, Appearance)]
    out = run(tmp_path, content)
    assert [
        m.objects.count() for m in (Review, Claim, Statement, Speaker, Outlet, Source, Appearance)
    ] == counts
    assert "reviews: 0 created, 0 updated, 2 unchanged" in out


def test_a_changed_rating_updates_the_review_only_when_asked(tmp_path):
    from tests.factories import UserFactory

    run(tmp_path, review())
    changed = review(reviewRating={"@type": "Rating", "alternateName": "Mostly True"})
    # Without --update-existing the curated record is kept, and the difference is listed.
    out = run(tmp_path, changed)
    assert "reviews: 0 created, 0 updated, 1 unchanged" in out
    assert "differs in rating_text, rating_value, best_rating, worst_rating, verdict: kept as it is" in out
    assert Review.objects.get().verdict == "false"
    with pytest.raises(CommandError, match="--user"):
        run(tmp_path, changed, "--update-existing")
    importer = UserFactory(username="importer")
    out = run(tmp_path, changed, "--update-existing", "--user", "importer")
    assert "reviews: 0 created, 1 updated" in out
    updated = Review.objects.get()
    assert updated.verdict == "mostly_true"
    entry = updated.history.first()
    assert (entry.history_user, entry.history_change_reason) == (importer, "Imported from ClaimReview")


def test_a_feed_cannot_take_over_another_fact_checkers_review(tmp_path):
    """A review matched by URL alone was rewritten by any feed using its URL (issue 18, item 5)."""
    from tests.factories import UserFactory

    run(tmp_path, review(), "--status", "published")
    UserFactory(username="importer")
    namesake = {"@type": "Organization", "name": "PolitiFact", "url": "https://impostor.example/"}
    impostor = review(
        author=namesake,
        reviewRating={"@type": "Rating", "alternateName": "True"},
        claimReviewed="Something else entirely.",
    )
    with pytest.raises(CommandError, match="is a review by PolitiFact in the archive, not by PolitiFact"):
        run(tmp_path, impostor, "--update-existing", "--user", "importer")
    kept = Review.objects.get()
    assert (kept.reviewer.homepage, kept.verdict) == ("https://www.politifact.com/", "false")
    # The namesake with another homepage is another fact-checker, not the same one; with
    # --skip-invalid the refused record is reported and the others are imported.
    out = run(tmp_path, [impostor, review(3, author=namesake)], "--skip-invalid")
    assert "rejected: 1" in out and Review.objects.count() == 2
    assert set(Outlet.objects.filter(name="PolitiFact").values_list("homepage", flat=True)) == {
        "https://www.politifact.com/",
        "https://impostor.example/",
    }


def test_changes_to_published_reviews_are_named(tmp_path):
    from tests.factories import UserFactory

    run(tmp_path, review(), "--status", "published")
    UserFactory(username="importer")
    changed = review(reviewRating={"@type": "Rating", "alternateName": "Mostly True"})
    out = run(tmp_path, changed, "--update-existing", "--user", "importer")
    published = Review.objects.get()
    assert f"changed record 1: published review {published.public_id}: rating_text" in out


def test_reviewer_specific_mapping_wins_over_the_default(tmp_path):
    checker = FactCheckerFactory(name="PolitiFact", homepage="https://www.politifact.com/")
    RatingMapping.objects.create(reviewer=checker, rating="pants on fire", verdict="other")
    run(tmp_path, review())
    assert Review.objects.get().verdict == "other"


def test_unmapped_ratings_are_reported(tmp_path):
    out = run(tmp_path, review(reviewRating={"@type": "Rating", "alternateName": "Four Pinocchios"}))
    assert Review.objects.get().verdict == "other"
    assert "unmapped rating 'Four Pinocchios' of PolitiFact" in out


BAD = [
    ("not JSON", "{not json", "Not JSON"),
    ("bad line", json.dumps(review(1)) + "\n{oops\n", "line 2: not JSON"),
    ("no claim", json.dumps([review(1), review(2, claimReviewed="")]), "record 2: claimReviewed is missing"),
    ("bad date", json.dumps(review(datePublished="2020-02-30")), "record 1: datePublished is not a date"),
    (
        "rating outside scale",
        json.dumps(
            review(reviewRating={"alternateName": "x", "ratingValue": 9, "bestRating": 5, "worstRating": 0})
        ),
        "outside",
    ),
    ("wrong type", json.dumps([review(), {"@type": "Article"}]), "record 2: @type is 'Article'"),
    ("NUL", json.dumps(review(claimReviewed="a\x00b")), "NUL"),
    ("bad url", json.dumps(review(url="javascript:alert(1)")), "not an http(s) URL"),
]


@pytest.mark.parametrize(("case", "content", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_rejected_with_record_numbers_and_nothing_written(tmp_path, case, content, message):
    with pytest.raises(CommandError) as error:
        run(tmp_path, content)
    assert message in str(error.value)
    assert not Review.objects.exists() and not Claim.objects.exists() and not Outlet.objects.exists()


def test_skip_invalid_imports_the_rest(tmp_path):
    out = run(tmp_path, json.dumps([review(1), review(2, claimReviewed="")]), "--skip-invalid")
    assert Review.objects.count() == 1
    assert "rejected: 1" in out


def test_published_status_on_request(tmp_path):
    run(tmp_path, review(), "--status", "published")
    imported = Review.objects.get()
    assert imported.status == imported.claim.status == imported.claim.statement.status == Status.PUBLISHED


@pytest.mark.django_db(transaction=True)  # the export comes from COPY on its own connection
def test_our_own_claimreview_export_imports_back_without_duplicates(tmp_path, anon_api):
    run(tmp_path, [review(1), review(2)], "--status", "published")
    exported = b"".join(
        anon_api.get("/api/v1/claims/export/", {"format": "claimreview"}).streaming_content
    ).decode()
    assert len(exported.splitlines()) == 2
    out = run(tmp_path, exported)
    assert "reviews: 0 created, 0 updated, 2 unchanged" in out
    assert Review.objects.count() == 2
