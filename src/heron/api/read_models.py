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

A view's memory does not grow with the run. Fills are not kept: they are read from the
journal a page at a time (:func:`fill_row` renders one), and the view counts them. The
curve keeps each point's drawdown (from the exact running peak) and is thinned to its
deepest points once it doubles :data:`EQUITY_KEPT`, so the deepest drawdown stays exact.
A paper or live run's view (served while it trades, for weeks) keeps its open orders
and its newest :data:`CLOSED_KEPT` closed ones with their round trips, as the run
itself does; every order keeps its creation number, the cursor of the orders' pages.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

from heron.api.record_json import RecordEncoder, fixed_text
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
from heron.node.run_status import decimal_text

#: decimals of a drawdown fraction
DRAWDOWN_SCALE = 8
#: decimals of an average price (a quotient)
AVG_SCALE = 12
#: closed orders (and round trips) a paper or live run's view keeps: the run's own bound
CLOSED_KEPT = 10_000
#: equity points kept after a thinning (done when the curve holds twice as many)
EQUITY_KEPT = 20_000
#: problems (records the view could not apply) kept, the first ones
PROBLEMS_KEPT = 100
#: an equity point: ts, equity (money raw), drawdown at DRAWDOWN_SCALE
EquityPoint = tuple[int, int, int]


class RunView:
    """Orders, fills, positions, balances, round trips and equity of one run."""

    def __init__(self, run_id: str, header: dict[str, Any], *,
                 closed_kept: int | None = None, equity_kept: int = EQUITY_KEPT) -> None:
        self.encoder = RecordEncoder(run_id, header)
        instruments = list(self.encoder.instruments.values())
        precision = int(header.get("money_precision", 0))
        cash = Decimal(str(header.get("starting_cash", "0")))
        self.portfolio = Portfolio(instruments, int(cash.scaleb(precision)), precision)
        self.om = OrderManager(self.portfolio)
        self.currency = instruments[0].quote_currency if instruments else ""
        self.lock = threading.Lock()
        self.last_seq = 0
        self.order_count = 0
        self.fill_count = 0
        self.equity: list[EquityPoint] = []
        self.equity_kept = equity_kept
        self._peak: int | None = None
        self.decisions: dict[str, int] = {}
        self.order_ts: dict[str, int] = {}        # client order id -> last event ts
        self.order_no: dict[str, int] = {}        # client order id -> creation number
        self.trading_state: str | None = None
        self.problems: list[str] = []              # records the replay could not apply
        if closed_kept is None and header.get("kind", "backtest") != "backtest":
            closed_kept = CLOSED_KEPT
        self._decisions_cap: int | None = None
        if closed_kept is not None:
            self.om.retain_closed(closed_kept)
            self.om.forget_hooks.append(self._forget)
            self._decisions_cap = 4 * closed_kept

    def _forget(self, order: Order) -> None:
        """The order manager let go of a closed order: so does the view (its decision
        price stays while a kept round trip still names the order)."""
        cid = order.client_order_id
        self.order_ts.pop(cid, None)
        self.order_no.pop(cid, None)

    def _prune_decisions(self) -> None:
        """Keep the decision prices of orders still kept or named by a kept round trip:
        swept when the table doubles, so an order pays O(1) on average."""
        book = self.om.trips
        named = set(self.om.orders)
        for trip in [*book.closed, *book.open.values()]:
            named.update(trip.entry_orders, trip.exit_orders)
        self.decisions = {k: v for k, v in self.decisions.items() if k in named}
        assert self._decisions_cap is not None
        self._decisions_cap = max(self._decisions_cap, 2 * len(self.decisions))

    # -- advancing -------------------------------------------------------------------------
    def apply(self, seq: int, record: Record) -> None:
        """Apply one record (called in sequence order; an old sequence is ignored)."""
        if seq <= self.last_seq:
            return
        self.last_seq = seq
        if not self.equity and record.ts_event > 0:  # a run's INIT record carries no time
            self._point(record.ts_event, self.portfolio.starting_balance)
        if not self._known(seq, record):
            return
        try:
            order = self.om.apply(record)
        except HeronError as exc:  # a damaged journal: keep what can be shown
            self._problem(f"seq {seq}: {exc}")
            return
        if order is not None:
            if isinstance(record, SubmitOrder):
                self._created(record)
            self.order_ts[order.client_order_id] = record.ts_event
        self._account(seq, record)

    def _created(self, cmd: SubmitOrder) -> None:
        """A new order: its creation number, and its decision price for round trips."""
        self.order_count += 1
        self.order_no[cmd.client_order_id] = self.order_count
        if cmd.decision_price is not None:
            self.decisions[cmd.client_order_id] = cmd.decision_price
            cap = self._decisions_cap
            if cap is not None and len(self.decisions) > cap:
                self._prune_decisions()

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
        self._problem(f"seq {seq}: instrument {iid!r} is not in the journal header; "
                      "record skipped")
        return False

    def _problem(self, what: str) -> None:
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(what)

    def _on_fill(self, seq: int, fill: OrderFilled) -> None:
        self.fill_count += 1
        self.portfolio.marks[fill.instrument_id] = fill.last_px
        self._sample(fill.ts_event)

    def _sample(self, ts: int) -> None:
        pf = self.portfolio
        total = pf.balance
        for iid, pos in pf.positions.items():
            mark = pf.marks.get(iid)
            if pos.qty and mark is not None:
                total += pf.position_value(pos, mark)
        self._point(ts, total)

    def _point(self, ts: int, value: int) -> None:
        """A point of the curve with its drawdown from the exact running peak; the curve
        thinned to its deepest points once it doubles :attr:`equity_kept`."""
        peak = self._peak = value if self._peak is None else max(self._peak, value)
        depth = round_raw((peak - value) * 10**DRAWDOWN_SCALE, peak) if peak > 0 else 0
        self.equity.append((ts, value, depth))
        if len(self.equity) > 2 * self.equity_kept:
            self.equity = _downsample(self.equity, self.equity_kept)

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

    def round_trip_rows(self, start: int = 0, end: int | None = None
                        ) -> list[dict[str, Any]]:
        """The kept round trips ``[start:end]``: the closed ones, then the open ones (only
        the slice is priced: a page costs its own rows, not the whole run's)."""
        book = self.om.trips
        trips = list(book.closed) + sorted(book.open.values(), key=lambda t: t.entry_ts)
        frame = round_trips_frame(self.portfolio, trips[start:end], self.decisions)
        return [{k: decimal_text(v) if isinstance(v, Decimal) else v for k, v in row.items()}
                for row in frame.iter_rows(named=True)]

    def kept_round_trips(self) -> int:
        """Round trips in memory (the positions :meth:`round_trip_rows` slices)."""
        return len(self.om.trips.closed) + len(self.om.trips.open)

    def round_trip_count(self) -> int:
        """Round trips in all: the closed ones (a paper or live view keeps the newest),
        then the open ones."""
        return self.om.trips.closed_count + len(self.om.trips.open)

    def equity_rows(self, points: int) -> list[dict[str, Any]]:
        """The curve with its drawdown (``1 - equity / peak``), at most ``points`` samples
        (the deepest point of each stretch kept, so the max drawdown survives)."""
        money = self.encoder.money
        return [{"ts": ts, "equity": money(value), "drawdown": fixed_text(depth,
                                                                           DRAWDOWN_SCALE)}
                for ts, value, depth in _downsample(self.equity, points)]

    def summary(self) -> dict[str, Any]:
        """Equity, PnL, trading state and gross exposure at the last marks."""
        pf, money = self.portfolio, self.encoder.money
        equity = self.equity[-1][1] if self.equity else pf.balance
        exposure = sum(pos.money(abs(pos.qty) * pf.marks[iid])
                       for iid, pos in pf.positions.items() if pos.qty and iid in pf.marks)
        return {"equity": money(equity), "pnl": money(equity - pf.starting_balance),
                "trading_state": self.trading_state, "exposure": money(exposure)}


