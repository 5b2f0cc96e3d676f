"""Two instruments and two strategies in one run, sharing one account."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simkit import DEFAULTS, Scripted, frame, ts

import heron
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

AAA = [
    ("100.00", "100.00", "100.00", "100.00"),
    ("100.00", "101.00", "99.00", "100.50"),   # AAA entry at 100.00
    ("100.50", "108.00", "100.50", "107.00"),
    ("107.00", "110.00", "106.00", "110.00"),  # last AAA close 110.00
]
BBB = [
    ("50.00", "50.00", "50.00", "50.00"),
    ("50.20", "50.50", "49.80", "50.00"),      # BBB entry at 50.20
    ("50.00", "50.60", "44.00", "45.00"),      # bearish: up to 50.60 first; close 45.00
]


def _run() -> tuple[heron.BacktestResult, Scripted, Scripted]:
    s1 = Scripted({0: lambda s: s.buy(size="1")}, strategy_id="s1", instruments=["AAA"])
    s2 = Scripted({0: lambda s: s.buy(size="2"), 1: lambda s: s.sell(size="2", price="50.40")},
                  strategy_id="s2", instruments=["BBB"])
    opts = {k: v for k, v in DEFAULTS.items() if k != "symbol"}
    result = heron.backtest({"AAA": frame(AAA), "BBB": frame(BBB)}, strategy=[s1, s2], **opts)
    return result, s1, s2


def test_each_strategy_sees_only_its_instrument_bars() -> None:
    _, s1, s2 = _run()

    assert [b.instrument.symbol for b in s1.bars] == ["AAA"] * 4
    assert [b.instrument.symbol for b in s2.bars] == ["BBB"] * 3
    assert [b.ts for b in s2.bars] == [ts(0), ts(1), ts(2)]


def test_each_strategy_trades_its_own_instrument() -> None:
    result, s1, s2 = _run()

    assert [(f.instrument_id, f.side, f.last_qty, f.last_px, f.ts_event) for f in s1.fills] == [
        ("AAA.SIM", "buy", 1000, 10000, ts(1))]
    # BBB: 2 at the 50.20 open of bar 1; the 50.40 sell limit rests and fills on bar 2's
    # path 50.00 -> 50.60 -> 44.00 -> 45.00
    assert [(f.instrument_id, f.side, f.last_qty, f.last_px, f.liquidity) for f in s2.fills] == [
        ("BBB.SIM", "buy", 2000, 5020, "taker"), ("BBB.SIM", "sell", 2000, 5040, "maker")]
    om = result.engine.om
    assert {o.strategy_id for o in om.orders.values()} == {"s1", "s2"}
    assert all(o.status is OrderStatus.FILLED for o in om.orders.values())


def test_portfolio_equity_combines_both_instruments() -> None:
    result, _, _ = _run()
    pf = result.engine.portfolio

    # cash: -100.00 - 0.1 (AAA buy), -100.40 - 0.1004 (BBB buy), +100.80 - 0.1008 (BBB sell)
    assert pf.money(pf.balance) == D("10000") - D("100.1") - D("100.5004") + D("100.6992")
    assert pf.positions["AAA.SIM"].qty == 1000
    assert pf.positions["BBB.SIM"].qty == 0
    # AAA marked at its last close 110.00
    assert result.final_equity == D("9900.0988") + D("110")
    assert pf.money(pf.fees) == D("0.3012")
    # the equity curve has one point per distinct bar time, the last at the final equity
    assert result.equity["ts"].to_list() == [ts(k) for k in range(4)]
    assert result.equity["equity"][-1] == pytest.approx(float(result.final_equity))


def test_fill_on_other_instrument_does_not_change_the_current_instrument() -> None:
    # With fill="close" an order on BBB fills inside AAA's on_bar; afterwards the
    # strategy's current instrument must still be AAA.
    seen: list[str] = []

    def act(s: Scripted) -> str:
        s.buy(size="1", instrument="BBB")
        seen.append(s.instrument.symbol)
        return s.buy(size="1")

    s1 = Scripted({0: act}, strategy_id="s1", instruments=["AAA"])
    opts = {k: v for k, v in DEFAULTS.items() if k != "symbol"}
    result = heron.backtest({"AAA": frame(AAA), "BBB": frame(BBB)}, strategy=[s1],
                            fill="close", **opts)

    assert seen == ["AAA"]
    assert result.engine.om.orders[s1.sent[0]].instrument_id == "AAA.SIM"


def test_same_run_twice_gives_the_same_journal() -> None:
    first, _, _ = _run()
    second, _, _ = _run()

    assert first.journal_sha256 == second.journal_sha256
    assert first.fills.equals(second.fills)
