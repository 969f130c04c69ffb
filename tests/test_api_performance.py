"""Structural guarantees behind the API's speed: query counts that do not grow, no COUNT(*)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from claims.models import Appearance, Statement, StatementLink, Status
from tests.factories import (
    ClaimFactory,
    OrganisationFactory,
    ReviewFactory,
    SourceFactory,
    SpeakerFactory,
    StatementFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db
API = "/api/v1"


def make_rows(resource, n):
    """n fully-related rows of ``resource``, so that every nested field has data."""
    for _ in range(n):
        if resource == "statements":
            statement = StatementFactory(
                status=Status.PUBLISHED, speakers=[SpeakerFactory(), SpeakerFactory()]
            )
            statement.topics.add(TopicFactory())
            Appearance.objects.create(statement=statement, source=SourceFactory(cites=SourceFactory()))
            other = StatementFactory(status=Status.PUBLISHED)
            StatementLink.objects.create(from_statement=statement, to_statement=other, type="responds_to")
            ClaimFactory(statement=statement, status=Status.PUBLISHED)
        elif resource == "claims":
            claim = ClaimFactory(
                status=Status.PUBLISHED,
                statement=StatementFactory(speakers=[SpeakerFactory()], status=Status.PUBLISHED),
            )
            claim.topics.add(TopicFactory())
            ReviewFactory(claim=claim, status=Status.PUBLISHED)
        elif resource == "reviews":
            review = ReviewFactory(status=Status.PUBLISHED, claim=ClaimFactory(status=Status.PUBLISHED))
            review.evidence.add(SourceFactory())
        elif resource == "speakers":
            speaker = SpeakerFactory(aliases=["A", "B"])
            speaker.affiliations.create(organisation=OrganisationFactory(), role="Member")
        elif resource == "sources":
            SourceFactory(cites=SourceFactory())
        elif resource == "outlets":
            SourceFactory()
        elif resource == "topics":
            TopicFactory()


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()


def statement_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len([q for q in ctx.captured_queries if "claims_statement" in q["sql"]])


RESOURCES = ["statements", "claims", "reviews", "speakers", "sources", "outlets", "topics"]


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("who", ["anon_api", "editor_api"])
def test_list_queries_do_not_grow_with_rows(request, resource, who):
    client = request.getfixturevalue(who)
    make_rows(resource, 1)
    few, body = count_queries(client, f"{API}/{resource}/?page_size=100")
    assert body["results"]
    make_rows(resource, 49)
    many, body = count_queries(client, f"{API}/{resource}/?page_size=100")
    assert len(body["results"]) >= 50
    assert many == few, f"{resource}: {few} queries for 1 row, {many} for 50"


def test_statement_list_query_budget(anon_api, editor_api):
    make_rows("statements", 3)
    # Anonymous readers: the page's keys (from indexes), then its stored public documents,
    # whatever the ordering (the cursor's keys are read with the page, not one by one).
    for ordering in ("", "-updated_at", "created_at", "said_on"):
        queries, body = count_queries(anon_api, f"{API}/statements/?page_size=2&ordering={ordering}")
        assert queries == 2, ordering
        assert body["next"]
    # Curators (who see drafts): the page's keys, then the page built by PostgreSQL
    # (besides the token and permission lookups).
    assert statement_queries(editor_api, f"{API}/statements/") == 2


def test_statement_detail_query_budget(anon_api, editor_api):
    make_rows("statements", 1)
    statement = Statement.objects.public().first()
    queries, _ = count_queries(anon_api, f"{API}/statements/{statement.public_id}/")
    assert queries == 1
    assert statement_queries(editor_api, f"{API}/statements/{statement.public_id}/") == 2


def test_statement_list_reads_only_the_page_keys(anon_api):
    """The page query leaves the wide columns (search document, export lists) in the table."""
    make_rows("statements", 3)
    with CaptureQueriesContext(connection) as ctx:
        assert anon_api.get(f"{API}/statements/").status_code == 200
    page_query, documents_query = (q["sql"] for q in ctx.captured_queries)
    for column in ("search_vector", "export_", '"text"', "public_document", "public_id", "updated_at"):
        assert column not in page_query
    assert "public_document" in documents_query and '"id" IN' in documents_query


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("", "statement_said_desc"),
        ("said_after=2020-01-01&said_before=2020-06-30", "statement_said_desc"),
        ("ordering=said_on", "statement_said_asc"),
        # Which index depends on the table's size; that it is read alone does not.
        ("topic=t1", r"statement_\w+"),
        ("speaker=s1&said_after=2019-01-01", r"statement_\w+"),
    ],
)
def test_page_keys_come_from_indexes_alone(query, index):
    """The page query is an index-only scan of the statements: no wide row is read to find a page."""
    make_rows("statements", 3)
    TopicFactory(slug="t1")
    SpeakerFactory(slug="s1")
    plan = explain(list_queryset(query))
    assert re.search(rf"Index Only Scan using {index} on claims_statement\b", plan), plan
    # No other read of the statements table (its wide rows).
    assert not re.search(
        r"(Seq Scan|Heap Scan|(?<!Only )Index Scan using \w+) on claims_statement\b", plan
    ), plan


def test_statement_list_never_counts(anon_api, editor_api):
    make_rows("statements", 3)
    for client in (anon_api, editor_api):
        for url in (
            f"{API}/statements/",
            f"{API}/statements/?speaker={SpeakerFactory().slug}&said_after=2020-01-01",
        ):
            with CaptureQueriesContext(connection) as ctx:
                body = client.get(url).json()
            assert not [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
            assert "count" not in body


def test_next_page_costs_the_same(anon_api):
    make_rows("statements", 6)
    first, body = count_queries(anon_api, f"{API}/statements/?page_size=5")
    second, _ = count_queries(anon_api, body["next"])
    assert first == second


def explain(queryset):
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # On a tiny table a sequential scan is cheaper; forbid it to see
        # whether the list's query *can* walk its index.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("ordering", "index"),
    [
        ("-said_on", "statement_said_desc"),
        ("said_on", "statement_said_asc"),
        ("-updated_at", "statement_updated"),
        ("created_at", "statement_created"),
    ],
)
def test_statement_list_pages_walk_an_index(ordering, index):
    from claims.filters import StatementFilterSet
    from claims.models import Statement
    from claims.pagination import KeysetPagination, apply_ordering

    make_rows("statements", 3)
    keys = StatementFilterSet.ORDERINGS[ordering]
    first_page = apply_ordering(Statement.objects.public(), keys)[:51]
    assert index in explain(first_page)
    # A later page seeks into the same index (a row comparison), never re-reads the earlier pages.
    last = first_page[0]
    values = [getattr(last, k.name) for k in keys]
    later_page = apply_ordering(Statement.objects.public(), keys).filter(
        KeysetPagination.after(keys, values)
    )[:51]
    plan = explain(later_page)
    assert index in plan and "Index Cond" in plan


def list_queryset(query: str, user=None):
    """The statements list's page query for ``?query``, as the view builds it."""
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from rest_framework.request import Request

    from claims.views import StatementViewSet

    django_request = RequestFactory().get(f"{API}/statements/?{query}")
    django_request.user = user or AnonymousUser()
    view = StatementViewSet(action="list", request=Request(django_request), format_kwarg=None, kwargs={})
    return view.filter_queryset(view.get_queryset())[:51]


@pytest.mark.parametrize(
    ("query", "seek"),
    [
        # A date range seeks into the ordering's index instead of walking it from the newest.
        ("said_after=2020-01-01&said_before=2020-06-30", "Only Scan using statement_said_desc"),
        ("said_before=2016-01-01", "Only Scan using statement_said_desc"),
        ("ordering=said_on&said_after=2020-01-01", "Only Scan using statement_said_asc"),
    ],
)
def test_date_filters_seek_in_the_ordering_index(query, seek):
    make_rows("statements", 3)
    plan = explain(list_queryset(query))
    assert seek in plan
    index_scan = plan[plan.index(seek) :]
    assert re.search(r"Index Cond: \(+COALESCE\(said_on", index_scan), plan


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("speaker=s1", "speaker"),
        ("topic=t1", "topic"),
        ("speaker=s1&topic=t1&said_after=2019-01-01", "speaker"),
    ],
)
def test_relation_filters_use_an_index(query, index):
    make_rows("statements", 3)
    SpeakerFactory(slug="s1")
    TopicFactory(slug="t1")
    plan = explain(list_queryset(query))
    assert "Seq Scan" not in plan
    assert f"{index}_id = " in plan, plan
