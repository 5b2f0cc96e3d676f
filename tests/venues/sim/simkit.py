"""A small kit for driving the real backtest engine through the simulated venue.

Bars are handcrafted ``(open, high, low, close[, volume])`` rows; a :class:`Scripted`
strategy runs given actions at given bar indexes and records every callback it gets.
Nothing of heron is mocked: :func:`run` goes through ``heron.backtest``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl

import heron
from heron.model.data import Bar
from heron.model.events import OrderEvent, OrderFilled, Record
from heron.model.orders import Order
from heron.node.result import BacktestResult

T0 = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z in ns
MINUTE = 60_000_000_000

Row = tuple[str, ...]
Action = Callable[["Scripted"], object]


def ts(index: int) -> int:
    """Open time of bar ``index`` in the frames built by :func:`frame`."""
    return T0 + index * MINUTE


def frame(rows: Sequence[Row]) -> pl.DataFrame:
    """Minute bars from ``(open, high, low, close[, volume])`` decimal strings.

    Prices are written as strings so the test reads like the prices it means; they are
    parsed to floats here because that is what bar frames hold.
    """
    cols: dict[str, list[Any]] = {"ts": [], "open": [], "high": [], "low": [], "close": [],
                                  "volume": []}
    for k, row in enumerate(rows):
        o, h, low, c, *rest = row
        cols["ts"].append(ts(k))
        for name, value in zip(("open", "high", "low", "close"), (o, h, low, c), strict=True):
            cols[name].append(float(value))
        cols["volume"].append(float(rest[0]) if rest else 1000.0)
    return pl.DataFrame(cols, schema={"ts": pl.Int64, "open": pl.Float64, "high": pl.Float64,
                                      "low": pl.Float64, "close": pl.Float64,
                                      "volume": pl.Float64})


class Scripted(heron.Strategy):
    """Runs ``script[bar.index](self)`` on each bar; records ids, events and fills.

    An action's return value, when it is a client order id (``str``), is appended to
    ``sent`` so tests can find their orders in submission order.
    """

    def __init__(self, script: dict[int, Action] | None = None, *,
                 on_fill_action: Callable[[Scripted, OrderFilled], object] | None = None,
                 strategy_id: str | None = None,
                 instruments: Sequence[str] | None = None) -> None:
        super().__init__(strategy_id=strategy_id, instruments=instruments)
        self.script = dict(script or {})
        self.on_fill_action = on_fill_action
        self.sent: list[str] = []
        self.events: list[OrderEvent] = []
        self.fills: list[OrderFilled] = []
        self.bars: list[Bar] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)
        action = self.script.get(bar.index)
        if action is not None:
            out = action(self)
            if isinstance(out, str):
                self.sent.append(out)

    def on_order(self, order: Order, event: OrderEvent) -> None:
        self.events.append(event)

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        self.fills.append(fill)
        if self.on_fill_action is not None:
            out = self.on_fill_action(self, fill)
            if isinstance(out, str):
                self.sent.append(out)

    def events_of(self, kind: type[OrderEvent], client_order_id: str | None = None
                  ) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)
                and (client_order_id is None or e.client_order_id == client_order_id)]


DEFAULTS: dict[str, Any] = {"symbol": "TEST", "cash": "10000", "fee_bps": "10",
                            "tick_size": "0.01", "lot_size": "0.001"}


def run(rows: Sequence[Row], script: dict[int, Action] | None = None,
        **kwargs: Any) -> tuple[BacktestResult, Scripted]:
    """Backtest a :class:`Scripted` strategy on ``rows`` (defaults: :data:`DEFAULTS`)."""
    on_fill = kwargs.pop("on_fill_action", None)
    strategy = Scripted(script, on_fill_action=on_fill)
    result = heron.backtest(frame(rows), strategy=strategy, **{**DEFAULTS, **kwargs})
    return result, strategy


def fills(result: BacktestResult) -> list[tuple[int, str, Decimal, Decimal, Decimal, str]]:
    """``(bar index, side, qty, price, fee, liquidity)`` of every fill, in order."""
    return [(_index(row["ts"]), row["side"], row["qty"], row["price"], row["fee"],
             row["liquidity"]) for row in result.fills.iter_rows(named=True)]


def _index(ns: int) -> int:
    index, rest = divmod(ns - T0, MINUTE)
    if rest:
        raise ValueError(f"{ns} is not a bar time of simkit frames")
    return index


def order(result: BacktestResult, client_order_id: str) -> Order:
    return result.engine.om.orders[client_order_id]


def records(result: BacktestResult, kind: type[Record]) -> list[Any]:
    """Journal records of one type, in journal order."""
    return [r for r in result.engine.journal.records if isinstance(r, kind)]


def money(result: BacktestResult, raw: int) -> Decimal:
    return result.engine.portfolio.money(raw)




def journal_kinds(result: BacktestResult, client_order_id: str) -> list[str]:
    """Type names of the journal records about one order, in order."""
    return [type(r).__name__ for r in result.engine.journal.records
            if getattr(r, "client_order_id", None) == client_order_id]
