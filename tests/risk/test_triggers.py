"""The trigger monitor's losing streak counts every round trip that closed, also those a
bounded order manager (a live run left trading) no longer keeps in memory.

A real OrderManager, Portfolio and TradingMachine, driven by journal records."""

from __future__ import annotations

from decimal import Decimal

import pytest

from conftest import BTC_GRID
from heron.execution.order_manager import OrderManager
from heron.model.events import (
    OrderAccepted,
    OrderFilled,
    OrderSubmitted,
    SubmitOrder,
    TradingStateChanged,
)
from heron.model.orders import OrderSide, OrderType
from heron.model.portfolio import Portfolio
from heron.risk.state import RunState, TradingMachine
from heron.risk.triggers import TriggerMonitor, state_limits

IID = BTC_GRID.id
PRICE = 6_000_000  # ticks


def trade(om: OrderManager, cid: str, ts: int, side: OrderSide, price: int) -> None:
    """One order filled whole at ``price``, as its records reach the order manager."""
    for record in (SubmitOrder(ts, ts, cid, "s1", IID, side, OrderType.LIMIT, 10, price),
                   OrderSubmitted(ts, ts, cid, IID), OrderAccepted(ts, ts, cid, IID, f"V{cid}"),
                   OrderFilled(ts, ts, cid, IID, f"V{cid}", f"T{cid}", "s1", side, 10, price,
                               0, "maker", 10)):
        om.apply(record)


def streak_run(exits: list[int], *, bounded: bool) -> tuple[list[int], list[str]]:
    """Round trips long at PRICE, out at each of ``exits``; the streak after each trip,
    and the moves the machine made."""
    om = OrderManager(Portfolio([BTC_GRID], int(Decimal(100_000).scaleb(8)), 8))
    if bounded:
        om.retain_closed(1)
    moves: list[TradingStateChanged] = []
    machine = TradingMachine(now=lambda: 7, record=moves.append)
    machine.state = RunState.READY
    monitor = TriggerMonitor(state_limits({"losing_streak": 3}), machine, om.portfolio, om)
    streaks = []
    for k, exit_px in enumerate(exits):
        trade(om, f"in{k}", 10 * k, OrderSide.BUY, PRICE)
        monitor.on_fill(10 * k)
        trade(om, f"out{k}", 10 * k + 5, OrderSide.SELL, exit_px)
        monitor.on_fill(10 * k + 5)
        streaks.append(monitor.streak)
    return streaks, [f"{m.from_state}->{m.to_state}" for m in moves]


@pytest.mark.parametrize("bounded", [False, True])
def test_the_losing_streak_counts_trips_no_longer_in_memory(bounded: bool) -> None:
    exits = [PRICE + 10, PRICE - 10, PRICE - 10, PRICE + 10, PRICE - 10, PRICE - 10,
             PRICE - 10]
    streaks, moves = streak_run(exits, bounded=bounded)
    assert streaks == [0, 1, 2, 0, 1, 2, 3]
    assert moves == ["READY->DEGRADED"]
