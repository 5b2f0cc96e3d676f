"""The backtest node: determinism, timers, progress, equity curve, accounting."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import heron
from heron.model.data import Bar
from heron.strategy.base import Strategy

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
MINUTE = 60_000_000_000


def _run(**kwargs: object) -> heron.BacktestResult:
    return heron.backtest(DATA, strategy="sma_cross", params={"fast": 10, "slow": 50},
                          **kwargs)  # type: ignore[arg-type]


def test_backtest_same_inputs_same_result_and_journal() -> None:
    a, b = _run(), _run()
    assert a.journal_sha256 == b.journal_sha256
    assert a.final_equity == b.final_equity
    assert a.trades.equals(b.trades)


def test_backtest_equity_curve_ends_at_final_equity() -> None:
    result = _run(kind="perp", leverage="2")
    assert result.equity.height == result.bars
    assert result.equity["equity"][-1] == pytest.approx(float(result.final_equity), rel=1e-12)
    assert result.equity["equity"][0] == pytest.approx(100_000)


def test_backtest_realised_pnl_minus_fees_is_the_equity_change_when_flat() -> None:
    result = _run(fill="close")
    pf = result.engine.portfolio
    if any(p.qty for p in pf.positions.values()):
        result.engine.strategies[0].close_position()  # flatten at the last close
    assert all(p.qty == 0 for p in pf.positions.values())
    assert pf.balance - pf.starting_balance == pf.realised - pf.fees + pf.funding
    trips = result.engine.om.trips.closed
    assert sum(t.net for t in trips) == pf.balance - pf.starting_balance


def test_backtest_progress_reports_every_bar_once_done() -> None:
    calls: list[tuple[int, int]] = []
    result = _run(progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (result.bars, result.bars)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


class Clock(Strategy):
    """Records timers and the bars around them."""

    name = "clock"

    def on_start(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.schedule(at=self.now + 2 * MINUTE + 1, every=3 * MINUTE, name="tick")

    def on_bar(self, bar: Bar) -> None:
        self.events.append(("bar", bar.ts))

    def on_timer(self, name: str, ts: int) -> None:
        self.events.append((name, ts))


def _flat_bars(n: int, start: int = 1_600_000_000 * 1_000_000_000) -> pl.DataFrame:
    px = np.full(n, 100.0)
    return pl.DataFrame({"ts": start + np.arange(n, dtype=np.int64) * MINUTE, "open": px,
                         "high": px, "low": px, "close": px, "volume": np.ones(n)})


def test_timers_fire_in_time_order_before_the_next_bar() -> None:
    strat = Clock()
    heron.backtest(_flat_bars(10), strategy=strat, tick_size="1")
    start = 1_600_000_000 * 1_000_000_000
    ticks = [ts for kind, ts in strat.events if kind == "tick"]
    assert ticks == [start + 2 * MINUTE + 1, start + 5 * MINUTE + 1, start + 8 * MINUTE + 1]
    order = [ts for _kind, ts in strat.events]
    assert order == sorted(order)
    first_tick = strat.events.index(("tick", ticks[0]))
    assert strat.events[first_tick - 1] == ("bar", start + 2 * MINUTE)
    assert strat.events[first_tick + 1] == ("bar", start + 3 * MINUTE)


class Alternator(Strategy):
    """Buys on even bars of its instrument and sells on odd ones (fixed size)."""

    name = "alternator"

    def on_bar(self, bar: Bar) -> None:
        if self.has_open_orders():
            return
        if self.position.is_flat:
            self.buy(size="1")
        else:
            self.close_position()


def test_two_instruments_two_strategies_share_one_account() -> None:
    a = _flat_bars(6)
    b = _flat_bars(4, start=1_600_000_000 * 1_000_000_000 + 30_000_000_000).with_columns(
        pl.col("open") * 2, pl.col("high") * 2, pl.col("low") * 2, pl.col("close") * 2)
    s1 = Alternator(strategy_id="s1", instruments=["AAA"])
    s2 = Alternator(strategy_id="s2", instruments=["BBB"])
    result = heron.backtest({"AAA": a, "BBB": b}, strategy=[s1, s2], tick_size="1",
                            lot_size="1", fee_bps="0", fill="close")
    fills = result.fills
    assert set(fills["instrument"].to_list()) == {"AAA.SIM", "BBB.SIM"}
    by_inst = {iid: fills.filter(pl.col("instrument") == iid) for iid in ("AAA.SIM", "BBB.SIM")}
    assert by_inst["AAA.SIM"].height == 6 and by_inst["BBB.SIM"].height == 4
    assert {p for p in by_inst["BBB.SIM"]["price"].to_list()} == {Decimal(200)}
    orders = result.engine.om.orders.values()
    assert {o.strategy_id for o in orders if o.instrument_id == "AAA.SIM"} == {"s1"}
    assert {o.strategy_id for o in orders if o.instrument_id == "BBB.SIM"} == {"s2"}
    # merged timeline: equity sampled at each distinct timestamp of either instrument
    assert result.equity.height == 10
    assert result.final_equity == Decimal(100000)


class WrongInstrument(Strategy):
    name = "wrong"

    def on_bar(self, bar: Bar) -> None:
        if bar.index == 1:
            self.buy(size="1", instrument="ZZZ")


def test_order_for_unknown_instrument_is_denied_not_raised() -> None:
    result = heron.backtest(_flat_bars(3), strategy=WrongInstrument(), tick_size="1")
    assert result.bars == 3
    assert len(result.rejections) == 1
    coid, reason = result.rejections[0]
    assert "no instrument 'ZZZ'" in reason
    assert result.engine.om.orders[coid].status.value == "denied"


def test_bus_observers_see_every_journaled_record_in_order() -> None:
    from heron.node.api import _frames, _instrument, _strategies, _venue_config
    from heron.node.backtest import RECORDS, BacktestEngine
    from heron.node.bar_series import bar_series

    venue = _venue_config("next-open", "10", "0", None, None)
    frame = _frames(DATA, "BTC")["BTC"]
    inst = _instrument("BTC", frame, None, None, "spot", Decimal("0.001"), None, "0")
    engine = BacktestEngine(series=[bar_series(frame.frame, inst, "btc")],
                            strategies=_strategies("sma_cross", {}), cash=Decimal(100000),
                            venue=venue)
    seen: list[object] = []
    engine.bus.subscribe(RECORDS, seen.append)
    engine.run()
    assert len(seen) == engine.journal.seq > 0
    assert seen == engine.journal.records
