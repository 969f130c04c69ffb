"""Generate a large, realistic archive for benchmarks: deterministic for a given seed.

Rows are streamed into PostgreSQL with COPY, with triggers off, and the search
documents are then built set-based, so a million statements load in minutes.
The archive is skewed like real ones: a few speakers, topics and words
dominate (Zipf-like), most statements are published, dates come with all
three precisions, names carry diacritics and ASCII aliases.

Generated records have no history entries and no created_by/updated_by.
"""

import datetime
import random
import time
import uuid
from bisect import bisect
from itertools import accumulate

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from claims import documents
from claims.datasets.package.load import drop_foreign_keys, restore_indexes_and_keys, written_tables
from claims.models import STATEMENT_CONTENT_FIELDS, Speaker, Statement

# Names are built from consonant-vowel syllables (some with a closing
# consonant), diverse enough that 20,000 of them are told apart as real names are.
SYLLABLES = [
    c + v + e for c in "bdfghjklmnprstvyz" for v in "aeiou" for e in ("", "", "", "n", "r", "l", "s")
]
ACCENTS = {"a": "áâä", "e": "éè", "o": "öô", "u": "üú", "i": "ıí", "s": "şš", "c": "çč", "g": "ğ"}
THEMES = [
    "ceasefire",
    "libya",
    "tripoli",
    "syria",
    "iran",
    "missile",
    "pipeline",
    "gas",
    "election",
    "vaccine",
    "inflation",
    "border",
    "troops",
    "sanctions",
    "parliament",
    "minister",
    "president",
    "army",
    "refugees",
    "economy",
    "budget",
    "treaty",
    "nuclear",
    "drone",
    "strike",
    "protest",
    "court",
    "corruption",
    "unemployment",
    "climate",
    "energy",
    "oil",
    "wheat",
    "tariff",
    "police",
]
FILLER = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "on",
    "for",
    "with",
    "will",
    "is",
    "are",
    "was",
    "be",
    "said",
    "our",
    "their",
    "we",
    "they",
    "this",
    "that",
    "by",
    "at",
    "from",
    "all",
    "must",
    "not",
    "has",
    "have",
    "been",
    "more",
    "than",
    "support",
    "call",
    "continue",
    "end",
    "against",
    "until",
    "country",
    "people",
]
VERDICTS = ["true", "mostly_true", "mixed", "mostly_false", "false", "unproven", "other"]
SCALES = [  # (textual ratings per verdict, best, worst)
    (["True", "Mostly True", "Half True", "Mostly False", "False", "Unproven", "Pants on Fire"], 5, 0),
    (["Correct", "Largely correct", "Mixed", "Misleading", "Incorrect", "Unverified", "Satire"], 1, 5),
    (["True", "True", "Partly false", "Partly false", "False", "Missing context", "Altered"], None, None),
]


class Rows:
    """A read()-able stream of COPY text rows from a generator of tuples."""

    def __init__(self, rows):
        self.rows, self.buffer = rows, ""

    def read(self, size=-1):
        while size < 0 or len(self.buffer) < size:
            try:
                row = next(self.rows)
            except StopIteration:
                break
            self.buffer += "\t".join(_copy_value(v) for v in row) + "\n"
        if size < 0:
            size = len(self.buffer)
        chunk, self.buffer = self.buffer[:size], self.buffer[size:]
        return chunk

    readline = read


def _copy_value(value):
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        return "{" + ",".join('"' + v.replace('"', "") + '"' for v in value) + "}"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def zipf_picker(rng, n, s=1.1):
    """Pick 0..n-1, the first few far more often (as real archives are skewed)."""
    cumulative = list(accumulate(1 / (k + 1) ** s for k in range(n)))
    total = cumulative[-1]
    return lambda: bisect(cumulative, rng.random() * total)