def fill_row(encoder: RecordEncoder, seq: int, fill: OrderFilled) -> dict[str, Any]:
    """A fill as the API lists it (from the journal: a view keeps no fills)."""
    grid = encoder.grids[fill.instrument_id]
    return {"seq": seq, "ts": fill.ts_event, "client_order_id": fill.client_order_id,
            "instrument_id": fill.instrument_id,
            "symbol": encoder.instruments[fill.instrument_id].symbol, "side": fill.side.value,
            "quantity": grid.size(fill.last_qty), "price": grid.price(fill.last_px),
            "fee": encoder.money(fill.fee), "liquidity": fill.liquidity,
            "trade_id": fill.trade_id, "venue_order_id": fill.venue_order_id,
            "strategy_id": fill.strategy_id}


def _quotient(numerator: int, denominator: int, precision: int) -> str:
    """``numerator / denominator * 10**-precision`` rounded half-even at AVG_SCALE."""
    raw = round_raw(numerator * 10 ** max(AVG_SCALE - precision, 0), denominator)
    return fixed_text(raw, max(AVG_SCALE, precision))


def _downsample(rows: list[EquityPoint], points: int) -> list[EquityPoint]:
    if len(rows) <= points:
        return rows
    picked: list[EquityPoint] = []
    step = len(rows) / points
    for k in range(points):
        part = rows[int(k * step):int((k + 1) * step)] or rows[-1:]
        deepest = max(part, key=lambda r: r[2])
        picked.append(deepest if k < points - 1 else rows[-1])
    return picked
