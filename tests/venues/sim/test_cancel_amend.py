"""Canceling and amending working orders."""

from __future__ import annotations

from decimal import Decimal

from simkit import Scripted, fills, journal_kinds, order, run

from heron.model.events import OrderCanceled, OrderUpdated
from heron.model.orders import OrderStatus

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")
QUIET = ("100.00", "100.50", "99.80", "100.00")     # reaches neither 99.00 nor 101.00
DIP = ("100.00", "100.20", "98.50", "99.00")        # trades down through 99.50 and 99.00


def test_cancel_resting_limit_emits_canceled_and_never_fills() -> None:
    script = {0: lambda s: s.buy(size="1", price="99.00"),
              1: lambda s: s.cancel(s.sent[0])}
    result, strat = run([FLAT, QUIET, DIP], script)
    coid = strat.sent[0]

    assert fills(result) == []
    assert order(result, coid).status is OrderStatus.CANCELED
    [canceled] = strat.events_of(OrderCanceled, coid)
    assert canceled.reason == "canceled by strategy"
    assert canceled.ts_event == result.engine.series[0].ts[1]
    assert strat.open_orders() == []


def test_cancel_all_cancels_every_working_order_of_the_strategy() -> None:
    def two(s: Scripted) -> str:
        s.sent.append(s.buy(size="1", price="99.00"))
        return s.buy(size="1", trigger="101.00")

    script = {0: two, 1: lambda s: s.cancel_all()}
    result, strat = run([FLAT, QUIET, DIP, ("100", "102", "100", "101.5")], script)

    assert fills(result) == []
    assert {order(result, c).status for c in strat.sent} == {OrderStatus.CANCELED}


def test_amend_limit_price_changes_fill_price() -> None:
    script = {0: lambda s: s.buy(size="1", price="99.00"),
              1: lambda s: s.amend(s.sent[0], price="99.50")}
    result, strat = run([FLAT, QUIET, DIP], script)
    coid = strat.sent[0]

    [updated] = strat.events_of(OrderUpdated, coid)
    assert (updated.price, updated.quantity, updated.trigger_price) == (9950, 1000, None)
    assert order(result, coid).price == 9950
    # bearish DIP bar passes 99.50 before 99.00: fills at the amended price
    assert fills(result) == [(2, "buy", D("1"), D("99.50"), D("0.0995"), "maker")]
    assert journal_kinds(result, coid) == ["SubmitOrder", "OrderSubmitted", "OrderAccepted",
                                           "AmendOrder", "OrderUpdateRequested", "OrderUpdated",
                                           "OrderFilled"]


def test_amend_limit_quantity_changes_fill_size() -> None:
    script = {0: lambda s: s.buy(size="1", price="99.00"),
              1: lambda s: s.amend(s.sent[0], size="2.5")}
    result, strat = run([FLAT, QUIET, DIP], script)

    assert order(result, strat.sent[0]).quantity == 2500
    assert fills(result) == [(2, "buy", D("2.5"), D("99.00"), D("0.2475"), "maker")]


def test_amend_stop_trigger_changes_trigger_level() -> None:
    script = {0: lambda s: s.buy(size="1", trigger="102.00"),
              1: lambda s: s.amend(s.sent[0], trigger="100.40")}
    up = ("100.00", "100.60", "99.90", "100.50")    # reaches 100.40 but not 102.00
    result, strat = run([FLAT, QUIET, up], script)

    [updated] = strat.events_of(OrderUpdated)
    assert updated.trigger_price == 10040
    assert fills(result) == [(2, "buy", D("1"), D("100.40"), D("0.1004"), "taker")]


def test_amend_then_cancel_in_the_same_bar() -> None:
    def amend_and_cancel(s: Scripted) -> None:
        s.amend(s.sent[0], price="99.50")
        s.cancel(s.sent[0])

    script = {0: lambda s: s.buy(size="1", price="99.00"), 1: amend_and_cancel}
    result, strat = run([FLAT, QUIET, DIP], script)

    assert fills(result) == []
    assert order(result, strat.sent[0]).status is OrderStatus.CANCELED


# -- rejected cancels and amends -----------------------------------------------------------
# A cancel or amend of an order that is not open is answered with OrderCancelRejected /
# OrderUpdateRejected events; the order's status is unchanged (or back from pending).
def test_cancel_of_filled_order_is_rejected_as_event() -> None:
    script = {0: lambda s: s.buy(size="1"), 2: lambda s: s.cancel(s.sent[0])}
    result, strat = run([FLAT, FLAT, FLAT], script)

    assert order(result, strat.sent[0]).status is OrderStatus.FILLED
    assert journal_kinds(result, strat.sent[0])[-1] == "OrderCancelRejected"


def test_amend_rejected_is_an_event_and_order_keeps_working() -> None:
    # a limit has no trigger to amend: the venue refuses
    script = {0: lambda s: s.buy(size="1", price="99.00"),
              1: lambda s: s.amend(s.sent[0], trigger="98.00")}
    result, strat = run([FLAT, QUIET, DIP], script)

    assert journal_kinds(result, strat.sent[0])[-2] == "OrderUpdateRejected"
    assert fills(result) == [(2, "buy", D("1"), D("99.00"), D("0.099"), "maker")]
