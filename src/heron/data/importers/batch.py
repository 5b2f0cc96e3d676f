"""What every importer produces: rows of one kind for one instrument, on its grid.

An importer reads a file (an exchange archive, a vendor CSV, a recorded WebSocket
capture) and returns ``ImportBatch`` values; :func:`heron.data.importers.import_path`
writes them to the catalog. Keeping readers free of catalog I/O lets the same parsing
serve live feeds, tests and imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from heron.data.schemas import DataKind
from heron.model.instrument import Instrument


@dataclass(frozen=True, slots=True)
class ImportBatch:
    """Rows of ``kind`` for ``instrument``, in the catalog's schema for that kind."""

    instrument: Instrument
    kind: DataKind
    frame: pl.DataFrame
    source: str  # file (and, for captures, message type) the rows came from
