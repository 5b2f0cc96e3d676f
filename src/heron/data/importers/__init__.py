"""Importers of market-data files into the catalog.

:func:`import_path` reads a file in any :data:`IMPORT_FORMATS` format (detected from the
content by :func:`detect_format` unless given) and writes it to a
:class:`~heron.data.catalog.Catalog`; :func:`read_batches` stops before the catalog and
returns the :class:`ImportBatch` values, one per instrument and kind. The readers of each
format live in their own modules (:mod:`.binance_archive`, :mod:`.tardis`,
:mod:`.freqtrade`, :mod:`.generic_csv`; WebSocket captures in :mod:`.captures`).
"""

from heron.data.importers.batch import ImportBatch
from heron.data.importers.registry import (
    IMPORT_FORMATS,
    BatchReport,
    ImportReport,
    detect_format,
    import_path,
    read_batches,
)

__all__ = ["IMPORT_FORMATS", "BatchReport", "ImportBatch", "ImportReport", "detect_format",
           "import_path", "read_batches"]
