"""Reconciliation: bring heron's journal state to the venue's, and report what is left.

The venue is the source of truth. At start and periodically the live node reads an
:class:`~heron.model.account.AccountSnapshot` (:func:`snapshot`), fetches the final state
of the orders heron thinks open but the venue no longer lists (:func:`fetch_missing`),
and calls :func:`reconcile`. Where the venue's history explains a difference, the pass
returns the journal records that heron missed while it was down or disconnected:

* a venue fill whose ``(instrument, trade_id)`` heron never booked -> ``OrderFilled``
  (for an order heron does not know, adopted under :data:`VENUE_ORIGIN`);
* a venue open order heron does not know -> adopted: ``SubmitOrder`` tagged
  :data:`ADOPTED` + ``OrderSubmitted`` + ``OrderAccepted`` (journal and apply, never send);
* a heron order the venue answered while heron was away -> ``OrderAccepted`` /
  ``OrderRejected``, an amend -> ``OrderUpdated``, a lost cancel/amend request ->
  ``OrderCancelRejected`` / ``OrderUpdateRejected``, a close -> ``OrderCanceled`` /
  ``OrderExpired`` (after its fills);
* the venue's wallet balance -> ``AccountState``.

Every record is applied, as it is planned, to a scratch copy of the order manager
through the order manager's own code, so the plan is known to apply cleanly and what
is left to compare is the real outcome, not an estimate. What still differs is a
:class:`~heron.execution.reconcile_report.Mismatch`.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable, Mapping, Sequence

from heron.errors import EngineError, InvalidStateTransition
from heron.execution.order_manager import OrderManager
from heron.execution.port import VenueClient
from heron.execution.reconcile_report import (
    ADOPTED,
    Mismatch,
    MismatchKind,
    ReconcileReport,
    money_raw,
)
from heron.model.account import AccountSnapshot, VenueFill, VenueOrder, VenueOrderStatus
from heron.model.events import (
    AccountState,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
    OrderUpdateRejected,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument
from heron.model.orders import VENUE_ORIGIN, Order, OrderStatus

_CLOSES: dict[VenueOrderStatus, Callable[[int, str, str], Record]] = {
    VenueOrderStatus.CANCELED: lambda ts, cid, iid: OrderCanceled(
        ts, ts, cid, iid, "canceled at the venue (reconciliation)"),
    VenueOrderStatus.EXPIRED: lambda ts, cid, iid: OrderExpired(ts, ts, cid, iid),
}


class _Venue:
    """The venue's orders and fills on heron's instruments, and who they belong to."""

    def __init__(self, om: OrderManager, snap: AccountSnapshot, closed: Iterable[VenueOrder],
                 client_ids: Mapping[str, str]) -> None:
        known = om.portfolio.instruments
        self.snap = snap
        self.open = [o for o in snap.open_orders if o.instrument_id in known]
        self.orders = {o.venue_order_id: o for o in closed if o.instrument_id in known}
        self.orders.update({o.venue_order_id: o for o in self.open})
        self.fills = sorted((f for f in snap.fills if f.instrument_id in known),
                            key=lambda f: f.ts)
        self._heron = om.orders
        self._new: set[str] = set()   # ids adopted in this pass (heron's orders untouched)
        self._client_ids = client_ids
        self._by_venue_id = {o.venue_order_id: cid for cid, o in om.orders.items()
                             if o.venue_order_id}

    def heron_id(self, venue_order_id: str, client_id: str) -> str | None:
        """heron's client id of a venue order, or ``None`` when heron does not know it."""
        for cid in (self._by_venue_id.get(venue_order_id), self._client_ids.get(client_id),
                    client_id, adopted_id(venue_order_id, "")):
            if cid and (cid in self._heron or cid in self._new):
                return cid
        return None

    def learn(self, venue_order_id: str, cid: str) -> None:
        self._by_venue_id[venue_order_id] = cid
        self._new.add(cid)

    def order_of(self, cid: str, order: Order) -> VenueOrder | None:
        """The venue's view of heron order ``cid`` (open, or fetched by the caller)."""
        if order.venue_order_id in self.orders:
            return self.orders[order.venue_order_id]
        return next((vo for vo in self.orders.values()
                     if self.heron_id(vo.venue_order_id, vo.client_order_id) == cid), None)


#: client-id prefix of an adopted order the venue gave no client id
NO_CLIENT_ID = "venue-"


def adopted_id(venue_order_id: str, client_id: str) -> str:
    """heron's client id for an order it adopts: the venue's client id when it has one."""
    return client_id or f"{NO_CLIENT_ID}{venue_order_id}"


