"""Bars from trades: time bars of any interval, and tick, volume and dollar bars.

Every builder is the same two vectorised steps in polars: give each trade a bar id
(floor division of its timestamp, of its row number, or of a running sum), then one
``group_by(maintain_order=True)`` aggregation. No Python loop touches a trade.

Input, a trades frame sorted by ``ts``::

    ts          Int64 ns since the epoch (UTC), non-decreasing (a Datetime column is accepted)
    price       integer ticks (any integer type; cast to Int64; may be negative, e.g. spreads)
    size        integer lots, >= 0
    aggressor   optional integer: 1 buyer took liquidity, -1 seller did, 0 unknown

Output, one row per bar, in time order (``BAR_SCHEMA``)::

    ts                        bar open time (time bars: the interval start; others: first trade)
    ts_close                  time of the bar's last trade (null for a gap bar)
    open high low close       Int64 ticks, exact
    volume                    Int64 lots
    notional                  Decimal(38, 0): exact sum of price * size, in tick·lot units
    trades                    Int64 count
    buy_volume sell_volume    Int64 lots by aggressor; their sum is <= volume, the rest is
                              volume of unknown side (aggressor 0, or no aggressor column)
    vwap                      Float64 ticks, notional / volume; null when volume is 0

Why ``notional`` is ``Decimal(38, 0)``: Int64 is too close to overflowing (a busy BTC day at
0.01 ticks and 1e-6 lots sums to ~4e17 tick·lots per day, 1/20 of the Int64 limit, and
one bar can be a year); Float64 would throw away the exactness the integer inputs were
chosen for; polars' Int128 is exact but cannot be handed to Arrow, parquet readers other
than polars, pandas or NumPy. ``Decimal(38, 0)`` is an exact 128-bit integer that all of
them read. The sums are taken in Int128 and cast once per bar.
"""

from __future__ import annotations

import re
from typing import Final

import polars as pl

from heron.errors import DataError, InvalidConfiguration

NS_PER_UNIT: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
}
_INTERVAL = re.compile(r"([0-9]+)(ns|us|ms|s|m|h|d)")

# fill_gaps refuses to build more rows than this: a typo like "1ms" over a month of
# trades would otherwise try to allocate billions of rows and be killed for memory.
MAX_FILLED_BARS: Final = 100_000_000

NOTIONAL_DTYPE: Final = pl.Decimal(38, 0)
_INT64_MAX: Final = 2**63 - 1
_INT128_MAX: Final = 2**127 - 1

BAR_SCHEMA: Final = pl.Schema(
    [
        ("ts", pl.Int64()),
        ("ts_close", pl.Int64()),
        ("open", pl.Int64()),
        ("high", pl.Int64()),
        ("low", pl.Int64()),
        ("close", pl.Int64()),
        ("volume", pl.Int64()),
        ("notional", NOTIONAL_DTYPE),
        ("trades", pl.Int64()),
        ("buy_volume", pl.Int64()),
        ("sell_volume", pl.Int64()),
        ("vwap", pl.Float64()),
    ]
)

_REQUIRED: Final = ("ts", "price", "size")
_HINTS: Final[dict[str, str]] = {
    "ts": "convert timestamps to Int64 nanoseconds since the epoch",
    "price": "convert prices to integer ticks with the instrument's tick size",
    "size": "convert sizes to integer lots with the instrument's lot size",
    "aggressor": "use 1 for a buy, -1 for a sell and 0 for unknown",
}


def interval_ns(interval: str | int) -> int:
    """A bar interval in nanoseconds: an int of ns, or a count and a unit such as ``"15s"``.

    Units are fixed lengths only (ns, us, ms, s, m, h, d). Weeks and months are refused
    because epoch-aligned weeks start on a Thursday and months have no fixed length;
    those belong in a calendar resampler, not in floor division.
    """
    if isinstance(interval, bool) or not isinstance(interval, int | str):
        raise InvalidConfiguration(
            f"bar interval must be a str like '5m' or an int of ns, got {interval!r}"
        )
    if isinstance(interval, int):
        step = interval
    else:
        match = _INTERVAL.fullmatch(interval.strip())
        if match is None:
            raise InvalidConfiguration(
                f"bar interval {interval!r} is not understood; write a count and a unit, "
                "e.g. '15s', '5m', '1h', '1d' (units ns, us, ms, s, m, h, d), or an int of ns"
            )
        step = int(match[1]) * NS_PER_UNIT[match[2]]
    if not 0 < step <= _INT64_MAX:
        raise InvalidConfiguration(
            f"bar interval {interval!r} must be positive and fit in Int64 ns; give e.g. '1m'"
        )
    return step


