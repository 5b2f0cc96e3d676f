"""Pre-trade risk check latency: p50/p99 per order with 10+ rules and 100 instruments.

The engine (:class:`heron.risk.pretrade.PreTradeEngine`) is built on a real portfolio
and order manager holding a position in every one of 100 linear perpetuals (the worst
case for the exposure and leverage sums) and ``--resting`` working limit orders spread
over them and over 4 strategies (for self-trade prevention and max_position). Active
rules: whitelist, min quantity, min notional, max order quantity, max order notional,
price band, max position, max gross exposure, max net exposure, max leverage, order
rate, self-trade prevention (cancel-new). The order stream mixes passing orders with
orders denied by each rule (``--deny-share``). Before each order one held instrument's
mark moves, as market data would move it. Each check is timed alone with
``perf_counter_ns``; the table shows p50/p99/max per check, passing and denied apart. The
last lines show what keeping the exposure sums costs a mark write (the market-data side).

Run: ``.venv/bin/python bench/bench_risk.py [--orders 200000] [--resting 2000]``
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from decimal import Decimal

from heron.execution.order_manager import OrderManager
from heron.model.events import (
    OrderAccepted,
    OrderFilled,
    OrderSubmitted,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType
from heron.model.portfolio import Portfolio
from heron.risk.limits import parse_limits
from heron.risk.pretrade import Denial, PreTradeEngine

N_INSTRUMENTS = 100
MARK = 1_000_000  # ticks of 0.01: 10,000.00
STRATEGIES = ("s0", "s1", "s2", "s3")
LIMITS = {
    "max_order_quantity": "5", "max_order_notional": "40000", "max_position": "20",
    "max_gross_exposure": "5000000", "max_net_exposure": "4000000", "max_leverage": "20",
    "price_band_bps": 300, "whitelist": [f"SYM{k}" for k in range(N_INSTRUMENTS - 1)],
    "self_trade": "cancel-new", "order_rate": {"count": 10_000_000, "window_s": 1},
}


def _instruments() -> list[Instrument]:
    return [Instrument(f"SYM{k}", venue="SIM", kind=InstrumentKind.LINEAR_PERPETUAL,
                       price_increment=Decimal("0.01"), size_increment=Decimal("0.001"),
                       min_quantity=Decimal("0.002"), min_notional=Decimal("5"),
                       quote_currency="USDT", margin_init=Decimal("0.05"))
            for k in range(N_INSTRUMENTS)]


class Book:
    """Portfolio, order manager and engine, fed records the way the node feeds them."""

    def __init__(self, resting: int, rng: random.Random) -> None:
        self.instruments = _instruments()
        self.pf = Portfolio(self.instruments, 10_000_000 * 10**8, 8)  # 10M USDT
        self.om = OrderManager(self.pf)
        self.ts = 1
        self.engine = PreTradeEngine(parse_limits({"limits": LIMITS}), portfolio=self.pf,
                                     om=self.om, now=lambda: self.ts)
        self.n = 0
        for inst in self.instruments:
            self.pf.marks[inst.id] = MARK
            side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
            self._fill(inst, side, rng.randrange(1000, 5000))  # 1..5 units held
        for k in range(resting):  # bids below, asks above the mark, never crossing
            inst = self.instruments[k % N_INSTRUMENTS]
            buy = rng.random() < 0.5
            px = MARK - rng.randrange(100, 20_000) if buy else MARK + rng.randrange(100, 20_000)
            self._rest(self._cmd(inst, OrderSide.BUY if buy else OrderSide.SELL, 100, px,
                                 STRATEGIES[k % len(STRATEGIES)]))

    def _cmd(self, inst: Instrument, side: OrderSide, lots: int, px: int | None,
             strategy: str = "s0") -> SubmitOrder:
        self.n += 1
        kind = OrderType.MARKET if px is None else OrderType.LIMIT
        return SubmitOrder(self.ts, self.ts, f"B-{self.n}", strategy, inst.id, side, kind,
                           lots, px)

    def _apply(self, *records: Record) -> None:
        for record in records:
            order = self.om.apply(record)
            if order is not None and not isinstance(record, SubmitOrder):
                self.engine.observe(order, record)

    def _rest(self, cmd: SubmitOrder) -> None:
        self._apply(cmd, OrderSubmitted(1, 1, cmd.client_order_id, cmd.instrument_id),
                    OrderAccepted(1, 1, cmd.client_order_id, cmd.instrument_id, "V"))

    def _fill(self, inst: Instrument, side: OrderSide, lots: int) -> None:
        cmd = self._cmd(inst, side, lots, None)
        self._rest(cmd)
        self._apply(OrderFilled(1, 1, cmd.client_order_id, inst.id, "V", cmd.client_order_id,
                                "s0", side, lots, MARK, 0, "taker", lots))


def _stream(book: Book, n: int, deny_share: float, rng: random.Random) -> list[SubmitOrder]:
    """Orders: most pass; ``deny_share`` of them break one rule each, in turn."""
    insts = book.instruments
    breakers = [
        lambda i: book._cmd(insts[-1], OrderSide.BUY, 100, MARK),            # whitelist
        lambda i: book._cmd(i, OrderSide.BUY, 1, MARK),                       # min quantity
        lambda i: book._cmd(i, OrderSide.BUY, 2, 20_000),                     # min notional
        lambda i: book._cmd(i, OrderSide.BUY, 5001, MARK),                    # max quantity
        lambda i: book._cmd(i, OrderSide.BUY, 4500, MARK),                    # max notional
        lambda i: book._cmd(i, OrderSide.SELL, 100, MARK - 40_000),           # price band
        lambda i: book._cmd(i, OrderSide.BUY, 100, MARK + 25_000),            # self trade
    ]
    out = []
    for k in range(n):
        inst = insts[rng.randrange(N_INSTRUMENTS - 1)]
        if rng.random() < deny_share:
            out.append(breakers[k % len(breakers)](inst))
        else:
            side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
            px = MARK + rng.randrange(-20_000, 20_000)  # limits: a market order would
            if px >= MARK if side is OrderSide.BUY else px <= MARK:  # meet own asks (STP)
                px = MARK - 50 if side is OrderSide.BUY else MARK + 50  # no self-cross
            out.append(book._cmd(inst, side, rng.randrange(2, 2000), px,
                                 STRATEGIES[k % len(STRATEGIES)]))
    return out


def _pct(values: list[int], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--resting", type=int, default=2_000)
    parser.add_argument("--deny-share", type=float, default=0.2)
    args = parser.parse_args()
    rng = random.Random(7)
    book = Book(args.resting, rng)
    orders = _stream(book, args.orders, args.deny_share, rng)
    check = book.engine.check_submit
    clock = time.perf_counter_ns
    passed: list[int] = []
    denied: list[int] = []
    by_rule: dict[str, int] = {}
    for cmd in orders[:2000]:  # warm up
        check(cmd)
    marks = book.pf.marks  # market data moves a held instrument's mark between orders
    ids = [inst.id for inst in book.instruments]
    gc.disable()
    for k, cmd in enumerate(orders):
        marks[ids[k % N_INSTRUMENTS]] = MARK + k % 7 - 3
        start = clock()
        verdict = check(cmd)
        took = clock() - start
        if isinstance(verdict, Denial):
            denied.append(took)
            by_rule[verdict.rule] = by_rule.get(verdict.rule, 0) + 1
        else:
            passed.append(took)
        book.ts += 1000
    gc.enable()
    every = passed + denied
    load = os.getloadavg()
    print(f"pre-trade check, {N_INSTRUMENTS} instruments (all held), {args.resting:,} "
          f"resting orders, {len(orders):,} orders; load average {load[0]:.2f} "
          f"on {os.cpu_count()} cores\n")
    print("| orders | count | p50 µs | p99 µs | max µs |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, values in (("all", every), ("passing", passed), ("denied", denied)):
        print(f"| {label} | {len(values):,} | {_pct(values, 0.5):.2f} | "
              f"{_pct(values, 0.99):.2f} | {max(values) / 1000:.2f} |")
    print("\ndenials by rule: " + ", ".join(f"{k} {v:,}" for k, v in sorted(by_rule.items())))
    print(f"goal p99 < 20 µs: {'met' if _pct(every, 0.99) < 20 else 'NOT met'}")
    _mark_write_cost(book)


def _mark_write_cost(book: Book) -> None:
    """What the exposure sums cost the market-data path: a mark written into the
    portfolio's marks (kept by ExposureMarks when exposure limits are on) against a
    plain dict, per write, over the 100 held instruments."""
    ids = [inst.id for inst in book.instruments] * 10_000
    tracked = book.pf.marks
    plain = dict(tracked)
    for label, marks in (("plain dict", plain), ("ExposureMarks", tracked)):
        start = time.perf_counter_ns()
        for k, iid in enumerate(ids):
            marks[iid] = MARK + (k & 7)
        took = (time.perf_counter_ns() - start) / len(ids)
        print(f"mark write, {label}: {took:.0f} ns")


if __name__ == "__main__":
    main()
