"""The grid strategy against a grid worked by hand on the same real bars.

The reference below is written from the strategy's documented rules and the simulated
venue's documented bar path (O→L→H→C for an up bar, O→H→L→C for a down bar; a level
gapped through at the open fills at the open), with none of heron's code: if the
strategy or the venue drift from what the docs say, the fills stop matching.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import accumulate
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import talib

from heron.errors import InvalidConfiguration
from heron.model.instrument import Instrument
from heron.node.api import backtest
from heron.strategy.library.grid import grid_levels

DATA = Path(__file__).resolve().parents[3] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
TICK = Decimal("0.001")  # what the engine infers from this file's prices


def _bars(n: int | None = None) -> pl.DataFrame:
    """The file's bars with ``ts`` in ns (the file keeps the text timestamp too)."""
    frame = pl.read_csv(DATA)
    ts = frame["timestamp"].str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns")
    frame = frame.with_columns(ts=ts.dt.epoch("ns"))
    return frame.head(n) if n else frame


def _run(params: dict[str, object], bars: int | None = None, tmp: Path | None = None):
    data: object = DATA
    if bars is not None:
        assert tmp is not None
        data = tmp / "bars.csv"
        _bars(bars).drop("ts").write_csv(data)
    return backtest(data, strategy="grid", params=params, kind="perp", leverage="3",
                    fee_bps="0")


def _reference_fills(frame: pl.DataFrame, levels: list[int]) -> list[tuple[int, str, int]]:
    """A neutral grid worked bar by bar: (ts, side, price in ticks) of every fill."""
    ts = frame["ts"].to_list()
    cols = [np.rint(frame[c].to_numpy() / float(TICK)).astype(np.int64)
            for c in ("open", "high", "low", "close")]
    resting: list[tuple[int, int, str]] = []   # (seq, level, side), placed before this bar
    seq, fills = 0, []
    for t in range(len(ts)):
        o, h, low, c = (int(col[t]) for col in cols)
        path = (o, low, h, c) if c >= o else (o, h, low, c)
        touched = []
        for order in resting:
            hit = _touch(path, levels[order[1]], order[2])
            if hit is not None:
                touched.append((hit[0], hit[1], order[0], order, hit[2]))
        placed = []
        for *_, order, price in sorted(touched):
            resting.remove(order)
            fills.append((ts[t], order[2], price))
            answer = order[1] + 1 if order[2] == "buy" else order[1] - 1
            if 0 <= answer < len(levels):
                seq += 1
                placed.append((seq, answer, "sell" if order[2] == "buy" else "buy"))
        resting += placed
        if t == 0:
            for i, level in enumerate(levels):
                if level != c:
                    seq += 1
                    resting.append((seq, i, "buy" if level < c else "sell"))
    return fills


def _touch(path: tuple[int, ...], level: int, side: str) -> tuple[int, int, int] | None:
    """Where on the bar's path a resting limit at ``level`` first trades."""
    reached = (lambda p: p <= level) if side == "buy" else (lambda p: p >= level)
    if reached(path[0]):
        return (0, 0, path[0])
    for k in range(1, len(path)):
        if reached(path[k]):
            return (k, abs(path[k - 1] - level), level)
    return None


def test_levels_are_evenly_spaced_or_in_equal_ratios() -> None:
    inst = Instrument(symbol="X", price_increment=Decimal("0.01"))
    assert grid_levels(Decimal(100), Decimal(200), 5, "arithmetic", inst) == [
        10_000, 12_500, 15_000, 17_500, 20_000]
    assert grid_levels(Decimal(100), Decimal(400), 3, "geometric", inst) == [
        10_000, 20_000, 40_000]
    # 100 * 2^(1/3) = 125.992... and 100 * 2^(2/3) = 158.740...: nearest tick
    assert grid_levels(Decimal(100), Decimal(200), 4, "geometric", inst) == [
        10_000, 12_599, 15_874, 20_000]


def test_levels_closer_than_a_tick_are_refused() -> None:
    inst = Instrument(symbol="X", price_increment=Decimal("1"))
    with pytest.raises(InvalidConfiguration, match="closer than one tick"):
        grid_levels(Decimal(100), Decimal(103), 10, "arithmetic", inst)


def test_neutral_grid_fills_match_a_grid_worked_by_hand(tmp_path: Path) -> None:
    frame = _bars(6000)
    result = _run({"lower": "46000", "upper": "48000", "levels": 11, "quantity": "0.01"},
                  6000, tmp_path)
    levels = grid_levels(Decimal(46000), Decimal(48000), 11, "arithmetic",
                         Instrument(symbol="X", price_increment=TICK))
    fills = result.fills
    got = list(zip(fills["ts"].to_list(), fills["side"].to_list(),
                   [int(Decimal(p) / TICK) for p in fills["price"].to_list()], strict=True))
    want = _reference_fills(frame, levels)
    assert len(want) > 40  # the month's first days cross the range many times
    assert got == want


