"""What the API shows of one run, rebuilt from its journal and kept up to date by it.

A :class:`RunView` feeds the run's records, in sequence order, through heron's own
:class:`~heron.execution.order_manager.OrderManager` on a portfolio built from the
journal header, exactly as :func:`heron.node.replay.replay_journal` does; the follower
(:mod:`heron.api.follow`) then hands it each new record as the run writes it, so a view
costs one replay once and a few microseconds per record after that. Every mode gives
the same view for the same records.

The journal holds no market data, so positions are marked, and the equity curve
sampled, at the last traded price heron knows: the last fill (or funding mark) of each
instrument. The curve has one point per fill, funding payment or venue balance update.

Prices, sizes and money leave as exact decimal strings (:mod:`heron.api.record_json`).
A view is changed by one worker thread and read by request threads: both hold
:attr:`RunView.lock`.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from heron.api.record_json import RecordEncoder, decimal_text, fixed_text
from heron.errors import HeronError
from heron.execution.order_manager import OrderManager
from heron.model.events import (
    AccountState,
    FundingApplied,
    OrderFilled,
    Record,
    SubmitOrder,
    TradingStateChanged,
)
from heron.model.fixed import round_raw
from heron.model.orders import Order
from heron.model.portfolio import Portfolio
from heron.node.round_trip_table import round_trips_frame

#: decimals of a drawdown fraction
DRAWDOWN_SCALE = 8
#: decimals of an average price (a quotient)
AVG_SCALE = 12


class RunView:
    """Orders, fills, positions, balances, round trips and equity of one run."""

    def __init__(self, run_id: str, header: dict[str, Any]) -> None:
        self.encoder = RecordEncoder(run_id, header)
        instruments = list(self.encoder.instruments.values())
        precision = int(header.get("money_precision", 0))
        cash = Decimal(str(header.get("starting_cash", "0")))
        self.portfolio = Portfolio(instruments, int(cash.scaleb(precision)), precision)
        self.om = OrderManager(self.portfolio)
        self.currency = instruments[0].quote_currency if instruments else ""
        self.lock = threading.Lock()
        self.last_seq = 0
        self.fills: list[tuple[int, OrderFilled]] = []
        self.equity: list[tuple[int, int]] = []   # (ts, money raw)
        self.decisions: dict[str, int] = {}
        self.order_ts: dict[str, int] = {}        # client order id -> last event ts
        self.trading_state: str | None = None
        self.problems: list[str] = []              # records the replay could not apply

    # -- advancing -------------------------------------------------------------------------
    def apply(self, seq: int, record: Record) -> None:
        """Apply one record (called in sequence order; an old sequence is ignored)."""
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        if not self.equity and record.ts_event > 0:  # a run's INIT record carries no time
            self.equity.append((record.ts_event, self.portfolio.starting_balance))
        if not self._known(seq, record):
            return
        if isinstance(record, SubmitOrder) and record.decision_price is not None:
            self.decisions[record.client_order_id] = record.decision_price
        try:
            order = self.om.apply(record)
        except HeronError as exc:  # a damaged journal: keep what can be shown
            self.problems.append(f"seq {seq}: {exc}")
            return
        if order is not None:
            self.order_ts[order.client_order_id] = record.ts_event
        self._account(seq, record)

    def _account(self, seq: int, record: Record) -> None:
        """What the order manager does not keep: fills in order, the curve, the state."""
        if isinstance(record, OrderFilled):
            self._on_fill(seq, record)
        elif isinstance(record, FundingApplied):
            self.portfolio.marks[record.instrument_id] = record.mark_px
            self._sample(record.ts_event)
        elif isinstance(record, AccountState):
            self._sample(record.ts_event)
        elif isinstance(record, TradingStateChanged):
            self.trading_state = record.to_state

    def _known(self, seq: int, record: Record) -> bool:
        """Whether the record's instrument is one the header defines (else it is skipped
        and noted: a foreign or damaged journal must not stop the view)."""
        iid = getattr(record, "instrument_id", None)
        if iid is None or iid in self.encoder.instruments:
            return True
        self.problems.append(f"seq {seq}: instrument {iid!r} is not in the journal "
                             "header; record skipped")
        return False

    def _on_fill(self, seq: int, fill: OrderFilled) -> None:
        self.fills.append((seq, fill))
        self.portfolio.marks[fill.instrument_id] = fill.last_px
        self._sample(fill.ts_event)

    def _sample(self, ts: int) -> None:
        pf = self.portfolio
        total = pf.balance
        for iid, pos in pf.positions.items():
            mark = pf.marks.get(iid)
            if pos.qty and mark is not None:
                total += pf.position_value(pos, mark)
        self.equity.append((ts, total))

    # -- reading (hold self.lock) ----------------------------------------------------------
    def order_rows(self) -> list[dict[str, Any]]:
        return [self.order_row(o) for o in self.om.orders.values()]

    def order_row(self, order: Order) -> dict[str, Any]:
        grid = self.encoder.grids[order.instrument_id]
        inst = self.encoder.instruments[order.instrument_id]
        avg = None
        if order.filled:
            avg = _quotient(order.avg_px_num * inst.tick_raw, order.filled,
                            inst.price_precision)
        return {
            "client_order_id": order.client_order_id, "strategy_id": order.strategy_id,
            "instrument_id": order.instrument_id, "symbol": inst.symbol,
            "side": order.side.value, "type": order.order_type.value,
            "status": order.status.value, "quantity": grid.size(order.quantity),
            "filled": grid.size(order.filled), "leaves": grid.size(order.leaves),
            "price": None if order.price is None else grid.price(order.price),
            "trigger_price": None if order.trigger_price is None
            else grid.price(order.trigger_price),
            "avg_price": avg, "time_in_force": order.time_in_force.value,
            "post_only": order.post_only, "reduce_only": order.reduce_only,
            "tag": order.tag, "venue_order_id": order.venue_order_id or None,
            "ts_init": order.ts_init, "ts_last": self.order_ts.get(order.client_order_id,
                                                                   order.ts_init),
            "ts_closed": order.ts_closed or None}

    def fill_rows(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        enc = self.encoder
        rows = []
        for seq, f in self.fills[start:end]:
            grid = enc.grids[f.instrument_id]
            rows.append({
                "seq": seq, "ts": f.ts_event, "client_order_id": f.client_order_id,
                "instrument_id": f.instrument_id,
                "symbol": enc.instruments[f.instrument_id].symbol, "side": f.side.value,
                "quantity": grid.size(f.last_qty), "price": grid.price(f.last_px),
                "fee": enc.money(f.fee), "liquidity": f.liquidity, "trade_id": f.trade_id,
                "venue_order_id": f.venue_order_id, "strategy_id": f.strategy_id})
        return rows

    def position_rows(self) -> list[dict[str, Any]]:
        pf, enc = self.portfolio, self.encoder
        rows = []
        for iid, pos in pf.positions.items():
            inst, grid = enc.instruments[iid], enc.grids[iid]
            mark = pf.marks.get(iid)
            avg = None
            if pos.qty:
                avg = _quotient(pos.entry_cost * inst.tick_raw, abs(pos.qty),
                                inst.price_precision)
            rows.append({
                "instrument_id": iid, "symbol": inst.symbol, "quantity": grid.size(pos.qty),
                "side": "long" if pos.qty > 0 else "short" if pos.qty < 0 else "flat",
                "avg_entry": avg, "mark": None if mark is None else grid.price(mark),
                "unrealized_pnl": enc.money(pos.unrealised(mark)) if mark is not None
                else "0",
                "realized_pnl": enc.money(pos.realised), "fees": enc.money(pos.fees),
                "funding": enc.money(pos.funding), "ts_opened": pos.ts_opened or None})
        return rows

    def balance_rows(self) -> list[dict[str, Any]]:
        pf, money = self.portfolio, self.encoder.money
        equity = self.equity[-1][1] if self.equity else pf.balance
        return [{"currency": self.currency, "total": money(pf.balance),
                 "free": None if pf.free is None else money(pf.free),
                 "equity": money(equity), "starting": money(pf.starting_balance),
                 "realized_pnl": money(pf.realised), "fees": money(pf.fees),
                 "funding": money(pf.funding), "adjustments": money(pf.adjustments),
                 "pnl": money(equity - pf.starting_balance)}]

    def round_trip_rows(self) -> list[dict[str, Any]]:
        book = self.om.trips
        trips = list(book.closed) + sorted(book.open.values(), key=lambda t: t.entry_ts)
        frame = round_trips_frame(self.portfolio, trips, self.decisions)
        return [{k: decimal_text(v) if isinstance(v, Decimal) else v for k, v in row.items()}
                for row in frame.iter_rows(named=True)]

    def equity_rows(self, points: int) -> list[dict[str, Any]]:
        """The curve with its drawdown (``1 - equity / peak``), at most ``points`` samples
        (the deepest point of each stretch kept, so the max drawdown survives)."""
        money = self.encoder.money
        rows: list[tuple[int, int, int]] = []
        peak = None
        for ts, value in self.equity:
            peak = value if peak is None else max(peak, value)
            depth = round_raw((peak - value) * 10**DRAWDOWN_SCALE, peak) if peak > 0 else 0
            rows.append((ts, value, depth))
        return [{"ts": ts, "equity": money(value), "drawdown": fixed_text(depth,
                                                                           DRAWDOWN_SCALE)}
                for ts, value, depth in _downsample(rows, points)]

    def summary(self) -> dict[str, Any]:
        """Equity, PnL, trading state and gross exposure at the last marks."""
        pf, money = self.portfolio, self.encoder.money
        equity = self.equity[-1][1] if self.equity else pf.balance
        exposure = sum(pos.money(abs(pos.qty) * pf.marks[iid])
                       for iid, pos in pf.positions.items() if pos.qty and iid in pf.marks)
        return {"equity": money(equity), "pnl": money(equity - pf.starting_balance),
                "trading_state": self.trading_state, "exposure": money(exposure)}


def _quotient(numerator: int, denominator: int, precision: int) -> str:
    """``numerator / denominator * 10**-precision`` rounded half-even at AVG_SCALE."""
    raw = round_raw(numerator * 10 ** max(AVG_SCALE - precision, 0), denominator)
    return fixed_text(raw, max(AVG_SCALE, precision))


def _downsample(rows: list[tuple[int, int, int]], points: int
                ) -> list[tuple[int, int, int]]:
    if len(rows) <= points:
        return rows
    picked: list[tuple[int, int, int]] = []
    step = len(rows) / points
    for k in range(points):
        part = rows[int(k * step):int((k + 1) * step)] or rows[-1:]
        deepest = max(part, key=lambda r: r[2])
        picked.append(deepest if k < points - 1 else rows[-1])
    return picked
