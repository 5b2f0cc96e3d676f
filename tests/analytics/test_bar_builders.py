"""Bar builders: by hand on small cases, against a plain Python loop, and on real trades."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.analytics.bar_builders import (
    BAR_SCHEMA,
    MAX_FILLED_BARS,
    dollar_bars,
    interval_ns,
    tick_bars,
    time_bars,
    volume_bars,
)
from heron.errors import DataError, InvalidConfiguration

BINANCE_TRADES = (Path(__file__).resolve().parents[3] / "shared" / "data" / "ticks"
                  / "binance_spot_BTCUSDT_trades_2021-01-08.parquet")
S = 1_000_000_000
MIN = 60 * S
OHLCV = ("ts", "open", "high", "low", "close", "volume", "trades")

Trade = tuple[int, int, int, int]  # ts, price, size, aggressor
Row = dict[str, Any]


def _frame(trades: list[Trade], *, side: bool = True) -> pl.DataFrame:
    frame = pl.DataFrame(
        trades,
        schema={"ts": pl.Int64, "price": pl.Int64, "size": pl.Int64, "aggressor": pl.Int8},
        orient="row",
    )
    return frame if side else frame.drop("aggressor")


def _ohlcv(bars: pl.DataFrame) -> list[tuple[Any, ...]]:
    return bars.select(OHLCV).rows()


# --- a naive reference: one trade at a time, no polars ------------------------------------


def _ref_bar(ts: int, group: list[Trade]) -> Row:
    volume = sum(t[2] for t in group)
    notional = sum(t[1] * t[2] for t in group)
    return {
        "ts": ts,
        "ts_close": group[-1][0],
        "open": group[0][1],
        "high": max(t[1] for t in group),
        "low": min(t[1] for t in group),
        "close": group[-1][1],
        "volume": volume,
        "notional": Decimal(notional),
        "trades": len(group),
        "buy_volume": sum(t[2] for t in group if t[3] == 1),
        "sell_volume": sum(t[2] for t in group if t[3] == -1),
        "vwap": float(notional) / float(volume) if volume else None,
    }


def _ref_groups(trades: list[Trade], closes_after: Callable[[int, Trade], bool]) -> list[Row]:
    """Bars that close after each trade for which ``closes_after(index, trade)`` holds."""
    bars: list[Row] = []
    group: list[Trade] = []
    for i, trade in enumerate(trades):
        group.append(trade)
        if closes_after(i, trade) or i == len(trades) - 1:
            bars.append(_ref_bar(group[0][0], group))
            group = []
    return bars


def _ref_time(trades: list[Trade], step: int, fill_gaps: bool) -> list[Row]:
    by_start: dict[int, list[Trade]] = {}
    for trade in trades:
        by_start.setdefault(trade[0] - trade[0] % step, []).append(trade)
    bars = [_ref_bar(start, group) for start, group in by_start.items()]
    if not fill_gaps or not bars:
        return bars
    filled: list[Row] = []
    for bar in bars:
        while filled and filled[-1]["ts"] + step < bar["ts"]:
            close = filled[-1]["close"]
            filled.append(
                {
                    "ts": filled[-1]["ts"] + step,
                    "ts_close": None,
                    "open": close,
                    "high": close,
                    "low": close,
                    "close": close,
                    "volume": 0,
                    "notional": Decimal(0),
                    "trades": 0,
                    "buy_volume": 0,
                    "sell_volume": 0,
                    "vwap": None,
                }
            )
        filled.append(bar)
    return filled


def _ref_threshold(trades: list[Trade], threshold: int, value: Callable[[Trade], int]) -> list[Row]:
    state = {"total": 0, "next": threshold}

    def closes(_: int, trade: Trade) -> bool:
        state["total"] += value(trade)
        if state["total"] < state["next"]:
            return False
        state["next"] = (state["total"] // threshold + 1) * threshold
        return True

    return _ref_groups(trades, closes)


def _ref_tick(trades: list[Trade], n: int) -> list[Row]:
    return _ref_groups(trades, lambda i, _: (i + 1) % n == 0)


def _ref_volume(trades: list[Trade], lots: int) -> list[Row]:
    return _ref_threshold(trades, lots, lambda t: t[2])


def _ref_dollar(trades: list[Trade], notional: int) -> list[Row]:
    return _ref_threshold(trades, notional, lambda t: abs(t[1]) * t[2])


def _assert_all_builders_match(
    trades: list[Trade], step: int, n: int, lots: int, value: int
) -> None:
    frame = _frame(trades)
    assert time_bars(frame, step).to_dicts() == _ref_time(trades, step, False)
    assert time_bars(frame, step, fill_gaps=True).to_dicts() == _ref_time(trades, step, True)
    assert tick_bars(frame, n).to_dicts() == _ref_tick(trades, n)
    assert volume_bars(frame, lots).to_dicts() == _ref_volume(trades, lots)
    assert dollar_bars(frame, value).to_dicts() == _ref_dollar(trades, value)


_trade_lists = st.lists(
    st.tuples(
        st.integers(0, 40),  # gap to the previous trade: repeats, and empty intervals
        st.integers(-1_000, 4_000_000_000),  # ticks; negative prices exist (spreads)
        st.integers(0, 5_000_000_000),  # lots: price * size passes Int64
        st.sampled_from([-1, 0, 1]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(-200, 200),
    steps=_trade_lists,
    step=st.sampled_from([1, 3, 7, 10, 25]),
    n=st.integers(1, 7),
    lots=st.integers(1, 12_000_000_000),
    value=st.integers(1, 10**19),
)
def test_builders_random_small_frames_match_python_loop(
    start: int, steps: list[Trade], step: int, n: int, lots: int, value: int
) -> None:
    trades: list[Trade] = []
    ts = start
    for gap, price, size, side in steps:
        ts += gap
        trades.append((ts, price, size, side))
    _assert_all_builders_match(trades, step, n, lots, value)


def test_builders_seeded_large_frame_match_python_loop() -> None:
    rng = np.random.default_rng(20210108)
    count = 20_000
    ts = 1_610_064_000 * S + np.cumsum(rng.integers(0, 3 * S, count))
    price = 3_943_248 + np.cumsum(rng.integers(-50, 51, count))
    size = rng.integers(1, 2_000_000, count)
    side = rng.integers(-1, 2, count)
    trades = list(zip(ts.tolist(), price.tolist(), size.tolist(), side.tolist(), strict=True))
    _assert_all_builders_match(trades, MIN, 97, 500_000_000, 1_000_000_000_000_000)


# --- by hand ------------------------------------------------------------------------------


def test_interval_ns_units_and_ints_are_nanoseconds() -> None:
    assert interval_ns("15s") == 15 * S
    assert interval_ns("1m") == MIN
    assert interval_ns("5m") == 5 * MIN
    assert interval_ns("1h") == 60 * MIN
    assert interval_ns("1d") == 24 * 60 * MIN
    assert interval_ns("250ms") == 250_000_000
    assert interval_ns("3us") == 3_000
    assert interval_ns(7) == 7


@pytest.mark.parametrize("bad", ["1w", "1M", "1mo", "0m", "", "m", "5 m", "-1m", 0, -60, True, 1.5])
def test_interval_ns_unknown_or_non_positive_raises_invalid_configuration(bad: Any) -> None:
    with pytest.raises(InvalidConfiguration, match="interval"):
        interval_ns(bad)


def test_time_bars_trade_on_boundary_opens_new_bar() -> None:
    trades = [(0, 10, 1, 1), (MIN - 1, 12, 2, -1), (MIN, 9, 3, 0), (MIN + 5, 11, 4, 1)]
    bars = time_bars(_frame(trades), "1m")
    assert _ohlcv(bars) == [(0, 10, 12, 10, 12, 3, 2), (MIN, 9, 11, 9, 11, 7, 2)]
    assert bars["ts_close"].to_list() == [MIN - 1, MIN + 5]
    assert bars["buy_volume"].to_list() == [1, 4]
    assert bars["sell_volume"].to_list() == [2, 0]
    assert bars["notional"].to_list() == [Decimal(34), Decimal(71)]
    assert bars["vwap"].to_list() == [34 / 3, 71 / 7]


def test_time_bars_open_time_is_aligned_to_epoch_not_first_trade() -> None:
    trades = [(90 * S, 5, 1, 0), (-1, 4, 1, 0)][::-1]
    bars = time_bars(_frame(trades), "1m")
    assert bars["ts"].to_list() == [-MIN, MIN]
    day = int(datetime(2021, 1, 8, tzinfo=UTC).timestamp()) * S
    daily = time_bars(_frame([(day + 13 * 3600 * S, 7, 1, 0)]), "1d")
    assert daily["ts"].to_list() == [day]


def test_time_bars_empty_intervals_skipped_by_default() -> None:
    trades = [(10 * S, 100, 1, 0), (3 * MIN + 1, 103, 2, 0)]
    bars = time_bars(_frame(trades), "1m")
    assert _ohlcv(bars) == [(0, 100, 100, 100, 100, 1, 1), (3 * MIN, 103, 103, 103, 103, 2, 1)]


def test_time_bars_fill_gaps_emits_flat_empty_bars_at_previous_close() -> None:
    trades = [(10 * S, 100, 1, 1), (20 * S, 98, 1, -1), (3 * MIN + 1, 103, 2, 0)]
    bars = time_bars(_frame(trades), "1m", fill_gaps=True)
    assert _ohlcv(bars) == [
        (0, 100, 100, 98, 98, 2, 2),
        (MIN, 98, 98, 98, 98, 0, 0),
        (2 * MIN, 98, 98, 98, 98, 0, 0),
        (3 * MIN, 103, 103, 103, 103, 2, 1),
    ]
    assert bars["ts_close"].to_list() == [20 * S, None, None, 3 * MIN + 1]
    assert bars["vwap"].to_list() == [99.0, None, None, 103.0]
    assert bars["notional"].to_list() == [Decimal(198), Decimal(0), Decimal(0), Decimal(206)]
    assert bars["buy_volume"].to_list() == [1, 0, 0, 0]


def test_time_bars_fill_gaps_too_many_bars_raises_invalid_configuration() -> None:
    trades = [(0, 1, 1, 0), (MAX_FILLED_BARS * S, 1, 1, 0)]
    with pytest.raises(InvalidConfiguration, match="fill_gaps would emit"):
        time_bars(_frame(trades), "1s", fill_gaps=True)


def test_time_bars_datetime_ts_equals_int_ns() -> None:
    ms = 1_000_000
    trades = _frame([(1_610_064_000_278 * ms, 10, 1, 0), (1_610_064_061_000 * ms, 11, 2, 1)])
    as_datetime = trades.with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))
    assert time_bars(as_datetime, "1m").equals(time_bars(trades, "1m"))


def test_tick_bars_every_n_trades_last_bar_partial() -> None:
    trades = [(i * S, 10 + i, 1 + i, 0) for i in range(5)]
    bars = tick_bars(_frame(trades), 2)
    assert _ohlcv(bars) == [
        (0, 10, 11, 10, 11, 3, 2),
        (2 * S, 12, 13, 12, 13, 7, 2),
        (4 * S, 14, 14, 14, 14, 5, 1),
    ]
    assert bars["ts_close"].to_list() == [S, 3 * S, 4 * S]


def test_volume_bars_exact_threshold_closes_bar_next_trade_opens_one() -> None:
    trades = [(1, 10, 4, 0), (2, 11, 6, 0), (3, 12, 3, 0), (4, 13, 7, 0), (5, 14, 1, 0)]
    bars = volume_bars(_frame(trades), 10)
    assert _ohlcv(bars) == [
        (1, 10, 11, 10, 11, 10, 2),
        (3, 12, 13, 12, 13, 10, 2),
        (5, 14, 14, 14, 14, 1, 1),
    ]


def test_volume_bars_crossing_trade_belongs_to_bar_it_completes() -> None:
    # Running totals 8, 13 | 38 | 39, 41 | 42: the 5 completes bar one; the 25 passes 20 and
    # 30 and closes one bar; the next bar closes at 40, holding only 3 (the overshoot's cost).
    trades = [(1, 10, 8, 0), (2, 11, 5, 0), (3, 12, 25, 0), (4, 13, 1, 0), (5, 14, 2, 0)]
    bars = volume_bars(_frame([*trades, (6, 15, 1, 0)]), 10)
    assert bars["volume"].to_list() == [13, 25, 3, 1]
    assert bars["trades"].to_list() == [2, 1, 2, 1]
    assert bars["ts"].to_list() == [1, 3, 4, 6]


def test_volume_bars_zero_size_trade_after_threshold_opens_next_bar() -> None:
    trades = [(1, 10, 10, 0), (2, 11, 0, 0), (3, 12, 10, 0)]
    bars = volume_bars(_frame(trades), 10)
    assert bars["open"].to_list() == [10, 11]
    assert bars["volume"].to_list() == [10, 10]


def test_dollar_bars_threshold_on_price_times_size() -> None:
    # values 100*3=300, 200*1=200 (500: exactly the threshold), 50*2=100, 100*5=500 (1100)
    trades = [(1, 100, 3, 1), (2, 200, 1, -1), (3, 50, 2, 0), (4, 100, 5, 1)]
    bars = dollar_bars(_frame(trades), 500)
    assert _ohlcv(bars) == [(1, 100, 200, 100, 200, 4, 2), (3, 50, 100, 50, 100, 7, 2)]
    assert bars["notional"].to_list() == [Decimal(500), Decimal(600)]
    assert bars["buy_volume"].to_list() == [3, 5]
    assert bars["sell_volume"].to_list() == [1, 0]


def test_dollar_bars_negative_prices_count_by_magnitude() -> None:
    trades = [(1, -100, 3, 0), (2, -100, 2, 0), (3, -40, 1, 0)]
    bars = dollar_bars(_frame(trades), 500)
    assert bars["trades"].to_list() == [2, 1]
    assert bars["notional"].to_list() == [Decimal(-500), Decimal(-40)]
    assert bars["vwap"].to_list() == [-100.0, -40.0]


def test_notional_beyond_int64_is_exact_and_exports_to_arrow() -> None:
    big = 3_000_000_000
    bars = tick_bars(_frame([(1, big, big, 0), (2, big + 1, big, 0)]), 2)
    assert bars["notional"].to_list() == [Decimal(big * big + (big + 1) * big)]
    assert int(bars["notional"][0]) > 2**63
    assert str(bars.to_arrow().schema.field("notional").type) == "decimal128(38, 0)"


def test_builders_without_aggressor_report_no_side_volume() -> None:
    trades = _frame([(1, 10, 4, 1), (2, 11, 6, -1)], side=False)
    bars = tick_bars(trades, 10)
    assert bars["volume"].to_list() == [10]
    assert bars["buy_volume"].to_list() == [0]
    assert bars["sell_volume"].to_list() == [0]


@pytest.mark.parametrize(
    "build",
    [
        lambda f: time_bars(f, "1m"),
        lambda f: time_bars(f, "1m", fill_gaps=True),
        lambda f: tick_bars(f, 3),
        lambda f: volume_bars(f, 3),
        lambda f: dollar_bars(f, 3),
    ],
)
def test_builders_schema_is_bar_schema_even_when_empty(
    build: Callable[[pl.DataFrame], pl.DataFrame],
) -> None:
    assert build(_frame([(1, 10, 4, 1), (MIN * 3, 11, 6, -1)])).schema == BAR_SCHEMA
    empty = build(_frame([]))
    assert empty.height == 0
    assert empty.schema == BAR_SCHEMA


# --- refusals -----------------------------------------------------------------------------


def _good() -> pl.DataFrame:
    return _frame([(1, 10, 4, 1), (2, 11, 6, -1)])


@pytest.mark.parametrize(
    ("trades", "message"),
    [
        (_good().drop("size"), "lacks column.* size"),
        (_good().drop("ts", "price"), "lacks column.* ts, price"),
        (_good().reverse(), "not sorted by ts .row 1"),
        (_good().with_columns(pl.col("price").cast(pl.Float64)), "price is Float64.* ticks"),
        (_good().with_columns(pl.col("ts").cast(pl.Float64)), "ts is Float64.* nanoseconds"),
        (_good().with_columns(pl.Series("size", [1, None])), "size has 1 nulls"),
        (_good().with_columns(pl.Series("size", [1, -1])), "negative"),
        (_good().with_columns(pl.Series("aggressor", [1, 2])), "outside -1, 0, 1"),
        (_good().with_columns(pl.Series("price", [1, 2**64 - 1], dtype=pl.UInt64)), "beyond Int64"),
        (_good().with_columns(pl.Series("size", [2**62, 2**62])), "sum to .* beyond Int64"),
        (pl.DataFrame({"ts": [1]}).to_dict(), "polars DataFrame"),
    ],
)
def test_builders_bad_trades_raise_data_error(trades: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        time_bars(trades, "1m")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda f: tick_bars(f, 0), "tick_bars n must be a positive int"),
        (lambda f: tick_bars(f, True), "tick_bars n"),
        (lambda f: volume_bars(f, -5), "volume_bars lots"),
        (lambda f: volume_bars(f, 2.5), "volume_bars lots"),
        (lambda f: dollar_bars(f, 0), "dollar_bars notional"),
        (lambda f: time_bars(f, "1w"), "interval"),
    ],
)
def test_builders_bad_parameters_raise_invalid_configuration(
    build: Callable[[pl.DataFrame], pl.DataFrame], message: str
) -> None:
    with pytest.raises(InvalidConfiguration, match=message):
        build(_good())


# --- real trades --------------------------------------------------------------------------


def _on_grid(values: pl.Series, per_unit: int) -> pl.Series:
    """Floats to integer units, refusing any value not within 1e-3 unit of the grid."""
    scaled = values.to_numpy() * per_unit
    units = np.round(scaled)
    assert np.abs(scaled - units).max() < 1e-3
    return pl.Series(values.name, units.astype(np.int64))


@pytest.fixture(scope="module")
def binance_trades() -> pl.DataFrame:
    if not BINANCE_TRADES.exists():
        pytest.skip(f"{BINANCE_TRADES} is not present")
    raw = pl.read_parquet(BINANCE_TRADES)
    seller_took = (raw["buyer_maker"] == "True").cast(pl.Int8)  # the buyer was the maker
    return pl.DataFrame(
        {
            "ts": raw["timestamp"].dt.epoch("ns"),
            "price": _on_grid(raw["price"], 100),
            "size": _on_grid(raw["quantity"], 1_000_000),
            "aggressor": pl.Series(1 - 2 * seller_took, dtype=pl.Int8),
        }
    )


@pytest.mark.parametrize(("interval", "unit"), [("1m", MIN), ("1s", S)])
def test_time_bars_binance_trades_consistent(
    binance_trades: pl.DataFrame, interval: str, unit: int
) -> None:
    bars = time_bars(binance_trades, interval)
    assert bars.height == (binance_trades["ts"] // unit).n_unique()
    assert bars["volume"].sum() == binance_trades["size"].sum()
    assert bars["trades"].sum() == binance_trades.height
    assert (bars["buy_volume"] + bars["sell_volume"]).equals(bars["volume"])
    assert (
        bars.filter(
            (pl.col("high") < pl.max_horizontal("open", "close"))
            | (pl.col("low") > pl.min_horizontal("open", "close"))
        ).height
        == 0
    )
    assert bars["open"][0] == binance_trades["price"][0]
    assert bars["close"][-1] == binance_trades["price"][-1]
    exact = sum(p * s for p, s in binance_trades.select("price", "size").iter_rows())
    assert sum(bars["notional"].to_list()) == exact
