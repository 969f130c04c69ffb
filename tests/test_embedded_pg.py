"""The embedded PostgreSQL survives every earlier crash or kill (issue 16, item 1).

Each test has a private data directory and real processes: the server started
by ``project.embedded_pg``, and a web process (``manage.py runserver`` on the
embedded database) answering ``/healthz``. They are killed in every order with
SIGTERM, SIGKILL and SIGINT (what Ctrl-C sends), the bookkeeping files are
damaged as crashes leave them, and the next start must answer with the data
committed before.
"""

import contextlib
import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
from django.conf import settings

from claims.bench.servers import free_port
from project.embedded_pg import base
from project.embedded_pg.server import EmbeddedServer, EmbeddedServerError

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")

# With DATABASE_URL (CI's PostgreSQL 15 run) the embedded server is not used at all.
pytestmark = pytest.mark.skipif(bool(settings.DATABASE_URL), reason="DATABASE_URL set: no embedded server")


@pytest.fixture
def pgdata():
    # Under /tmp, short enough for the socket to live in the data directory.
    root = Path(tempfile.mkdtemp(prefix="embedded-pg-", dir="/tmp"))
    yield root / "pgdata"
    EmbeddedServer(root / "pgdata").stop()
    shutil.rmtree(root, ignore_errors=True)


def connect(address):
    return psycopg2.connect(host=address.host, port=address.port, user="postgres", dbname="postgres")


def write_row(address, value):
    conn = connect(address)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS kept (value text)")
        cursor.execute("INSERT INTO kept VALUES (%s)", [value])
    conn.close()


def read_rows(address):
    conn = connect(address)
    with conn.cursor() as cursor:
        cursor.execute("SELECT value FROM kept ORDER BY value")
        rows = [value for (value,) in cursor.fetchall()]
    conn.close()
    return rows


def healthz(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status
    finally:
        conn.close()


class Web:
    """``manage.py runserver`` on the embedded database in ``pgdata``."""

    def __init__(self, pgdata: Path):
        self.port = free_port()
        env = {**os.environ, "EMBEDDED_PGDATA": str(pgdata), "DJANGO_SETTINGS_MODULE": "project.settings"}
        env.pop("DATABASE_URL", None)
        self.log = pgdata.parent / f"web-{self.port}.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    MANAGE,
                    "runserver",
                    "--noreload",
                    "--skip-checks",
                    f"127.0.0.1:{self.port}",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if healthz(self.port) == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"runserver did not answer: {self.log.read_text()}")
            time.sleep(0.2)

    def kill(self, sig):
        self.process.send_signal(sig)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def kill_server(server, sig):
    postmaster = server._postmaster()
    assert postmaster is not None
    postmaster.send_signal(sig)
    if sig == signal.SIGKILL:
        return
    # A "smart" SIGTERM waits for clients to leave; the next start makes it quick.
    with contextlib.suppress(psutil.TimeoutExpired):
        postmaster.wait(30)


SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL, "SIGINT": signal.SIGINT}


@pytest.mark.parametrize("order", ["server-then-web", "web-then-server"])
@pytest.mark.parametrize("name", list(SIGNALS))
def test_start_after_killing_server_and_web_in_any_order(pgdata, name, order):
    sig = SIGNALS[name]
    server = EmbeddedServer(pgdata)
    write_row(server.ensure_running(), "before")
    web = Web(pgdata)
    try:
        if order == "server-then-web":
            kill_server(server, sig)
            web.kill(sig)
        else:
            web.kill(sig)
            kill_server(server, sig)
    finally:
        if web.process.poll() is None:
            web.process.kill()
    # The next start (as make run's first command would do it) answers with the data.
    address = EmbeddedServer(pgdata).ensure_running()
    assert read_rows(address) == ["before"]
    again = Web(pgdata)
    try:
        assert healthz(again.port) == 200
    finally:
        again.kill(signal.SIGTERM)


def test_a_running_web_process_starts_a_killed_server_again(pgdata):
    server = EmbeddedServer(pgdata)
    write_row(server.ensure_running(), "before")
    web = Web(pgdata)
    try:
        first = server._postmaster().pid
        kill_server(server, signal.SIGKILL)
        assert healthz(web.port) == 200  # reconnecting starts the server again
        assert server._postmaster().pid != first
    finally:
        web.kill(signal.SIGTERM)


