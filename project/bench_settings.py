"""Production settings, plus the benchmark's reference view (``manage.py bench`` only)."""

from .settings import *  # noqa: F403

ROOT_URLCONF = "project.bench_urls"
