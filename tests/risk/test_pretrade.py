"""The pre-trade engine inside a real backtest: denials are journaled events, never
exceptions; self-trade prevention and rate limits act through the node's one road."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

import heron
from heron.model.data import Bar
from heron.model.events import (
    AmendOrder,
    CancelOrder,
    OrderDenied,
    OrderUpdated,
    Record,
    SubmitOrder,
)
from heron.model.orders import OrderStatus
from heron.node.result import BacktestResult
from heron.risk.limits import parse_limits

T0 = 1_704_067_200_000_000_000
MINUTE = 60_000_000_000
ROOT = Path(__file__).resolve().parents[2]


class Script(heron.Strategy):
    """Runs ``actions[bar index](self)``; keeps the client ids the actions return."""

    def __init__(self, actions: dict[int, Callable[[Script], Any]]) -> None:
        super().__init__()
        self.actions = actions
        self.ids: list[str] = []

    def on_bar(self, bar: Bar) -> None:
        action = self.actions.get(bar.index)
        if action is not None:
            out = action(self)
            self.ids.extend(out if isinstance(out, list) else [out])


def _run(limits: dict[str, Any], actions: dict[int, Callable[[Script], Any]],
         bars: int = 4) -> tuple[BacktestResult, Script]:
    frame = pl.DataFrame({
        "ts": [T0 + k * MINUTE for k in range(bars)], "open": [100.0] * bars,
        "high": [100.5] * bars, "low": [99.5] * bars, "close": [100.0] * bars,
        "volume": [1000.0] * bars})
    strategy = Script(actions)
    result = heron.backtest(frame, strategy=strategy, symbol="TEST", cash="10000",
                            fee_bps="0", tick_size="0.01", lot_size="0.001",
                            risk=parse_limits({"limits": limits}))
    return result, strategy


def _records(result: BacktestResult, kind: type[Record]) -> list[Any]:
    return [r for r in result.engine.journal.records if isinstance(r, kind)]


def test_denial_is_a_journaled_event_with_rule_and_numbers() -> None:
    result, strat = _run({"max_order_notional": "500"}, {
        0: lambda s: [s.buy(size="5"), s.buy(size="5.001")]})

    [denied] = _records(result, OrderDenied)
    assert denied.client_order_id == strat.ids[1]
    assert denied.rule == "max_order_notional"
    assert denied.reason == "max_order_notional: notional 500.10 USD > limit 500.00"
    om = result.engine.om
    assert om.orders[strat.ids[1]].status is OrderStatus.DENIED
    assert om.orders[strat.ids[0]].status is OrderStatus.FILLED
    assert (strat.ids[1], denied.reason) in om.rejections
    assert result.engine.risk.denials_by_rule == {"max_order_notional": 1}


def test_without_limits_nothing_but_minimums_is_checked() -> None:
    frame = pl.DataFrame({"ts": [T0, T0 + MINUTE], "open": [100.0, 100.0],
                          "high": [100.0, 100.0], "low": [100.0, 100.0],
                          "close": [100.0, 100.0], "volume": [1e6, 1e6]})
    strategy = Script({0: lambda s: [s.buy(size="99"), s.buy(size="1", price="1.00")]})
    result = heron.backtest(frame, strategy=strategy, symbol="TEST", cash="10000",
                            fee_bps="0", tick_size="0.01", lot_size="0.001")

    assert _records(result, OrderDenied) == []
    assert result.engine.risk.denials_by_rule == {}


def test_grid_denials_from_the_strategy_are_counted_too() -> None:
    result, _ = _run({}, {0: lambda s: s.buy(size="1", price="100.001")})

    [denied] = _records(result, OrderDenied)
    assert denied.rule == "validity"
    assert result.engine.risk.denials_by_rule == {"validity": 1}


def _rest_then_cross(s: Script) -> list[str]:
    return [s.sell(size="2", price="100.60")]  # above every bar's high: it rests


def _cross(s: Script) -> str:
    return s.buy(size="3", price="100.60")


def test_self_trade_cancel_new_denies_the_crossing_order() -> None:
    result, strat = _run({"self_trade": "cancel-new"}, {0: _rest_then_cross, 1: _cross})

    resting, new = strat.ids
    [denied] = _records(result, OrderDenied)
    assert denied.client_order_id == new
    assert denied.reason == (f"self_trade: buy at 100.60 would trade with own resting sell "
                             f"{resting} at 100.60 (cancel-new)")
    assert result.engine.om.orders[resting].status is OrderStatus.ACCEPTED  # it stayed


def test_self_trade_cancel_resting_cancels_then_sends_the_new_order() -> None:
    result, strat = _run({"self_trade": "cancel-resting"}, {0: _rest_then_cross, 1: _cross})

    resting, new = strat.ids
    journal = [r for r in result.engine.journal.records
               if isinstance(r, (CancelOrder, SubmitOrder))]
    assert [(type(r).__name__, r.client_order_id) for r in journal] == [
        ("SubmitOrder", resting), ("CancelOrder", resting), ("SubmitOrder", new)]
    om = result.engine.om
    assert om.orders[resting].status is OrderStatus.CANCELED
    assert om.orders[new].quantity == 3000
    assert _records(result, OrderDenied) == []


def test_self_trade_decrement_both_amends_resting_and_denies_a_fully_offset_new() -> None:
    result, strat = _run({"self_trade": "decrement-both"}, {
        0: lambda s: [s.sell(size="5", price="100.60")],
        1: lambda s: s.buy(size="3", price="100.60")})

    resting, new = strat.ids
    [amend] = _records(result, AmendOrder)
    assert (amend.client_order_id, amend.quantity) == (resting, 2000)
    [updated] = _records(result, OrderUpdated)
    assert updated.quantity == 2000
    [denied] = _records(result, OrderDenied)
    assert denied.client_order_id == new and denied.rule == "self_trade"
    assert denied.reason == (f"self_trade: buy 3 fully offsets own resting orders {resting} "
                             "(decrement-both: they were reduced instead)")
    assert result.engine.om.orders[resting].quantity == 2000


def test_self_trade_decrement_both_cancels_a_smaller_resting_order_and_reduces_new() -> None:
    result, strat = _run({"self_trade": "decrement-both"}, {
        0: lambda s: [s.sell(size="2", price="100.60")],
        1: lambda s: s.buy(size="3", price="100.60")})

    resting, new = strat.ids
    [cancel] = _records(result, CancelOrder)
    assert cancel.client_order_id == resting
    [submitted] = [r for r in _records(result, SubmitOrder) if r.client_order_id == new]
    assert submitted.quantity == 1000
    om = result.engine.om
    assert om.orders[resting].status is OrderStatus.CANCELED
    assert om.orders[new].quantity == 1000
    assert _records(result, OrderDenied) == []


def test_order_rate_uses_the_simulated_clock() -> None:
    limits = {"order_rate": {"count": 2, "window_s": 60}}
    three = {0: lambda s: [s.buy(size="0.1", price="90.00") for _ in range(3)],
             1: lambda s: s.buy(size="0.1", price="90.00")}

    result, strat = _run(limits, three)

    [denied] = _records(result, OrderDenied)
    assert denied.client_order_id == strat.ids[2]
    assert denied.reason == "order_rate: 3 orders in 60s > limit 2"
    assert result.engine.om.orders[strat.ids[3]].status is OrderStatus.ACCEPTED  # a minute on


def test_cancel_rate_refuses_the_cancel_and_the_order_keeps_working() -> None:
    limits = {"cancel_rate": {"count": 1, "window_s": 60}}

    def place(s: Script) -> list[str]:
        return [s.buy(size="0.1", price="90.00"), s.buy(size="0.1", price="90.00")]

    def cancel_both(s: Script) -> list[str]:
        for cid in s.ids:
            s.cancel(cid)
        return []

    result, strat = _run(limits, {0: place, 1: cancel_both})

    om = result.engine.om
    first, second = strat.ids
    assert om.orders[first].status is OrderStatus.CANCELED
    assert om.orders[second].status is OrderStatus.ACCEPTED
    assert (second, "cancel_rate: 2 cancels in 60s > limit 1") in om.rejections
    assert result.engine.risk.denials_by_rule == {"cancel_rate": 1}


def test_max_position_counts_resting_orders_in_a_run() -> None:
    result, strat = _run({"max_position": "1"}, {
        0: lambda s: [s.buy(size="0.6", price="90.00"), s.buy(size="0.5", price="90.00")]})

    [denied] = _records(result, OrderDenied)
    assert denied.client_order_id == strat.ids[1]
    assert denied.reason == ("max_position: position would be 1.1 (now 0, working orders "
                             "0.6, this order 0.5) > limit 1")


def test_cli_backtest_refuses_a_bad_limits_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_order_notional = -5\n")

    proc = subprocess.run(
        [sys.executable, "-m", "heron", "backtest", "--strategy", "sma_cross", "--data",
         str(ROOT / "data" / "ADABTC-1m-2021-11-27.csv"), "--risk", str(bad), "--quiet"],
        capture_output=True, text=True, timeout=120, check=False)

    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].endswith(
        "bad.toml: [limits] max_order_notional must be positive, got -5; fix the value")
    assert len(lines) == 1
