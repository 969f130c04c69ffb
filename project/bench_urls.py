"""The public URLconf plus the benchmark's minimal reference view (see claims.bench)."""

from django.urls import path

from claims.bench import minimal

from .urls import *  # noqa: F403 (the handlers too)
from .urls import urlpatterns as public_urlpatterns

urlpatterns = [path("bench/minimal/statements/", minimal.statements), *public_urlpatterns]