def _scratch(om: OrderManager) -> OrderManager:
    """A copy of ``om`` to dry-run records on: its portfolio, and its unfinished orders
    (closed ones never receive a reconciliation record, so they are not copied)."""
    scratch = OrderManager(copy.deepcopy(om.portfolio))
    for cid, order in om.orders.items():
        if not order.is_closed:
            scratch.orders[cid] = copy.copy(order)
    scratch.open_orders = {cid: scratch.orders[cid] for cid in om.open_orders}
    return scratch


class _Planner:
    """Builds the catch-up records, applying each to the scratch order manager."""

    def __init__(self, om: OrderManager, venue: _Venue, ts: int) -> None:
        self.om = om
        self.venue = venue
        self.ts = ts
        self.scratch = _scratch(om)
        self.records: list[Record] = []
        self.mismatches: list[Mismatch] = []

    def emit(self, record: Record) -> None:
        self.scratch.apply(record)
        self.records.append(record)

    # -- 1. venue open orders heron does not know ---------------------------------------------
    def adopt_open(self) -> None:
        for vo in self.venue.open:
            if self.venue.heron_id(vo.venue_order_id, vo.client_order_id) is not None:
                continue
            cid = adopted_id(vo.venue_order_id, vo.client_order_id)
            ts = vo.ts or self.ts
            self.emit(SubmitOrder(
                ts, self.ts, cid, VENUE_ORIGIN, vo.instrument_id, vo.side, vo.order_type,
                vo.quantity, vo.price, vo.trigger_price, vo.time_in_force, vo.post_only,
                vo.reduce_only, tag=ADOPTED))
            self.emit(OrderSubmitted(ts, self.ts, cid, vo.instrument_id))
            self.emit(OrderAccepted(ts, self.ts, cid, vo.instrument_id, vo.venue_order_id))
            self.venue.learn(vo.venue_order_id, cid)

    # -- 2. heron's unfinished orders: what the venue answered while heron was away ----------
    def sync_orders(self) -> None:
        for cid, order in list(self.scratch.orders.items()):
            vo = self.venue.order_of(cid, order)
            if vo is not None:
                self._sync(cid, order, vo)

    def _sync(self, cid: str, order: Order, vo: VenueOrder) -> None:
        ts, iid = vo.ts or self.ts, order.instrument_id
        if order.status is OrderStatus.INITIALIZED:
            self.emit(OrderSubmitted(ts, self.ts, cid, iid))
        if order.status is OrderStatus.SUBMITTED:
            if vo.status is VenueOrderStatus.REJECTED:
                self.emit(OrderRejected(ts, self.ts, cid, iid, vo.reason or "rejected"))
                return
            self.emit(OrderAccepted(ts, self.ts, cid, iid, vo.venue_order_id))
        changed = (vo.quantity, vo.price, vo.trigger_price) != \
            (order.quantity, order.price, order.trigger_price)
        if vo.status.is_open and order.status is OrderStatus.PENDING_CANCEL:
            self.emit(OrderCancelRejected(ts, self.ts, cid, iid,
                                          "the venue still has it open (reconciliation)"))
        if order.status is OrderStatus.PENDING_UPDATE and vo.status.is_open and not changed:
            self.emit(OrderUpdateRejected(ts, self.ts, cid, iid,
                                          "the venue kept it unchanged (reconciliation)"))
        if changed and order.status in (OrderStatus.ACCEPTED, OrderStatus.TRIGGERED,
                                        OrderStatus.PARTIALLY_FILLED,
                                        OrderStatus.PENDING_UPDATE):
            self.emit(OrderUpdated(ts, self.ts, cid, iid, vo.quantity, vo.price,
                                   vo.trigger_price))

    # -- 3. fills heron never booked, oldest first ---------------------------------------------
    def fills(self, fee_currency: str) -> None:
        seen = self.om.trade_ids
        fresh = [f for f in self.venue.fills if (f.instrument_id, f.trade_id) not in seen]
        totals: dict[str, int] = {}
        for f in fresh:
            totals[f.venue_order_id] = totals.get(f.venue_order_id, 0) + f.quantity
        for f in fresh:
            if (f.instrument_id, f.trade_id) not in self.scratch.trade_ids:
                self._fill(f, totals[f.venue_order_id], fee_currency)

    def _fill(self, f: VenueFill, total: int, fee_currency: str) -> None:
        known = self.venue.heron_id(f.venue_order_id, f.client_order_id)
        order = self.scratch.orders.get(known) if known is not None else None
        if known is not None and (order is None or order.is_closed):
            self.mismatches.append(Mismatch(
                kind=MismatchKind.FILL, instrument_id=f.instrument_id,
                heron=f"order {known} is {_status(self.om, self.scratch, known)}",
                venue=f"fill {f.trade_id}: {f.side.value} {f.quantity} lots @ {f.price} ticks",
                evidence={"fill": f.raw}))
            return
        vo = self.venue.orders.get(f.venue_order_id)
        if order is None:
            cid = adopted_id(f.venue_order_id, f.client_order_id)
            size, strategy, filled = (vo.quantity if vo else total), VENUE_ORIGIN, 0
        else:
            cid = order.client_order_id
            size = vo.quantity if vo else order.quantity
            strategy, filled = order.strategy_id, order.filled
            if order.status is OrderStatus.INITIALIZED:
                self.emit(OrderSubmitted(f.ts, self.ts, order.client_order_id,
                                         order.instrument_id))
        fee = money_raw(f.fee, self.scratch.portfolio.money_precision) \
            if f.fee_currency == fee_currency else 0
        self.emit(OrderFilled(
            ts_event=f.ts, ts_init=self.ts, client_order_id=cid,
            instrument_id=f.instrument_id, venue_order_id=f.venue_order_id,
            trade_id=f.trade_id, strategy_id=strategy, side=f.side, last_qty=f.quantity,
            last_px=f.price, fee=fee, liquidity=f.liquidity,
            order_qty=max(size, filled + f.quantity)))
        self.venue.learn(f.venue_order_id, cid)

    # -- 4. orders the venue closed --------------------------------------------------------
    def finish(self) -> None:
        for cid, order in list(self.scratch.orders.items()):
            vo = self.venue.order_of(cid, order)
            if vo is None or order.is_closed or vo.status.is_open:
                continue
            close = _CLOSES.get(vo.status)
            if vo.filled != order.filled:
                self.mismatches.append(_order_mismatch(
                    order, vo, f"venue {vo.status.value}, filled {vo.filled} lots; fills "
                               f"missing from the venue's history"))
            elif close is None:
                self.mismatches.append(_order_mismatch(
                    order, vo, f"venue {vo.status.value}, filled {vo.filled} lots"))
            if close is not None:
                self.emit(close(vo.ts or self.ts, cid, order.instrument_id))

    # -- 5. the wallet --------------------------------------------------------------------
    def balance(self, currency: str) -> None:
        pf = self.scratch.portfolio
        bal = self.venue.snap.balance(currency)
        if bal is None:
            self.mismatches.append(Mismatch(
                kind=MismatchKind.BALANCE, instrument_id="",
                heron=f"{pf.money(pf.balance)} {currency}",
                venue=f"no {currency} balance reported",
                evidence={"balances": [b.raw for b in self.venue.snap.balances]}))
            return
        total = money_raw(bal.total, pf.money_precision)
        if total == pf.balance:
            return
        self.mismatches.append(Mismatch(
            kind=MismatchKind.BALANCE, instrument_id="",
            heron=f"{pf.money(pf.balance)} {currency}",
            venue=f"{bal.total} {currency} (adopted: the journal does not explain "
                  f"{pf.money(total - pf.balance)})", evidence={"balance": bal.raw}))
        self.emit(AccountState(bal.ts or self.ts, self.ts, self.venue.snap.venue, currency,
                               total, money_raw(bal.free, pf.money_precision),
                               "reconciliation"))

    # -- 6. what is left ---------------------------------------------------------------------
    def compare(self) -> None:
        """Positions and open orders of the scratch state against the venue's."""
        snap, pf = self.venue.snap, self.scratch.portfolio
        for iid, pos in pf.positions.items():
            venue_pos = [p for p in snap.positions if p.instrument_id == iid]
            held = snap.position(iid)
            if (pos.instrument.is_perpetual or venue_pos) and held != pos.qty:
                self.mismatches.append(Mismatch(
                    kind=MismatchKind.POSITION, instrument_id=iid, heron=f"{pos.qty} lots",
                    venue=f"{held} lots", delta=held - pos.qty,
                    evidence={"positions": [p.raw for p in venue_pos]}))
        at_venue: set[str] = set()
        for vo in self.venue.open:
            cid = self.venue.heron_id(vo.venue_order_id, vo.client_order_id) or ""
            at_venue.add(cid)
            order = self.scratch.orders.get(cid)
            if order is None or not order.is_open:
                self.mismatches.append(_order_mismatch(
                    None, vo, f"{cid or 'unknown'} is "
                              f"{_status(self.om, self.scratch, cid)} in heron"))
            elif _fields(order) != _fields(vo):
                self.mismatches.append(_order_mismatch(order, vo, "fields differ"))
        for cid, order in self.scratch.orders.items():
            if not order.is_closed and cid not in at_venue:
                seen = self.venue.order_of(cid, order)
                if seen is None or seen.status.is_open:  # closed ones: handled in finish
                    self.mismatches.append(_order_mismatch(
                        order, seen, "heron has it unfinished; the venue has no open order"))

    def orphans(self) -> list[tuple[str, str]]:
        return [(cid, o.instrument_id) for cid, o in self.scratch.open_orders.items()
                if o.tag == ADOPTED]