class Command(BaseCommand):
    help = "Fill an empty database with a large generated archive (for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--statements", type=int, default=1_000_000)
        parser.add_argument("--speakers", type=int, default=20_000)
        parser.add_argument("--outlets", type=int, default=2_000)
        parser.add_argument("--sources", type=int, default=300_000)
        parser.add_argument("--claims", type=int, default=100_000)
        parser.add_argument("--reviews", type=int, default=50_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **o):
        if Statement.objects.exists() or Speaker.objects.exists():
            raise CommandError("The database already has data: generate into an empty one.")
        if o["reviews"] > o["claims"]:
            raise CommandError("--reviews cannot exceed --claims (one review per claim here).")
        self.rng = random.Random(o["seed"])
        self.started = time.monotonic()
        with transaction.atomic(), connection.cursor() as cursor, documents.paused(cursor):
            # Statements' documents paused while loading: built set-based below. The foreign keys
            # between the tables loaded are dropped meanwhile and added back after, each checked
            # by one query (deferred, each row written would queue a check until the commit; the
            # keys to auth_user too: an empty archive has no one logging in to lock out).
            tables = written_tables()
            keys = drop_foreign_keys(cursor, tables, [*tables, "auth_user"])
            self.cursor = cursor
            self.load(o)
            self.step("building search documents")
            # Statistics first: without them the planner takes the just-loaded tables
            # for empty ones, and the documents' lookups become scans (hours at 1M).
            cursor.execute("ANALYZE")
            documents.build_all(cursor)
            # After the documents: an update of a row inserted in the same transaction queues
            # a check of its foreign keys too.
            self.step("checking references")
            restore_indexes_and_keys(cursor, {}, keys)
        with connection.cursor() as cursor:
            for table in (
                "speaker",
                "outlet",
                "source",
                "statement",
                "statementspeaker",
                "appearance",
                "claim",
                "review",
            ):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('claims_{table}', 'id'), (SELECT max(id) FROM claims_{table}))"
                )
            self.step("vacuuming and analyzing")
            # VACUUM cannot run inside a transaction (as under the test suite). FULL: the
            # documents were written by updating every loaded row, which left the tables
            # twice their size; an archive restored from a dump is compact, and scans
            # (exports, benchmarks) read what a real one would.
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM (FULL, ANALYZE)")
        self.step(f"done: {o['statements']} statements")

    def step(self, message):
        self.stdout.write(f"[{time.monotonic() - self.started:7.1f}s] {message}")
        self.stdout.flush()

    def copy(self, table, columns, rows):
        self.step(f"loading {table}")
        self.cursor.cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", Rows(iter(rows)))

    def uid(self):
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def word(self):
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4)))

    def name(self):
        plain = " ".join(self.word().capitalize() for _ in range(self.rng.randint(2, 3)))
        accented = "".join(
            self.rng.choice(ACCENTS[c]) if c in ACCENTS and self.rng.random() < 0.15 else c for c in plain
        )
        return accented, plain

    def load(self, o):
        rng, now = self.rng, datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).isoformat()
        vocabulary = THEMES + [self.word() for _ in range(20_000)]
        pick_word = zipf_picker(rng, len(vocabulary), 1.05)
        pick_filler = zipf_picker(rng, len(FILLER), 0.8)

        def sentence(n):
            return (
                " ".join(
                    vocabulary[pick_word()] if rng.random() < 0.55 else FILLER[pick_filler()]
                    for _ in range(n)
                ).capitalize()
                + "."
            )

        n_orgs = max(1, o["speakers"] // 20)
        speakers = []
        for i in range(o["speakers"]):
            accented, plain = self.name()
            kind = "government" if i < n_orgs else "person"
            aliases = [plain] if plain != accented else []
            if rng.random() < 0.3:
                aliases.append(plain.split()[-1])
            speakers.append((i + 1, self.uid(), now, now, accented, f"s{i + 1}", kind, aliases, "", "", ""))
        self.copy(
            "claims_speaker",
            [
                "id",
                "public_id",
                "created_at",
                "updated_at",
                "name",
                "slug",
                "kind",
                "aliases",
                "description",
                "wikidata_qid",
                "search_names",
            ],
            speakers,
        )
        self.copy(
            "claims_affiliation",
            [
                "public_id",
                "created_at",
                "updated_at",
                "speaker_id",
                "organisation_id",
                "role",
                "start_date",
                "end_date",
            ],
            (
                (
                    self.uid(),
                    now,
                    now,
                    s[0],
                    rng.randint(1, n_orgs),
                    rng.choice(["Spokesman", "Minister", "President", "Member"]),
                    datetime.date(rng.randint(2000, 2018), 1, 1) if rng.random() < 0.5 else None,
                    None,
                )
                for s in speakers[n_orgs:]
                if rng.random() < 0.2
            ),
        )
        kinds = ["newspaper"] * 5 + ["news_agency", "broadcaster", "platform", "government"]
        outlets = o["outlets"]
        checkers = max(1, outlets // 40)
        self.copy(
            "claims_outlet",
            [
                "id",
                "public_id",
                "created_at",
                "updated_at",
                "name",
                "slug",
                "kind",
                "homepage",
                "country",
                "language",
                "description",
            ],
            (
                (
                    i + 1,
                    self.uid(),
                    now,
                    now,
                    self.name()[0] + (" Check" if i < checkers else " News"),
                    f"o{i + 1}",
                    "fact_checker" if i < checkers else rng.choice(kinds),
                    f"https://o{i + 1}.example.org/",
                    "",
                    "en",
                    "",
                )
                for i in range(outlets)
            ),
        )
        source_kinds = ["article"] * 6 + [
            "agency_wire",
            "video",
            "social_post",
            "press_release",
            "transcript",
        ]
        self.copy(
            "claims_source",
            [
                "id",
                "public_id",
                "created_at",
                "updated_at",
                "url",
                "title",
                "outlet_id",
                "kind",
                "published_on",
                "language",
                "archive_url",
                "description",
                "cites_id",
            ],
            (
                (
                    i + 1,
                    self.uid(),
                    now,
                    now,
                    f"https://news.example.org/{i + 1}" if rng.random() < 0.8 else "",
                    sentence(rng.randint(4, 9)),
                    rng.randint(checkers + 1, outlets) if outlets > checkers else None,
                    rng.choice(source_kinds),
                    datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randint(0, 3900)),
                    "en",
                    "",
                    "",
                    rng.randint(1, i) if i > 0 and rng.random() < 0.2 else None,
                )
                for i in range(o["sources"])
            ),
        )
        pick_speaker = zipf_picker(rng, o["speakers"], 0.9)
        n_topics = 200
        self.copy(
            "claims_topic",
            ["id", "public_id", "created_at", "updated_at", "name", "slug", "description"],
            (
                (i + 1, self.uid(), now, now, f"{THEMES[i % len(THEMES)]} {i}", f"t{i + 1}", "")
                for i in range(n_topics)
            ),
        )
        pick_topic = zipf_picker(rng, n_topics, 1.2)
        statements, roles, appearances, topics, links = [], [], [], [], []
        languages = ["en"] * 17 + ["fr", "tr", "ar"]
        for i in range(1, o["statements"] + 1):
            sid = i
            precision = rng.choices(["day", "month", "year"], [90, 8, 2])[0]
            day = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randint(0, 3900))
            day = day.replace(day=1) if precision != "day" else day
            day = day.replace(month=1) if precision == "year" else day
            statements.append(
                (
                    sid,
                    self.uid(),
                    now,
                    now,
                    rng.choices(["published", "draft", "retracted"], [95, 4, 1])[0],
                    sentence(rng.randint(8, 30)),
                    "verbatim",
                    "",
                    "",
                    rng.choice(languages),
                    day,
                    precision,
                    "",
                    "",
                )
            )
            first = pick_speaker() + 1
            roles.append((sid, first, "speaker", 0))
            if rng.random() < 0.15:
                second = pick_speaker() + 1
                if second != first:
                    roles.append((sid, second, rng.choice(["speaker", "on_behalf_of", "co_signatory"]), 1))
            appearances.append((self.uid(), now, now, sid, rng.randint(1, o["sources"]), "", True))
            topic = pick_topic() + 1
            topics.append((sid, topic))
            if rng.random() < 0.3:
                other = pick_topic() + 1
                if other != topic:
                    topics.append((sid, other))
            if i > 1 and rng.random() < 0.05:
                links.append(
                    (
                        sid,
                        rng.randint(1, i - 1),
                        rng.choice(
                            ["responds_to", "rejects", "supports", "repeats", "contradicts", "corrects"]
                        ),
                        "",
                    )
                )
        self.copy(
            "claims_statement",
            ["id", "public_id", "created_at", "updated_at", *STATEMENT_CONTENT_FIELDS],
            statements,
        )
        self.copy("claims_statementspeaker", ["statement_id", "speaker_id", "role", "position"], roles)
        self.copy(
            "claims_appearance",
            ["public_id", "created_at", "updated_at", "statement_id", "source_id", "quote", "is_first"],
            appearances,
        )
        self.copy("claims_statement_topics", ["statement_id", "topic_id"], topics)
        self.copy("claims_statementlink", ["from_statement_id", "to_statement_id", "type", "note"], links)
        del statements, roles, appearances, topics, links

        claim_statements = rng.sample(range(1, o["statements"] + 1), o["claims"])
        self.copy(
            "claims_claim",
            [
                "id",
                "public_id",
                "created_at",
                "updated_at",
                "status",
                "text",
                "statement_id",
                "normalized_text",
            ],
            (
                (i + 1, self.uid(), now, now, "published", sentence(rng.randint(8, 20)), s, "")
                for i, s in enumerate(claim_statements)
            ),
        )

        def review(i):
            verdict = rng.randrange(len(VERDICTS))
            labels, best, worst = SCALES[i % len(SCALES)]
            value = None if best is None else (best - (best - worst) * min(verdict, 4) / 4)
            return (
                self.uid(),
                now,
                now,
                "published",
                i + 1,
                rng.randint(1, checkers),
                labels[verdict],
                value,
                best,
                worst,
                VERDICTS[verdict],
                sentence(12),
                "",
                datetime.date(2016, 1, 1) + datetime.timedelta(days=rng.randint(0, 3500)),
            )

        self.copy(
            "claims_review",
            [
                "public_id",
                "created_at",
                "updated_at",
                "status",
                "claim_id",
                "reviewer_id",
                "rating_text",
                "rating_value",
                "best_rating",
                "worst_rating",
                "verdict",
                "summary",
                "url",
                "published_on",
            ],
            (review(i) for i in range(o["reviews"])),
        )
