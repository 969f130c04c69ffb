"""The archive as a Frictionless Data Package: one CSV per table, read back losslessly.

Every record is identified by its public UUID and refers to others by theirs,
so packages from different installations can be merged, and exporting,
importing into an empty database and exporting again gives identical files
(apart from the generation time in datapackage.json).

- ``schema.py``: the tables and columns, and their Table Schema;
- ``export.py``: writing a package (COPY per table);
- ``checks.py``: checking a staged package, set-based;
- ``load.py``: reading one into the archive (staged, checked, merged; all or nothing).
"""

from .export import export_package
from .load import import_package

__all__ = ["export_package", "import_package"]
