"""Measure search latency on the current database (fill it with generate_data first).

Two numbers per measurement:
- "query": the database work the target is about — the ranked top-20 query
  the API builds (the view's own filter_queryset, rank window included),
  without the related rows fetched for display; for similar claims, the whole
  similar_claims() lookup;
- "API": the same request through the real API view in-process (filters,
  ranking, pagination, related rows, serialisation, snippets), as an
  anonymous client, rate limits off.
Results are printed and, with --output, written as Markdown.
"""

import os
import platform
import random
import statistics
import time

import django
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from rest_framework.test import APIRequestFactory

from claims import search, views
from claims.models import Claim, Speaker, Statement

TARGETS = {  # p95 in ms, for the query
    "search, terms with up to 15,000 matches": 25,
    "search, common terms": 250,
    "speaker lookup with typos": 10,
    "similar claims": 50,
}


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def typo(rng, word):
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    return rng.choice([word[:i] + word[i + 1 :], word[:i] + word[i + 1] + word[i] + word[i + 2 :]])


class Command(BaseCommand):
    help = "Benchmark search, speaker lookup and similar claims through the API views."

    def add_arguments(self, parser):
        parser.add_argument("--queries", type=int, default=20, help="Distinct queries per kind.")
        parser.add_argument("--repeat", type=int, default=5, help="Runs of each query.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--output", help="Write the results as Markdown to this file.")

    def handle(self, *args, queries, repeat, seed, output, **options):
        if not Statement.objects.exists():
            raise CommandError("No statements: run generate_data first.")
        self.rng = random.Random(seed)
        self.factory = APIRequestFactory()
        for view in (views.StatementViewSet, views.SpeakerViewSet, views.ClaimViewSet):
            view.throttle_classes = []
        results = []

        rare, common = self.pick_terms(queries)
        statements = views.StatementViewSet.as_view({"get": "list"})
        for label, terms in (
            ("search, terms with up to 15,000 matches", rare),
            ("search, common terms", common),
        ):
            params = [{"q": t, "page_size": 20} for t, _ in terms]
            timings = self.run(statements, "/api/v1/statements/", params, repeat)
            query = self.run_query(views.StatementViewSet, "/api/v1/statements/", params, repeat)
            results.append(
                (
                    label,
                    query,
                    timings,
                    f"{len(terms)} terms, {min(n for _, n in terms):,}–{max(n for _, n in terms):,} matches",
                )
            )

        speakers = list(
            Speaker.objects.filter(kind="person").order_by("?")[:queries].values_list("name", flat=True)
        )
        lookups = [typo(self.rng, max(name.split(), key=len)) for name in speakers]
        view = views.SpeakerViewSet.as_view({"get": "list"})
        params = [{"q": q, "page_size": 20} for q in lookups]
        timings = self.run(view, "/api/v1/speakers/", params, repeat)
        query = self.run_query(views.SpeakerViewSet, "/api/v1/speakers/", params, repeat)
        hits = sum(
            1
            for name, q in zip(speakers, lookups, strict=True)
            if name
            in [
                r["name"]
                for r in self.call(view, "/api/v1/speakers/", {"q": q, "page_size": 20}).data["results"][:5]
            ]
        )
        results.append(
            (
                "speaker lookup with typos",
                query,
                timings,
                f"right speaker in the top 5 for {hits}/{len(lookups)}",
            )
        )

        claims = list(Claim.objects.order_by("?")[:queries].values_list("public_id", "text"))
        reworded = [(pid, self.reword(text)) for pid, text in claims]
        view = views.ClaimViewSet.as_view({"get": "similar"})
        timings = self.run(view, "/api/v1/claims/similar/", [{"text": t} for _, t in reworded], repeat)
        query = self.time_each(
            [
                lambda t=t: list(
                    search.similar_claims(t, threshold=0.4, limit=10, queryset=Claim.objects.public())
                )
                for _, t in reworded
            ],
            repeat,
        )
        found = sum(
            1
            for pid, text in reworded
            if [
                r["id"]
                for r in self.call(view, "/api/v1/claims/similar/", {"text": text}).data["results"][:1]
            ]
            == [str(pid)]
        )
        results.append(
            (
                "similar claims",
                query,
                timings,
                f"original ranked first for {found}/{len(reworded)} reworded claims",
            )
        )

        report = self.report(results)
        self.stdout.write(report)
        if output:
            with open(output, "w") as f:
                f.write(report)

    def call(self, view, path, params):
        response = view(self.factory.get(path, params, HTTP_HOST="127.0.0.1"))
        response.render()
        assert response.status_code == 200, (path, params, response.data)
        return response

    def run(self, view, path, param_sets, repeat):
        return self.time_each([lambda p=p: self.call(view, path, p) for p in param_sets], repeat)

    def run_query(self, viewset, path, param_sets, repeat):
        """The view's own ranked, filtered query for one page, without display prefetches."""

        def query(params):
            view = viewset(action_map={"get": "list"}, format_kwarg=None, kwargs={}, args=())
            view.request = view.initialize_request(self.factory.get(path, params, HTTP_HOST="127.0.0.1"))
            return list(view.filter_queryset(view.get_queryset()).prefetch_related(None)[:21])

        return self.time_each([lambda p=p: query(p) for p in param_sets], repeat)

    @staticmethod
    def time_each(calls, repeat):
        for call in calls:  # warm-up
            call()
        timings = []
        for _ in range(repeat):
            for call in calls:
                start = time.perf_counter()
                call()
                timings.append((time.perf_counter() - start) * 1000)
        return timings

    def pick_terms(self, n):
        """Rare-ish terms (≤ 15,000 matching statements) and the most common ones, from a sample."""
        with connection.cursor() as cursor:
            # ts_stat over a 2% sample of pages estimates each word's frequency.
            cursor.execute(
                "SELECT word, ndoc * 50 FROM ts_stat("
                "'SELECT search_vector FROM claims_statement TABLESAMPLE SYSTEM (2) REPEATABLE (1)') "
                "WHERE length(word) > 3 ORDER BY ndoc DESC LIMIT 5000"
            )
            estimated = cursor.fetchall()
        rare = [w for w, n in estimated if 1_000 <= n <= 12_000]
        common = [w for w, _ in estimated[:n]]
        rare = self.rng.sample(rare, min(n, len(rare)))
        return [(w, self.matches(w)) for w in rare], [(w, self.matches(w)) for w in common]

    def matches(self, word):
        return search.search_statements(Statement.objects.public(), word).count()

    def reword(self, text):
        words = text.rstrip(".").split()
        if len(words) > 6:
            words.pop(self.rng.randrange(len(words)))
            i = self.rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)

    def report(self, results):
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg = cursor.fetchone()[0]
        counts = {m.__name__: m.objects.count() for m in (Statement, Claim, Speaker)}
        lines = [
            "| measurement | runs | query p50 ms | query p95 ms | target p95 ms | met | API p50 ms | API p95 ms | notes |",
            "|---|---:|---:|---:|---:|---|---:|---:|---|",
        ]
        for label, query, api, note in results:
            p95 = percentile(query, 95)
            target = TARGETS[label]
            lines.append(
                f"| {label} | {len(query)} | {statistics.median(query):.1f} | {p95:.1f} | {target} | "
                f"{'yes' if p95 <= target else 'NO'} | {statistics.median(api):.1f} | {percentile(api, 95):.1f} | {note} |"
            )
        header = (
            f"Database: {counts['Statement']:,} statements, {counts['Claim']:,} claims, {counts['Speaker']:,} speakers. "
            f"PostgreSQL {pg}, Django {django.get_version()}, Python {platform.python_version()}, "
            f"{platform.machine()} with {len(os.sched_getaffinity(0))} cores.\n\n"
        )
        return header + "\n".join(lines) + "\n"