def _fields(order: Order | VenueOrder) -> tuple[object, ...]:
    return order.side, order.leaves, order.price, order.trigger_price


def _status(om: OrderManager, scratch: OrderManager, cid: str) -> str:
    order = scratch.orders.get(cid) or om.orders.get(cid)
    return order.status.value if order is not None else "unknown"


def _order_mismatch(order: Order | None, vo: VenueOrder | None, why: str) -> Mismatch:
    """An order difference: heron's fields, the venue's, and the venue's raw reply."""
    heron = "none" if order is None else (
        f"{order.client_order_id} {order.status.value} {order.side.value} "
        f"leaves {order.leaves} @ {order.price}")
    venue = "none" if vo is None else (
        f"{vo.venue_order_id} {vo.status.value} {vo.side.value} leaves {vo.leaves} "
        f"@ {vo.price}")
    iid = order.instrument_id if order is not None else vo.instrument_id if vo else ""
    return Mismatch(kind=MismatchKind.ORDER, instrument_id=iid, heron=heron,
                    venue=f"{venue} ({why})", evidence={"order": vo.raw if vo else None})


def reconcile(om: OrderManager, snap: AccountSnapshot, *, currency: str, ts: int,
              client_ids: Mapping[str, str] | None = None,
              closed: Iterable[VenueOrder] = ()) -> ReconcileReport:
    """Catch heron up with ``snap`` and report what is left (see the module docstring).

    ``om`` is not changed: journal the report's records and apply them (they already
    happened at the venue; none is to be sent). ``client_ids`` maps venue-format client
    ids to heron's (:func:`client_id_map`); ``closed`` holds the venue's final state of
    heron orders it no longer lists as open (:func:`fetch_missing`); ``currency`` is the
    account currency (balances and fees in it are booked, other fee currencies are not).
    """
    venue = _Venue(om, snap, closed, client_ids or {})
    plan = _Planner(om, venue, ts)
    try:
        plan.adopt_open()
        plan.sync_orders()
        plan.fills(currency)
        plan.finish()
        plan.balance(currency)
    except InvalidStateTransition as exc:  # a planning bug, never a venue condition
        raise EngineError(f"reconciliation planned a record heron cannot apply: {exc}"
                          ) from exc
    plan.compare()
    return ReconcileReport(
        venue=snap.venue, ts=ts, records=plan.records, mismatches=plan.mismatches,
        snapshot=snap, instruments=dict(om.portfolio.instruments), orphans=plan.orphans())


