"""A load and fault test against the real server: gunicorn with production settings.

Everything runs on loopback against a private PostgreSQL (the embedded server, in a
temporary directory), so the test may stop and restart the database without
touching any other: mixed reads and writes from --clients concurrent clients for
--seconds; with --fault the database is stopped a third of the way in and
started again --outage seconds later.

It passes when no response is a 5xx other than 503 (and 503s only while the
database is down or just restarting), the server never drops a connection,
every write acknowledged with 201 is in the database afterwards with its
history entry, and nothing else was written (except, with --fault, a commit
in flight at the moment the database stopped, whose answer is lost: at most
one per client). Latency percentiles are over all
answered requests.
"""

import contextlib
import http.client
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg2
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from claims.bench.servers import free_port, wait_until_up
from project.embedded_pg.server import EmbeddedServer

RECOVERY_GRACE = 10.0  # seconds after the restart within which a 503 is still expected
HEALTHZ_LIMIT = 2.0  # seconds: a health check slower than this (the database up) fails the test
SLOW_READ_BYTES, SLOW_READ_PAUSE = 512, 0.25  # a slow reader takes 512 bytes every 0.25 s (2 kB/s)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else 0.0


class Database:
    """A private embedded PostgreSQL that can be stopped and started again."""

    def __init__(self, root: Path):
        self.server = EmbeddedServer(root / "pgdata")
        self.start()

    def start(self):
        address = self.server.ensure_running()
        self.host, self.port = address.host, address.port

    def stop(self):
        self.server.stop()

    def connect(self, name="postgres"):
        return psycopg2.connect(host=self.host, port=self.port, user="postgres", dbname=name)

    def url(self, name):
        return f"postgres://postgres@{quote(self.host, safe='')}:{self.port}/{name}"


@dataclass(frozen=True)
class Write:
    """What a load-test write creates: the API path, the table it lands in, its text's label."""

    path: str
    table: str
    label: str
    body: Callable[[str, dict], dict]


WRITES = {
    "claims": Write("/api/v1/claims/", "claim", "Load test claim", lambda text, parts: {"text": text}),
    "statements": Write(
        "/api/v1/statements/",
        "statement",
        "Load test statement",
        lambda text, parts: {
            "text": text,
            "said_on": "2020-01-08",
            "speakers": [{"speaker": slug} for slug in parts["speakers"]],
            "topics": parts["topics"],
            "appearances": [{"source": source, "quote": text[:40]} for source in parts["sources"]],
            "links": [{"type": "responds_to", "statement": s} for s in parts["statements"]],
        },
    ),
}


