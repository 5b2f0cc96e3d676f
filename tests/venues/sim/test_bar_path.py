"""The intrabar path: which of two levels inside one bar trades first.

The venue assumes O→L→H→C for a bar that closes at or above its open and O→H→L→C for
one that closes below (see ``heron.venues.sim.bar_path``). With a long position, a
reduce-only stop-loss below and a reduce-only take-profit above, both inside one bar:

* bullish bar: the low comes first, so the stop-loss fills and the take-profit, finding
  the position already closed, is canceled;
* bearish bar: the high comes first, so the take-profit fills and the stop-loss is
  canceled.
"""

from __future__ import annotations

from decimal import Decimal

from simkit import Scripted, fills, order, run

from heron.model.events import OrderCanceled
from heron.model.orders import OrderStatus
from heron.node.result import BacktestResult
from heron.venues.sim.bar_path import bar_path, first_at_or_above, first_at_or_below, rest_of_path

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")
ENTRY = ("100.00", "100.50", "99.50", "100.00")


def _bracket(s: Scripted) -> str:
    s.sent.append(s.sell(size="1", trigger="98.00", reduce_only=True, tag="stop-loss"))
    return s.sell(size="1", price="103.00", reduce_only=True, tag="take-profit")


def _run_bracket(decisive: tuple[str, str, str, str]) -> tuple[BacktestResult, Scripted]:
    return run([FLAT, ENTRY, decisive], {0: lambda s: s.buy(size="1"), 1: _bracket})


def test_bullish_bar_low_first_stop_loss_fills_take_profit_canceled() -> None:
    # closes above its open: 100 -> 97 (stop at 98) -> 104 (TP at 103) -> 103.50
    result, strat = _run_bracket(("100.00", "104.00", "97.00", "103.50"))
    _entry, stop, take = strat.sent

    assert fills(result)[1:] == [(2, "sell", D("1"), D("98.00"), D("0.098"), "taker")]
    assert order(result, stop).status is OrderStatus.FILLED
    assert order(result, take).status is OrderStatus.CANCELED
    [canceled] = strat.events_of(OrderCanceled, take)
    assert "reduce-only" in canceled.reason
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 0


def test_bearish_bar_high_first_take_profit_fills_stop_loss_canceled() -> None:
    # closes below its open: 100 -> 104 (TP at 103) -> 97 (stop at 98) -> 97.50
    result, strat = _run_bracket(("100.00", "104.00", "97.00", "97.50"))
    _entry, stop, take = strat.sent

    assert fills(result)[1:] == [(2, "sell", D("1"), D("103.00"), D("0.103"), "maker")]
    assert order(result, take).status is OrderStatus.FILLED
    assert order(result, stop).status is OrderStatus.CANCELED
    assert result.engine.portfolio.positions["TEST.SIM"].qty == 0


def test_doji_bar_counts_as_bullish() -> None:
    # close == open: O→L→H→C, so the low (stop) comes first
    result, strat = _run_bracket(("100.00", "104.00", "97.00", "100.00"))

    assert fills(result)[1][3] == D("98.00")
    assert order(result, strat.sent[2]).status is OrderStatus.CANCELED


def test_bar_path_orders_extremes_by_bar_direction() -> None:
    assert bar_path(100, 104, 97, 103) == (100, 97, 104, 103)
    assert bar_path(100, 104, 97, 98) == (100, 104, 97, 98)
    assert bar_path(100, 104, 97, 100) == (100, 97, 104, 100)


def test_first_touch_reports_segment_distance_and_price() -> None:
    path = (100, 97, 104, 103)
    assert first_at_or_below(path, 98) == (1, 2, 98)    # 100 -> 97, 2 ticks in
    assert first_at_or_above(path, 103) == (2, 6, 103)  # 97 -> 104, 6 ticks in
    assert first_at_or_below(path, 100) == (0, 0, 100)  # at the open
    assert first_at_or_above(path, 105) is None
    assert first_at_or_below(path, 96) is None
    assert rest_of_path(path, (2, 6, 103)) == (103, 104, 103)
    assert rest_of_path(path, (0, 0, 100)) == path