def time_bars(
    trades: pl.DataFrame, interval: str | int, *, fill_gaps: bool = False
) -> pl.DataFrame:
    """Bars of a fixed interval, aligned to multiples of it since the UTC epoch.

    A trade at ``ts`` falls in the bar starting at ``floor(ts / step) * step``, so a
    trade exactly on a boundary opens the new bar, and "1d" bars start at 00:00 UTC.
    Intervals without trades are not emitted unless ``fill_gaps``: then every interval
    between the first and the last bar is, and an empty one carries the previous close
    as open, high, low and close, zero volume, notional and trades, and null
    ``ts_close`` and ``vwap`` (no trade happened, so there is no time or price to give).
    Nothing is filled before the first trade or after the last.
    """
    step = interval_ns(interval)
    frame = _checked(trades)
    bars = _aggregate(frame, pl.col("ts") // step)
    if fill_gaps:
        bars = _fill_gaps(bars)
    return _finish(bars, pl.col("_bar") * step)


def tick_bars(trades: pl.DataFrame, n: int) -> pl.DataFrame:
    """A bar per ``n`` trades; the last bar holds the remainder and may have fewer.

    ``ts`` is the first trade's time. Drop an incomplete last bar with
    ``bars.filter(pl.col("trades") == n)`` if it must not be used.
    """
    _positive_int(n, "tick_bars n", "the number of trades per bar, e.g. 1000")
    frame = _checked(trades)
    return _finish(_aggregate(frame, pl.int_range(pl.len(), dtype=pl.Int64) // n), pl.col("ts"))


def volume_bars(trades: pl.DataFrame, lots: int) -> pl.DataFrame:
    """A new bar starts once cumulative volume reaches each multiple of ``lots``.

    Trades are never split: the trade that brings the running volume to or past a
    multiple of ``lots`` belongs to the bar it completes, and the next trade opens a
    new bar. The multiples are of the running total since the first trade, not of the
    volume since the last bar (that reset rule is a sequential scan; this one is a
    cumsum and a floor division). So after a trade overshoots a multiple, the next bar
    closes at the next multiple and holds less than ``lots``; one trade crossing
    several multiples closes one bar, so there can be fewer than ``total // lots``
    bars; the last bar holds what is left. ``ts`` is the first trade's time.
    """
    _positive_int(lots, "volume_bars lots", "the volume per bar in integer lots")
    frame = _checked(trades)
    return _finish(_aggregate(frame, _threshold_ids(pl.col("size"), lots)), pl.col("ts"))


def dollar_bars(trades: pl.DataFrame, notional: int) -> pl.DataFrame:
    """Volume bars over traded value, ``|price| * size``, with the same convention.

    ``notional`` is in tick·lot units, like the ``notional`` column: the caller turns a
    currency amount into them through the instrument (amount / (tick size * lot size *
    multiplier)), because this module knows nothing of instruments. The magnitude of
    the price is used so that instruments trading at negative prices still accumulate
    value; the ``notional`` column itself keeps the sign.
    """
    _positive_int(notional, "dollar_bars notional", "the value per bar in tick·lot units")
    frame = _checked(trades)
    value = pl.col("price").cast(pl.Int128).abs() * pl.col("size")
    return _finish(_aggregate(frame, _threshold_ids(value, notional)), pl.col("ts"))


def _positive_int(value: int, name: str, meaning: str) -> None:
    """Refuse bools, non-ints and values that are not positive (or beyond Int128)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _INT128_MAX:
        raise InvalidConfiguration(f"{name} must be a positive int ({meaning}), got {value!r}")


def _threshold_ids(amount: pl.Expr, threshold: int) -> pl.Expr:
    """Bar id per trade: the running amount *before* the trade, floor-divided.

    Using the amount before the trade is what puts a threshold-crossing trade in the bar
    it completes. Int128 so that a running sum over any number of trades cannot wrap.
    """
    amount = amount.cast(pl.Int128)
    return (amount.cum_sum() - amount) // pl.lit(threshold, dtype=pl.Int128)


def _aggregate(frame: pl.DataFrame, bar: pl.Expr) -> pl.DataFrame:
    """One row per bar id, in order of first appearance (the ids are non-decreasing)."""
    price, size, side = pl.col("price"), pl.col("size"), pl.col("aggressor")
    return (
        frame.lazy()
        .with_columns(
            bar.alias("_bar"),
            (price.cast(pl.Int128) * size).alias("_notional"),
            pl.when(side == 1).then(size).otherwise(0).alias("_buy"),
            pl.when(side == -1).then(size).otherwise(0).alias("_sell"),
        )
        .group_by("_bar", maintain_order=True)
        .agg(
            pl.col("ts").first(),
            pl.col("ts").last().alias("ts_close"),
            price.first().alias("open"),
            price.max().alias("high"),
            price.min().alias("low"),
            price.last().alias("close"),
            size.sum().alias("volume"),
            pl.col("_notional").sum(),
            pl.len().alias("trades"),
            pl.col("_buy").sum().alias("buy_volume"),
            pl.col("_sell").sum().alias("sell_volume"),
        )
        .collect()
    )


def _fill_gaps(bars: pl.DataFrame) -> pl.DataFrame:
    """Insert a flat, empty bar for every missing id between the first and the last."""
    if bars.height == 0:
        return bars
    first, last = int(bars["_bar"][0]), int(bars["_bar"][-1])
    if last - first + 1 > MAX_FILLED_BARS:
        raise InvalidConfiguration(
            f"fill_gaps would emit {last - first + 1:,} bars (limit {MAX_FILLED_BARS:,}); "
            "use a longer interval or fill_gaps=False"
        )
    grid = pl.DataFrame({"_bar": pl.int_range(first, last + 1, dtype=pl.Int64, eager=True)})
    full = grid.join(bars, on="_bar", how="left", maintain_order="left")
    close = pl.col("close").forward_fill()
    return full.with_columns(
        pl.col("open", "high", "low").fill_null(close),
        close,
        pl.col("volume", "_notional", "trades", "buy_volume", "sell_volume").fill_null(0),
    )


def _finish(bars: pl.DataFrame, ts: pl.Expr) -> pl.DataFrame:
    """Public column names, order and dtypes; ``vwap`` from the exact sums."""
    vwap = pl.col("_notional").cast(pl.Float64) / pl.col("volume").cast(pl.Float64)
    return bars.select(
        ts.alias("ts"),
        "ts_close",
        "open",
        "high",
        "low",
        "close",
        "volume",
        pl.col("_notional").cast(NOTIONAL_DTYPE).alias("notional"),
        pl.col("trades").cast(pl.Int64),
        "buy_volume",
        "sell_volume",
        pl.when(pl.col("volume") > 0).then(vwap).alias("vwap"),
    ).cast(BAR_SCHEMA)


def _checked(trades: pl.DataFrame) -> pl.DataFrame:
    """The trades as Int64 ts/price/size and Int8 aggressor, or a DataError saying why not."""
    if not isinstance(trades, pl.DataFrame):
        raise DataError(
            f"trades must be a polars DataFrame with ts, price, size, got {type(trades).__name__}"
        )
    missing = [name for name in _REQUIRED if name not in trades.columns]
    if missing:
        raise DataError(
            f"trades frame lacks column(s) {', '.join(missing)}; it needs ts (Int64 ns), "
            "price (Int64 ticks), size (Int64 lots) and optionally aggressor"
        )
    frame = pl.DataFrame([_int64_column(trades, name) for name in _REQUIRED])
    _check_ts(frame["ts"])
    _check_size(frame["size"])
    if "aggressor" not in trades.columns:
        return frame.with_columns(pl.lit(0, dtype=pl.Int8).alias("aggressor"))
    side = _int64_column(trades, "aggressor")
    if not side.is_in([-1, 0, 1]).all():
        raise DataError(
            f"trades column aggressor has values outside -1, 0, 1; {_HINTS['aggressor']}"
        )
    return frame.with_columns(side.cast(pl.Int8))


def _int64_column(trades: pl.DataFrame, name: str) -> pl.Series:
    """One input column as Int64, refusing floats, nulls and out-of-range integers."""
    column = trades.get_column(name)
    if name == "ts" and isinstance(column.dtype, pl.Datetime):
        column = column.dt.epoch("ns")
    if not column.dtype.is_integer():
        raise DataError(f"trades column {name} is {column.dtype}, not integers; {_HINTS[name]}")
    if column.null_count():
        raise DataError(
            f"trades column {name} has {column.null_count()} nulls; drop or fill those trades"
        )
    try:
        return column.cast(pl.Int64, strict=True)
    except pl.exceptions.InvalidOperationError:
        raise DataError(f"trades column {name} has values beyond Int64; {_HINTS[name]}") from None


def _check_ts(ts: pl.Series) -> None:
    """Refuse unsorted times, naming the first row that goes back."""
    if not ts.is_sorted():
        row = (ts.diff() < 0).arg_max() or 0
        raise DataError(
            f"trades are not sorted by ts (row {row} is earlier than row {row - 1}); "
            "sort them with trades.sort('ts', maintain_order=True)"
        )


def _check_size(size: pl.Series) -> None:
    """Refuse negative sizes, and totals that would wrap an Int64 volume sum."""
    smallest, biggest = size.min(), size.max()
    if isinstance(smallest, int) and smallest < 0:
        raise DataError("trades column size has negative values; sizes are lots traded, >= 0")
    # The exact Int128 total is only needed when the cheap bound says it might not fit.
    if isinstance(biggest, int) and biggest * size.len() > _INT64_MAX:
        total = size.cast(pl.Int128).sum()
        if total > _INT64_MAX:
            raise DataError(
                f"trade sizes sum to {total}, beyond Int64 lots; use a coarser lot size"
            )