def test_long_grid_buys_the_levels_above_first_and_never_goes_short(tmp_path: Path) -> None:
    frame = _bars(4000)
    first_close = Decimal(str(frame["close"][0]))
    params = {"lower": "46000", "upper": "48000", "levels": 11, "quantity": "0.01",
              "direction": "long"}
    result = _run(params, 4000, tmp_path)
    levels = [46000 + 200 * i for i in range(11)]
    above = sum(1 for p in levels if p > first_close)
    fills = result.fills
    assert fills["side"][0] == "buy"
    assert Decimal(fills["qty"][0]) == Decimal("0.01") * above
    signed = [Decimal(q) * (1 if s == "buy" else -1)
              for q, s in zip(fills["qty"].to_list(), fills["side"].to_list(), strict=True)]
    position = list(accumulate(signed))
    assert min(position) == 0  # every level sold back at some point, never below
    assert max(position) <= Decimal("0.01") * 10


def test_trend_filter_places_no_buy_below_its_band(tmp_path: Path) -> None:
    params = {"lower": "36000", "upper": "48000", "levels": 25, "quantity": "0.01",
              "trend": "ema", "trend_period": 120, "trend_band": 0.001}
    result = _run(params, None)
    frame = _bars()
    ts = frame["ts"].to_list()
    close = frame["close"].to_numpy()
    average = talib.EMA(close, timeperiod=120)
    at = {t: i for i, t in enumerate(ts)}
    with np.errstate(invalid="ignore"):
        buy_ok = np.isnan(average) | (close >= average * (1 - 0.001))
        sell_ok = np.isnan(average) | (close <= average * (1 + 0.001))
    grid = [o for o in result.engine.om.orders.values() if o.tag.startswith("grid:")]
    assert {o.side for o in grid} == {"buy", "sell"}
    for order in grid:
        ok = buy_ok if order.side == "buy" else sell_ok
        assert _judged(ok, at[order.ts_init]), order
    assert (~buy_ok).sum() > 1000 and (~sell_ok).sum() > 1000  # the filter had work to do
    unfiltered = _run({k: v for k, v in params.items() if not k.startswith("trend")}, None)
    assert len(unfiltered.engine.om.orders) != len(result.engine.om.orders)


def _judged(ok: np.ndarray, i: int) -> bool:
    """An order stamped with bar ``i`` was sent at that bar's close (judged on bar ``i``)
    or on a fill inside it (judged on the bar before): one of the two verdicts allowed it."""
    return bool(ok[i] or (i > 0 and ok[i - 1]))


def test_liquidity_filter_quotes_only_when_the_market_trades(tmp_path: Path) -> None:
    frame = _bars(3000)
    volume = frame["volume"].to_numpy()
    mean = talib.SMA(volume, timeperiod=30)
    threshold = float(np.nanmedian(mean))
    params = {"lower": "46000", "upper": "48000", "levels": 11, "quantity": "0.01",
              "liquidity": "volume", "liquidity_window": 30, "min_volume": threshold}
    result = _run(params, 3000, tmp_path)
    at = {t: i for i, t in enumerate(frame["ts"].to_list())}
    orders = [o for o in result.engine.om.orders.values() if o.tag.startswith("grid:")]
    assert orders
    with np.errstate(invalid="ignore"):
        ok = mean >= threshold
    for order in orders:
        assert _judged(ok, at[order.ts_init]), order
    silent = _run({**params, "min_volume": float(volume.max()) * 10}, 3000, tmp_path)
    assert silent.bars == 3000 and not silent.engine.om.orders


def test_stop_outside_the_range_flattens_and_stops(tmp_path: Path) -> None:
    params = {"lower": "45000", "upper": "48000", "levels": 7, "quantity": "0.01",
              "stop_outside": "0.01"}
    result = _run(params, None)
    frame = _bars()
    close = frame["close"].to_numpy()
    ts = frame["ts"].to_list()
    out = np.flatnonzero((close < 45000 * 0.99) | (close > 48000 * 1.01))
    assert out.size  # January 2022 fell through 44,550
    stop_ts = ts[out[0]]
    last_fill = result.fills["ts"].max()
    assert last_fill <= stop_ts + 120_000_000_000  # the closing market order, next open
    assert [p.qty for p in result.engine.portfolio.positions.values()] == [0]
    assert all(o.ts_init <= stop_ts + 60_000_000_000
               for o in result.engine.om.orders.values())


@pytest.mark.parametrize(("params", "message"), [
    ({"lower": "40000"}, "set both lower and upper"),
    ({"lower": "48000", "upper": "46000"}, "must be below upper"),
    ({"quantity": "0.000000001"}, "less than one lot"),
])
def test_bad_settings_are_refused_with_the_fix(params: dict[str, object], message: str,
                                               tmp_path: Path) -> None:
    with pytest.raises(InvalidConfiguration, match=message):
        _run({"levels": 11, **params}, 200, tmp_path)
