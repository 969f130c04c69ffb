"""The project's settings, plus a second alias of the database, as a read replica would be.

The alias mirrors the default database (it is the same database under test);
tests/test_scaling.py turns routing to it on with ``READ_REPLICAS``.
"""

from project.settings import *  # noqa: F403
from project.settings import DATABASES

DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
