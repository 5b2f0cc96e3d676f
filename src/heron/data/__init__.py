"""The outside world's market data, read and checked at the edge of heron.

Bars: :func:`read_bars` reads a file (CSV, Binance klines, freqtrade JSON,
Feather, Parquet; gzip or zip), :func:`bars_from_frame` takes a polars or
pandas frame; both return a checked :class:`BarFrame`.
"""

from heron.data.bars import BAR_FORMATS, BAR_SCHEMA, BarFrame, bars_from_frame, read_bars

__all__ = ["BAR_FORMATS", "BAR_SCHEMA", "BarFrame", "bars_from_frame", "read_bars"]
