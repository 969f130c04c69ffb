import contextlib
import threading
from pathlib import Path
from typing import Any

import psycopg2
from django.db.backends.postgresql import base
from psycopg2 import errors, sql

from .server import Address, EmbeddedServer

_lock = threading.Lock()
_servers: dict[Path, Address] = {}


def _server_address(pgdata: Path, *, refresh: bool = False) -> tuple[str, int]:
    """Start (or find) the server for ``pgdata``; return its socket dir and port.

    Found once per process; ``refresh`` checks again (after a connection failed:
    the server may have been stopped or killed since, and is started again)."""
    with _lock:
        if refresh or pgdata not in _servers:
            _servers[pgdata] = EmbeddedServer(pgdata).ensure_running()
        address = _servers[pgdata]
        return address.host, address.port


def _ensure_database(host: str, port: int, user: str, name: str) -> None:
    conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                with contextlib.suppress(errors.DuplicateDatabase):  # another process made it meanwhile
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_databases: set[str] = set()

    def _pgdata(self) -> Path:
        return Path(self.settings_dict["OPTIONS"]["pgdata"])

    def get_connection_params(self) -> dict[str, Any]:
        options = dict(self.settings_dict["OPTIONS"])
        options.pop("pgdata")
        host, port = _server_address(self._pgdata())
        settings_dict = {**self.settings_dict, "HOST": host, "PORT": str(port), "OPTIONS": options}
        original, self.settings_dict = self.settings_dict, settings_dict
        try:
            params = super().get_connection_params()
        finally:
            self.settings_dict = original
        name = params.get("dbname")
        if name and name != "postgres" and name not in self._checked_databases:
            # A fresh server has only the "postgres" database: create ours on
            # first use, checked once per process.
            _ensure_database(host, port, params["user"], name)
            self._checked_databases.add(name)
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        try:
            return super().get_new_connection(conn_params)
        except psycopg2.OperationalError:
            pgdata = self._pgdata()
            known = _servers.get(pgdata)
            if known is None or (conn_params.get("host"), str(conn_params.get("port"))) != (
                known.host,
                str(known.port),
            ):
                raise  # not our server's address that failed
            # Our server, stopped or killed since this process found it: start it again, once.
            host, port = _server_address(pgdata, refresh=True)
            return super().get_new_connection({**conn_params, "host": host, "port": port})