class Command(BaseCommand):
    help = "Load (and fault) test gunicorn with production settings on a private database."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=32)
        parser.add_argument("--seconds", type=float, default=60)
        parser.add_argument("--writes", type=float, default=0.3, help="Share of requests that write.")
        parser.add_argument(
            "--write-kind",
            choices=sorted(WRITES),
            default="claims",
            help="What a write creates: a claim, or a statement with two speakers, two topics, two "
            "appearances and a link (what builds the most stored documents).",
        )
        parser.add_argument("--fault", action="store_true", help="Stop and restart the database meanwhile.")
        parser.add_argument("--outage", type=float, default=5, help="Seconds the database stays down.")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument(
            "--slow-readers",
            type=int,
            default=2,
            help="Anonymous clients reading exports at 2 kB/s meanwhile (each export read to its end).",
        )

    def handle(
        self, *args, clients, seconds, writes, write_kind, fault, outage, workers, slow_readers, **options
    ):
        self.kind = WRITES[write_kind]
        root = Path(tempfile.mkdtemp(prefix="load-test-", dir="/tmp"))
        server = None
        database = None
        try:
            self.say("starting a private PostgreSQL")
            database = Database(root)
            conn = database.connect()
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("CREATE DATABASE loadtest")
            conn.close()
            env = self.environment(database)
            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
            subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True)
            subprocess.run([*manage, "loaddata", "seed", "-v0"], env=env, check=True)
            subprocess.run(
                [*manage, "shell", "-c", "from django.contrib.auth.models import User; "
                 "User.objects.create_superuser('loadtest', password=None)"],
                env=env, check=True,
            )  # fmt: skip
            token = subprocess.run(
                [*manage, "create_api_token", "loadtest"], env=env, check=True, capture_output=True, text=True
            ).stdout.strip()
            self.parts = self.seed_parts(database)
            port = free_port()
            self.say(f"starting gunicorn ({workers} workers, production settings) on 127.0.0.1:{port}")
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "project.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(workers), "--threads", "8", "--timeout", "30", "--log-level", "warning"],
                env=env, cwd=settings.BASE_DIR,
            )  # fmt: skip
            wait_until_up(port, seconds=30)
            result = self.run_load(
                port, token, clients, seconds, writes, database if fault else None, outage, slow_readers
            )
            result["stored"] = self.stored(database, result["acknowledged"])
            self.report(result, clients, seconds, fault)
            self.verdict(result, fault)
        finally:
            if server is not None:
                server.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=10)
            if database is not None:
                with contextlib.suppress(Exception):
                    database.stop()
            shutil.rmtree(root, ignore_errors=True)

    def say(self, message):
        self.stdout.write(message)
        self.stdout.flush()

    def environment(self, database):
        return {
            **os.environ,
            "DATABASE_URL": database.url("loadtest"),
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_SSL_REDIRECT": "false",  # plain HTTP on loopback
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "API_ANON_RATE": "1000000/minute",
            "API_USER_RATE": "1000000/minute",
            "REDIS_URL": "",
            # Rate limits are set out of reach here; one process's own count is as good.
            "RATE_LIMIT_CACHE": "local",
        }

    def run_load(self, port, token, clients, seconds, writes, database, outage, slow_readers=0):
        lock = threading.Lock()
        statuses, latencies, acknowledged, events = Counter(), [], [], []
        dropped = Counter()
        health, exports = [], Counter()  # (time, seconds, status); outcome of each slow export
        start = time.monotonic()
        deadline = start + seconds
        window = {}

        def client(number):
            rng = random.Random(number)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            n = 0
            while time.monotonic() < deadline:
                n += 1
                if rng.random() < writes:
                    method, path = "POST", self.kind.path
                    body = json.dumps(
                        self.kind.body(f"{self.kind.label} {number}-{n}: {secrets.token_hex(4)}", self.parts)
                    )
                else:
                    method, body = "GET", None
                    path = rng.choice(
                        ["/api/v1/statements/?page_size=20", "/api/v1/claims/?page_size=20",
                         "/api/v1/speakers/?q=erdogan", "/api/v1/statements/?topic=libya"]
                    )  # fmt: skip
                sent = time.monotonic()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        dropped[type(error).__name__] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    continue
                took = time.monotonic() - sent
                with lock:
                    statuses[response.status] += 1
                    latencies.append(took)
                    events.append((sent - start, response.status))
                    if method == "POST" and response.status == 201:
                        acknowledged.append(json.loads(data)["id"])
            conn.close()

        def slow_reader(number):
            """An export read slowly, to its end, again and again: it must neither starve the
            workers (the health checks below) nor end early while saying 200."""
            paths = ["/api/v1/statements/export/?format=csv", "/api/v1/claims/export/?format=jsonl"]
            n = 0
            while time.monotonic() < deadline:
                n += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.request("GET", paths[(number + n) % 2])
                    response = conn.getresponse()
                    if response.status != 200:
                        response.read()
                        with lock:
                            exports[f"answered {response.status}"] += 1
                        time.sleep(1)
                        continue
                    size = 0
                    while chunk := response.read(SLOW_READ_BYTES):  # IncompleteRead if cut short
                        size += len(chunk)
                        time.sleep(SLOW_READ_PAUSE)
                    with lock:
                        exports["read to the end"] += 1
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        exports[f"cut short ({type(error).__name__})"] += 1
                finally:
                    conn.close()

        def health_prober():
            while time.monotonic() < deadline:
                sent = time.monotonic()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.request("GET", "/healthz")
                    code = conn.getresponse().status
                except (OSError, http.client.HTTPException):
                    code = 0
                finally:
                    conn.close()
                with lock:
                    health.append((sent - start, time.monotonic() - sent, code))
                time.sleep(0.5)

        def fault():
            time.sleep(seconds / 3)
            window["down"] = time.monotonic() - start
            database.stop()
            time.sleep(outage)
            database.start()
            window["up"] = time.monotonic() - start

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        threads += [threading.Thread(target=slow_reader, args=(i,)) for i in range(slow_readers)]
        threads.append(threading.Thread(target=health_prober))
        if database is not None:
            threads.append(threading.Thread(target=fault))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start
        return {
            "statuses": statuses,
            "latencies": latencies,
            "acknowledged": acknowledged,
            "events": events,
            "dropped": dropped,
            "window": window,
            "elapsed": elapsed,
            "clients": clients,
            "health": health,
            "exports": exports,
            "slow_readers": slow_readers,
        }

    def stored(self, database, acknowledged):
        conn = database.connect("loadtest")
        with conn, conn.cursor() as cursor:
            table, label = self.kind.table, self.kind.label
            cursor.execute(
                f"SELECT count(*) FROM claims_{table} WHERE public_id = ANY(%s::uuid[])", [acknowledged]
            )
            found = cursor.fetchone()[0]
            cursor.execute(f"SELECT count(*) FROM claims_{table} WHERE text LIKE %s", [f"{label} %"])
            written = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT count(*) FROM claims_{table} c WHERE text LIKE %s AND NOT EXISTS "
                f"(SELECT 1 FROM claims_historical{table} h WHERE h.id = c.id)",
                [f"{label} %"],
            )
            without_history = cursor.fetchone()[0]
        conn.close()
        return {"found": found, "written": written, "without_history": without_history}

    def seed_parts(self, database) -> dict:
        """Two speakers, topics and sources, and a statement, of the seed: what a statement written
        by the load test refers to."""
        conn = database.connect("loadtest")
        with conn, conn.cursor() as cursor:
            parts = {}
            for name, sql in (
                ("speakers", "SELECT slug FROM claims_speaker ORDER BY id LIMIT 2"),
                ("topics", "SELECT slug FROM claims_topic ORDER BY id LIMIT 2"),
                ("sources", "SELECT public_id::text FROM claims_source ORDER BY id LIMIT 2"),
                ("statements", "SELECT public_id::text FROM claims_statement ORDER BY id LIMIT 1"),
            ):
                cursor.execute(sql)
                parts[name] = [row[0] for row in cursor.fetchall()]
        conn.close()
        return parts

    def report(self, result, clients, seconds, fault):
        statuses, latencies = result["statuses"], result["latencies"]
        total = sum(statuses.values())
        self.say(
            f"{clients} clients, {result['elapsed']:.0f} s: {total:,} requests answered "
            f"({total / result['elapsed']:,.0f}/s), statuses {dict(sorted(statuses.items()))}"
        )
        if latencies:
            self.say(
                "latency ms: p50 {:.1f}, p95 {:.1f}, p99 {:.1f}, max {:.1f}, mean {:.1f}".format(
                    *(1000 * percentile(latencies, p) for p in (50, 95, 99, 100)),
                    1000 * statistics.fmean(latencies),
                )
            )
        stored = result["stored"]
        self.say(
            f"writes acknowledged: {len(result['acknowledged']):,} ({len(result['acknowledged']) / result['elapsed']:,.1f}/s); "
            f"in the database: {stored['found']:,} of them, {stored['written']:,} load-test {self.kind.table}s in all, "
            f"{stored['without_history']} without a history entry"
        )
        if stored["written"] > stored["found"]:
            # A COMMIT in flight when the database stopped: stored, but its answer was lost.
            self.say(
                f"{stored['written'] - stored['found']} writes were stored whose answer was lost with the "
                "database (a commit in flight as it stopped; at most one per client is tolerated)"
            )
        if result["dropped"]:
            self.say(f"connections dropped: {dict(result['dropped'])}")
        health = [took for _, took, _ in result["health"]]
        if health:
            self.say(
                f"/healthz meanwhile: {len(health)} checks, p99 {1000 * percentile(health, 99):.1f} ms, "
                f"max {1000 * max(health):.1f} ms"
            )
        if result["slow_readers"]:
            self.say(
                f"{result['slow_readers']} slow readers (2 kB/s): exports {dict(sorted(result['exports'].items()))}"
            )
        if fault and result["window"]:
            window = result["window"]
            unavailable = [t for t, s in result["events"] if s == 503]
            recovered = [t for t, s in result["events"] if t >= window["up"] and s < 500]
            self.say(
                f"database down from {window['down']:.1f} s to {window['up']:.1f} s: {len(unavailable):,} answers "
                f"were 503; first success after the restart at "
                f"{min(recovered) if recovered else float('nan'):.1f} s"
            )

    def verdict(self, result, fault):
        problems = []
        statuses = result["statuses"]
        if any(s >= 500 and s != 503 for s in statuses):
            problems.append(f"server errors other than 503: {dict(statuses)}")
        window = result["window"]
        stray = [
            t
            for t, s in result["events"]
            if s == 503
            and not (fault and window and window["down"] - 1 <= t <= window["up"] + RECOVERY_GRACE)
        ]
        if stray:
            problems.append(f"{len(stray)} answers were 503 while the database was up")
        if result["dropped"]:
            problems.append(f"connections dropped: {dict(result['dropped'])}")

        def outside_the_outage(t):
            return not (fault and window and window["down"] - 1 <= t <= window["up"] + RECOVERY_GRACE)

        unhealthy = [
            (round(t, 1), round(took, 2), code)
            for t, took, code in result["health"]
            if outside_the_outage(t) and (code != 200 or took > HEALTHZ_LIMIT)
        ]
        if unhealthy:
            problems.append(f"/healthz slow or failing while the database was up: {unhealthy[:5]}")
        failed = {
            k: n for k, n in result["exports"].items() if k.startswith("answered 5") and k != "answered 503"
        }
        if failed:
            problems.append(f"exports answered server errors other than 503: {failed}")
        cut = {k: n for k, n in result["exports"].items() if k.startswith("cut short")}
        if cut and not fault:
            problems.append(f"exports ended early: {cut}")
        if result["slow_readers"] and not result["exports"]["read to the end"]:
            problems.append("no slow export was read to its end")
        stored = result["stored"]
        if stored["found"] != len(result["acknowledged"]):
            problems.append(
                f"{len(result['acknowledged']) - stored['found']} acknowledged writes are missing"
            )
        unanswered = stored["written"] - stored["found"]
        if unanswered and not (fault and unanswered <= result["clients"]):
            problems.append(f"{unanswered} writes were stored but not acknowledged")
        if stored["without_history"]:
            problems.append(
                f"{stored['without_history']} {self.kind.table}s were written without their history entry"
            )
        if fault and window and not [t for t, s in result["events"] if t >= window["up"] and s < 500]:
            problems.append("the API did not recover after the database restarted")
        if not result["acknowledged"]:
            problems.append("no write succeeded")
        if problems:
            raise CommandError("Load test failed: " + "; ".join(problems))
        self.say("passed")