def test_the_wheels_empty_handle_file_is_no_obstacle(pgdata):
    """The defect as reported: an empty .handle_pids.json broke every command."""
    server = EmbeddedServer(pgdata)
    write_row(server.ensure_running(), "before")
    server.stop()
    (pgdata / ".handle_pids.json").write_text("")
    address = EmbeddedServer(pgdata).ensure_running()
    assert read_rows(address) == ["before"]
    assert not (pgdata / ".handle_pids.json").exists()


@pytest.mark.parametrize(
    "damage",
    [
        "empty",
        "truncated",  # as a kill during PostgreSQL's own writing of it leaves it
        "reused-pid",  # names a live process that is no server of ours
        "zombie-like",  # the socket's lock file too names a process that is no server
    ],
)
def test_a_stale_postmaster_pid_after_a_kill(pgdata, damage):
    server = EmbeddedServer(pgdata)
    write_row(server.ensure_running(), "before")
    kill_server(server, signal.SIGKILL)
    pid_file = pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    if damage == "empty":
        pid_file.write_text("")
    elif damage == "truncated":
        pid_file.write_text("\n".join(lines[:3]) + "\n")
    else:
        # This test's own process: alive, running as another user or elsewhere than the data directory.
        lines[0] = str(os.getpid())
        pid_file.write_text("\n".join(lines) + "\n")
        if damage == "zombie-like":
            lock = pgdata / ".s.PGSQL.5432.lock"
            lock.write_text("\n".join([str(os.getpid()), *lock.read_text().splitlines()[1:]]) + "\n")
    address = EmbeddedServer(pgdata).ensure_running()
    assert read_rows(address) == ["before"]


def test_a_server_still_running_from_before_is_reused(pgdata):
    first = EmbeddedServer(pgdata)
    first.ensure_running()
    pid = first._postmaster().pid
    # A new process knows nothing of the first one but what is on disk.
    out = subprocess.run(
        [sys.executable, "-m", "project.embedded_pg", "start"],
        env={**os.environ, "EMBEDDED_PGDATA": str(pgdata)},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "running" in out.stdout
    assert EmbeddedServer(pgdata)._postmaster().pid == pid


def test_concurrent_first_starts_make_one_cluster_and_one_server(pgdata):
    results, errors = [], []

    def start():
        try:
            results.append(EmbeddedServer(pgdata).ensure_running())
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    processes = EmbeddedServer(pgdata)._processes()
    pids = {process.pid for process in processes}
    assert len([process for process in processes if process.ppid() not in pids]) == 1  # one postmaster


def test_a_killed_initdb_leaves_no_half_made_cluster(pgdata):
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    leftover = pgdata.parent / f".{pgdata.name}.init-killed"
    (leftover / "global").mkdir(parents=True)
    (leftover / "PG_VERSION").write_text("18\n")
    address = EmbeddedServer(pgdata).ensure_running()
    assert not leftover.exists()
    write_row(address, "after")
    assert read_rows(address) == ["after"]


def test_a_directory_that_is_no_cluster_is_moved_aside_not_deleted(pgdata):
    pgdata.mkdir(parents=True)
    (pgdata / "notes.txt").write_text("someone's file")
    EmbeddedServer(pgdata).ensure_running()
    aside = [path for path in pgdata.parent.iterdir() if path.name.startswith("pgdata.not-a-cluster-")]
    assert len(aside) == 1
    assert (aside[0] / "notes.txt").read_text() == "someone's file"


def test_db_stop_stops_and_the_next_connection_starts_it(pgdata):
    server = EmbeddedServer(pgdata)
    server.ensure_running()
    assert server.stop() is True
    assert server._postmaster() is None
    assert server.stop() is False
    host, _port = base._server_address(pgdata, refresh=True)
    assert EmbeddedServer(pgdata)._postmaster() is not None
    assert Path(host) == pgdata


def test_a_server_that_cannot_start_is_reported_with_its_log(pgdata):
    server = EmbeddedServer(pgdata)
    server.ensure_running()
    server.stop()
    # A setting PostgreSQL refuses: the start fails, and the error says where to look.
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write("\nshared_buffers = 'plenty'\n")
    with pytest.raises(EmbeddedServerError, match="did not start"):
        EmbeddedServer(pgdata).ensure_running()
    lines = (pgdata / "postgresql.conf").read_text().splitlines()
    (pgdata / "postgresql.conf").write_text("\n".join(line for line in lines if "plenty" not in line) + "\n")
