"""The benchmark's "limit": the statements list page at the least cost Django allows.

The same rows as ``/api/v1/statements/`` (published, newest said first, 50 a
page), read with ``values()`` and written with orjson: no serializers, no
related records, no pagination links. It is served only by
``project.bench_urls``, which ``manage.py bench`` runs; nothing in the public
URLconf points here.
"""

import orjson
from django.db.models.functions import Coalesce
from django.http import HttpResponse

from claims.models import NEVER, Statement

COLUMNS = ("public_id", "text", "language", "said_on", "said_on_precision", "status", "updated_at")


def statements(request):
    rows = list(
        Statement.objects.public().order_by(Coalesce("said_on", NEVER).desc(), "-id").values(*COLUMNS)[:50]
    )
    return HttpResponse(orjson.dumps({"results": rows}), content_type="application/json")
