"""Read replicas: reads on a replica, writes and read-your-writes on the primary.

``DATABASE_REPLICA_URLS`` (comma-separated) adds database aliases ``replica1``,
``replica2``… (``settings.READ_REPLICAS``). ``ReplicaMiddleware`` marks the
requests whose reads may go to a replica: safe (GET, HEAD, OPTIONS) API
requests from a client that has not written in the last
``READ_YOUR_WRITES_SECONDS``. A client is known by its ``Authorization``
header or session cookie (anonymous clients cannot write), and its last write
is remembered in the shared cache, so every app server knows it. Everything
else goes to the primary: writes, reads inside a transaction, the admin, and
anything outside a request (management commands, migrations).
"""

import contextvars
import hashlib
import random

from django.conf import settings
from django.core.cache import cache
from django.db import connections

_reads_on_replica = contextvars.ContextVar("claims_reads_on_replica", default=False)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _client_key(request) -> str | None:
    credential = request.headers.get("Authorization") or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not credential:
        return None
    return "claims:wrote:" + hashlib.sha256(credential.encode()).hexdigest()


class ReplicaMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.READ_REPLICAS:
            return self.get_response(request)
        key = _client_key(request)
        safe = request.method in SAFE_METHODS
        replica = safe and request.path.startswith("/api/") and not (key and cache.get(key))
        token = _reads_on_replica.set(replica)
        try:
            response = self.get_response(request)
        finally:
            _reads_on_replica.reset(token)
        if not safe and key and response.status_code < 400:
            # This client reads its own writes from the primary until replicas have them.
            cache.set(key, True, settings.READ_YOUR_WRITES_SECONDS)
        return response


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if settings.READ_REPLICAS and _reads_on_replica.get() and not connections["default"].in_atomic_block:
            return random.choice(settings.READ_REPLICAS)
        return "default"

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the same data everywhere

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"  # replicas follow the primary, schema included