def client_id_map(om: OrderManager, venue_client_id: Callable[[str], str]
                  ) -> dict[str, str]:
    """venue-format client id -> heron's, for heron's unfinished orders."""
    return {venue_client_id(cid): cid for cid, o in om.orders.items() if not o.is_closed}


async def snapshot(client: VenueClient, instruments: Sequence[Instrument],
                   since_ns: int | None, *, ts: int) -> AccountSnapshot:
    """Read the account through the port: open orders, positions, balances, and the
    fills on each instrument since ``since_ns`` (the last fill heron journaled)."""
    ids = {i.id for i in instruments}
    orders, positions, balances = await asyncio.gather(
        client.open_orders(None), client.positions(), client.balances())
    per_instrument = await asyncio.gather(*(client.fills(i, since_ns) for i in instruments))
    fills = sorted((f for batch in per_instrument for f in batch), key=lambda f: f.ts)
    return AccountSnapshot(
        venue=client.venue, ts=ts, open_orders=[o for o in orders if o.instrument_id in ids],
        positions=[p for p in positions if p.instrument_id in ids], balances=list(balances),
        fills=fills)


async def fetch_missing(client: VenueClient, om: OrderManager, snap: AccountSnapshot
                        ) -> list[VenueOrder]:
    """The venue's state of heron's unfinished orders that ``snap`` does not list open
    (filled, canceled or never placed while heron was away); pass it as ``closed``."""
    listed = {o.venue_order_id for o in snap.open_orders} | \
        {o.client_order_id for o in snap.open_orders}
    found: list[VenueOrder] = []
    for cid, order in om.orders.items():
        vcid = _venue_client_id(client, cid, order)
        inst = client.instruments.get(order.instrument_id)
        if order.is_closed or inst is None or order.venue_order_id in listed or vcid in listed:
            continue
        vo = await client.fetch_order(inst, venue_order_id=order.venue_order_id,
                                      client_id=vcid)
        if vo is not None:
            found.append(vo)
    return found


def _venue_client_id(client: VenueClient, cid: str, order: Order) -> str:
    """The venue-format client id of an order (an adopted one keeps the venue's own)."""
    if order.strategy_id != VENUE_ORIGIN:
        return client.venue_client_id(cid)
    return "" if cid.startswith(NO_CLIENT_ID) else cid
