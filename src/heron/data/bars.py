"""OHLCV bars from files and data frames, converted and checked once, at the edge.

Everything above ``data/`` may rely on a :class:`BarFrame` being sane: one row
per bar, ``ts`` strictly increasing Int64 ns since the epoch (UTC), finite
positive prices with ``low <= min(open, close)`` and ``high >= max(open, close)``,
non-negative volume. A file that breaks any of that is refused with a one-line
:class:`~heron.errors.DataError` naming the file, the row and the fix, rather
than letting a backtest run on it and report wrong numbers.

Supported formats (``fmt`` values, all optionally gzip- or zip-compressed):

* ``csv``: generic CSV with a header; see :mod:`heron.data.bar_columns` for the
  accepted column names. A missing volume column reads as volume 0.0 (FX bid/ask
  bars carry none), and so does a volume column with no value in any row
  (mark-price candles): zero keeps sums and volume-weighted figures finite,
  where NaN would poison them. A column missing only some values is refused.
* ``binance-kline``: data.binance.vision kline dumps (ms or, since 2025, us times).
* ``freqtrade-json``: freqtrade's ``[[ts_ms, o, h, l, c, v], ...]`` candle files.
* ``feather``: Arrow IPC, as freqtrade writes (``date`` column, tz-aware).
* ``parquet``: same column names as CSV; time as timestamp, date, epoch or text.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import msgspec
import polars as pl

from heron.data.bar_checks import check_bars
from heron.data.bar_columns import (
    PRICE_COLUMNS,
    BarSource,
    ColumnMap,
    float_decimals,
    resolve_columns,
    symbol_of,
    text_decimals,
    to_float,
    to_ns,
)
from heron.data.bar_formats import BAR_FORMATS, RawTable, load_table
from heron.errors import EngineError, InvalidConfiguration

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BAR_FORMATS", "BAR_SCHEMA", "BarFrame", "bars_from_frame", "read_bars"]

BAR_SCHEMA = pl.Schema(
    {
        "ts": pl.Int64(),
        "open": pl.Float64(),
        "high": pl.Float64(),
        "low": pl.Float64(),
        "close": pl.Float64(),
        "volume": pl.Float64(),
    }
)
"""The exact columns and types of :attr:`BarFrame.frame`."""


class BarFrame(msgspec.Struct, frozen=True, eq=False):
    """Checked OHLCV bars of one instrument, with what the source said about them.

    Build it with :func:`read_bars` or :func:`bars_from_frame`, which convert and
    check the data; constructing one directly only checks the schema.
    ``price_decimals`` is the most decimal places the source wrote for a price
    (for binary sources: the fewest places that represent every price), so the
    engine can choose an exact tick size instead of guessing from floats.
    ``eq=False`` because a frame has no single truth value; compare ``.frame``
    with ``DataFrame.equals`` when needed.
    """

    frame: pl.DataFrame
    price_decimals: int
    source: str
    symbol: str | None = None

    def __post_init__(self) -> None:
        if self.frame.schema != BAR_SCHEMA:
            raise EngineError(
                f"BarFrame({self.source}) built with columns {dict(self.frame.schema)}, "
                f"expected {dict(BAR_SCHEMA)}; build it with read_bars or bars_from_frame"
            )

    def __len__(self) -> int:
        return self.frame.height


def _prices(frame: pl.DataFrame, columns: ColumnMap, src: BarSource) -> tuple[list[pl.Series], int]:
    """Price columns as Float64 and the decimal places their source shows."""
    series: list[pl.Series] = []
    decimals = 0
    for role in PRICE_COLUMNS:
        floats, text = to_float(frame[columns.price(role)], role, src)
        places = float_decimals(floats) if text is None else text_decimals(text)
        series.append(floats)
        decimals = max(decimals, places)
    return series, decimals


def _volume(frame: pl.DataFrame, columns: ColumnMap, src: BarSource) -> pl.Series:
    """Volume as Float64; no column, or one with no value at all, reads as 0.0.

    An all-empty column means the source has no volume (freqtrade's mark-price
    candles are all NaN), the same as no column; a column with only some values
    missing is a gap in the data, and the bar checks refuse it.
    """
    if columns.volume is not None:
        floats, _ = to_float(frame[columns.volume], "volume", src)
        if not (floats.is_null() | floats.is_nan()).all():
            return floats
    return pl.repeat(0.0, frame.height, dtype=pl.Float64, eager=True).alias("volume")


def _build(table: RawTable) -> BarFrame:
    """Convert a parsed table to heron's bar columns, check it, wrap it."""
    frame, columns, src = table.frame, table.columns, table.source
    ts = to_ns(frame[columns.ts], src)
    prices, decimals = _prices(frame, columns, src)
    bars = pl.DataFrame([ts, *prices, _volume(frame, columns, src)])
    check_bars(bars, src)
    symbol = table.symbol
    if symbol is None and columns.symbol is not None:
        symbol = symbol_of(frame[columns.symbol], src)
    return BarFrame(bars, decimals, src.name, symbol)


def read_bars(path: str | Path, *, fmt: str | None = None) -> BarFrame:
    """Read and check a bar file; ``fmt=None`` detects the format from the content.

    Raises :class:`DataError` for anything wrong with the file and
    :class:`InvalidConfiguration` for an unknown ``fmt``.
    """
    if fmt is not None and fmt not in BAR_FORMATS:
        raise InvalidConfiguration(
            f"unknown bar format {fmt!r}; use one of {', '.join(BAR_FORMATS)} or leave it out"
        )
    return _build(load_table(Path(path), fmt))


def _from_pandas(df: pd.DataFrame, src: BarSource) -> pl.DataFrame:
    """Move a pandas frame to polars, keeping a meaningful index as the first column.

    backtesting.py-style frames keep time in a ``DatetimeIndex``; a plain
    ``RangeIndex`` carries nothing and is dropped.
    """
    import pandas as pd

    if isinstance(df.index, pd.MultiIndex):
        raise src.error("the frame has a multi-level index", "reset_index() it first")
    if not isinstance(df.index, pd.RangeIndex):
        index_name = df.index.name if isinstance(df.index.name, str) else ""
        if index_name in df.columns:
            raise src.error(
                f"the index and a column are both called {index_name!r}", "rename or drop one"
            )
        df = df.reset_index(names=index_name)
    df = df.rename(columns=str)
    try:
        return pl.from_pandas(df)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise src.error(f"cannot convert the frame ({exc})", "use plain numeric columns") from None


def bars_from_frame(df: pl.DataFrame | pd.DataFrame, *, source: str = "<frame>") -> BarFrame:
    """Check bars already in memory (polars or pandas), with the same rules as files.

    The time may be a column under any accepted name or, for pandas, the index.
    """
    src = BarSource(source, "row", 1)
    if not isinstance(df, pl.DataFrame):
        df = _from_pandas(_as_pandas(df), src)
    if df.height == 0:
        raise src.error("no bars in the frame", "pass a frame with at least one bar")
    return _build(RawTable(df, resolve_columns(df.columns, src), src))


def _as_pandas(df: object) -> pd.DataFrame:
    """Accept only a pandas DataFrame; anything else is a programming error, not bad data.

    Looks pandas up in ``sys.modules`` so that heron never imports it (it is an
    optional extra): an object cannot be a pandas frame unless pandas is loaded.
    """
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(df, pandas.DataFrame):
        raise TypeError(
            f"bars_from_frame takes a polars or pandas DataFrame, not {type(df).__name__}"
        )
    return cast("pd.DataFrame", df)
