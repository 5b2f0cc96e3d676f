"""The pre-trade risk engine: every order command passes it on its way to a venue.

:class:`~heron.node.node.SimNode.send` (the one road from strategies to every venue,
in backtest, paper and live alike) asks :meth:`PreTradeEngine.check_submit`,
:meth:`check_amend` or :meth:`check_cancel` before routing a command. The answer is
``None`` (send it), a :class:`Denial` (the node journals an ``OrderDenied`` with the
rule and the numbers; nothing raises) or, for self-trade prevention, a
:class:`SelfTradePlan` (cancels/amends of the strategy's own resting orders to send
first, and the new order, possibly reduced).

Speed: limits are turned into integers once per run (lots, ticks, money units at the
portfolio's precision, bps as integer ratios) in :class:`_Compiled`; the checks
compare integers and touch no ``Decimal`` unless they deny. Working orders and held
positions are indexed from the records the node applies (:meth:`observe`), so a check
never scans every open order, and the gross/net exposure is kept by the portfolio's
marks as they move (:class:`~heron.risk.exposure.ExposureMarks`), so it never sums
every position either.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import NamedTuple

import msgspec

from heron.execution.order_manager import OrderManager
from heron.model.events import AmendOrder, CancelOrder, OrderFilled, Record, SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import Order, OrderSide, OrderStatus
from heron.model.portfolio import Portfolio
from heron.risk import rules
from heron.risk.exposure import ExposureMarks
from heron.risk.limits import RiskLimits
from heron.risk.self_trade import WorkingOrders, crossing, decrement_plan

_BUY = OrderSide.BUY
_SUBMITTED = OrderStatus.SUBMITTED


class Denial(NamedTuple):
    """Why an order command may not go: ``reason`` starts with ``rule``."""

    rule: str
    reason: str


class SelfTradePlan(NamedTuple):
    """Self-trade prevention's answer: send ``before`` (cancels/amends of the strategy's
    own resting orders, unchecked), then ``cmd`` (the new order, maybe reduced), or deny
    it with ``denial`` when decrement-both left nothing of it."""

    before: list[Record]
    cmd: SubmitOrder
    denial: Denial | None = None


class _Compiled:
    """One instrument's limits as integers of its own grid and of the money precision."""

    __slots__ = ("allowed", "band_den", "band_num", "inst", "max_lots", "max_notional",
                 "max_pos", "min_lots", "min_notional", "money", "pos", "um")

    def __init__(self, inst: Instrument, limits: RiskLimits, portfolio: Portfolio) -> None:
        own = limits.for_instrument(inst.id, inst.symbol)
        pos = portfolio.positions[inst.id]
        self.inst = inst
        self.pos = pos
        self.um = inst.unit_raw * pos.money_scale  # money units per tick x lot
        scale = 10 ** portfolio.money_precision
        self.money = rules.Money(portfolio.money_precision, inst.quote_currency)
        self.allowed = limits.whitelist is None or any(
            ref in (inst.id, inst.symbol) for ref in limits.whitelist)
        self.min_lots = _ceil(inst.min_quantity / inst.size_increment)
        self.min_notional = _ceil(inst.min_notional * scale)
        self.max_lots = _floor_or_none(own.max_order_quantity, inst.size_increment)
        self.max_pos = _floor_or_none(own.max_position, inst.size_increment)
        self.max_notional = _floor_or_none(own.max_order_notional, Decimal(1) / scale)
        self.band_num, self.band_den = (0, 0) if own.price_band_bps is None else \
            own.price_band_bps.as_integer_ratio()


class PreTradeEngine:
    """Checks order commands against a run's :class:`RiskLimits`; counts denials."""

    def __init__(self, limits: RiskLimits, *, portfolio: Portfolio, om: OrderManager,
                 now: Callable[[], int]) -> None:
        self.limits = limits
        self.portfolio = portfolio
        self.now = now
        self.denials_by_rule: dict[str, int] = {}
        self._by_id = {inst.id: _Compiled(inst, limits, portfolio)
                       for inst in portfolio.instruments.values()}
        first = next(iter(portfolio.instruments.values()), None)
        self.money = rules.Money(portfolio.money_precision,
                                 first.quote_currency if first else "")
        scale = Decimal(1).scaleb(-portfolio.money_precision)
        self.max_gross = _floor_or_none(limits.max_gross_exposure, scale)
        self.max_net = _floor_or_none(limits.max_net_exposure, scale)
        self.lev_num, self.lev_den = (0, 0) if limits.max_leverage is None else \
            limits.max_leverage.as_integer_ratio()
        self.order_rate = None if limits.order_rate is None else rules.RateWindow(
            limits.order_rate.count, limits.order_rate.window_ns, "orders")
        self.cancel_rate = None if limits.cancel_rate is None else rules.RateWindow(
            limits.cancel_rate.count, limits.cancel_rate.window_ns, "cancels")
        self.stp = limits.self_trade
        self.exposure = (self.max_gross is not None or self.max_net is not None
                         or limits.max_leverage is not None)
        self.positions = self.exposure or any(c.max_pos is not None
                                              for c in self._by_id.values())
        #: does the engine need :meth:`observe` for every order event?
        self.watching = self.positions or self.stp != "off"
        self.working = WorkingOrders(om.orders)
        if self.exposure:  # the portfolio's marks keep the exposure sums as they move
            portfolio.marks = ExposureMarks(portfolio.marks)
        self._marks = portfolio.marks
        self._perp_cost = 0  # sum over held perpetuals of sign * entry cost, money units
        self._costs: dict[str, int] = {}
        for order in [*om.orders.values()]:
            self.working.sync(order)
        for iid in self._by_id:
            self._held_changed(iid)

    # -- bookkeeping -------------------------------------------------------------------------
    def observe(self, order: Order, record: Record) -> None:
        """An order event was applied: keep working orders and held positions in step."""
        self.working.sync(order)
        if type(record) is OrderFilled:
            self._held_changed(order.instrument_id)

    def _held_changed(self, iid: str) -> None:
        c = self._by_id.get(iid)
        if c is None:
            return
        self._perp_cost -= self._costs.pop(iid, 0)
        qty = c.pos.qty
        if qty and c.inst.is_perpetual:
            cost = (1 if qty > 0 else -1) * c.pos.entry_cost * c.um
            self._costs[iid] = cost
            self._perp_cost += cost
        marks = self._marks
        if type(marks) is ExposureMarks:
            marks.hold(iid, qty * c.um)

    def _exposures(self) -> tuple[int, int]:
        """``(gross, net)`` of the held positions at their last marks, money units (kept
        by :class:`ExposureMarks` as marks move when a limit needs them)."""
        marks = self._marks
        if type(marks) is ExposureMarks:
            return marks.exposures()
        long = short = 0  # no exposure limit: only equity-fraction sizing asks, rarely
        for iid, c in self._by_id.items():
            mark = marks.get(iid)
            if c.pos.qty and mark is not None:
                value = c.pos.qty * c.um * mark
                long, short = (long + value, short) if value > 0 else (long, short - value)
        return long + short, long - short

    def count(self, rule: str) -> None:
        """Count one denial under ``rule`` (the node calls it for every ``OrderDenied``)."""
        self.denials_by_rule[rule] = self.denials_by_rule.get(rule, 0) + 1

    # -- checks ------------------------------------------------------------------------------
    def check_submit(self, cmd: SubmitOrder) -> Denial | SelfTradePlan | None:
        """``None`` when ``cmd`` may go as it is."""
        c = self._by_id.get(cmd.instrument_id)
        if c is None:
            return None  # not an instrument of this run: the venue refuses it by name
        if not c.allowed:
            return _deny("whitelist", rules.whitelist(False, cmd.instrument_id))
        lots = cmd.quantity
        ref = cmd.price or cmd.trigger_price or self._marks.get(cmd.instrument_id)
        if cmd.equity_fraction is not None:
            lots = self._fraction_lots(cmd.equity_fraction, ref, c)
        elif lots > 0:  # zero or negative lots: the venue refuses the shape, by name
            denial = self._validity(lots, ref, c)
            if denial is not None:
                return denial
        denial = self._order_limits(lots, ref, cmd.price or cmd.trigger_price, c)
        if denial is None and self.positions and not cmd.reduce_only:
            denial = self._position_limits(cmd, lots, ref, c)
        if denial is not None:
            return denial
        return self._self_trade_and_rate(cmd)

    def _self_trade_and_rate(self, cmd: SubmitOrder) -> Denial | SelfTradePlan | None:
        """The last checks: self-trade prevention, then the order rate (which counts the
        order only when everything else let it through)."""
        plan: SelfTradePlan | None = None
        if self.stp != "off":
            answer = self._self_trade(cmd)
            if type(answer) is Denial:
                return answer
            plan = answer  # type: ignore[assignment]
        if self.order_rate is not None:
            why = self.order_rate.admit(self.now())
            if why is not None:
                return _deny("order_rate", why)
        return plan

    def _validity(self, lots: int, ref: int | None, c: _Compiled) -> Denial | None:
        if lots < c.min_lots:
            return _deny("min_quantity", rules.min_quantity(lots, c.min_lots, c.inst))
        if c.min_notional and ref is not None:
            why = rules.min_notional(lots * ref * c.um, c.min_notional, c.money, c.inst)
            if why is not None:
                return _deny("min_notional", why)
        return None

    def _order_limits(self, lots: int, ref: int | None, priced: int | None,
                      c: _Compiled) -> Denial | None:
        if c.max_lots is not None and lots > c.max_lots:
            return _deny("max_order_quantity", rules.max_order_quantity(lots, c.max_lots, c.inst))
        if c.max_notional is not None and ref is not None:
            why = rules.max_order_notional(lots * ref * c.um, c.max_notional, c.money)
            if why is not None:
                return _deny("max_order_notional", why)
        if c.band_den and priced is not None:
            mark = self._marks.get(c.inst.id)
            if mark:
                why = rules.price_band(priced, mark, c.band_num, c.band_den, c.inst)
                if why is not None:
                    return _deny("price_band", why)
        return None

    def _position_limits(self, cmd: SubmitOrder, lots: int, ref: int | None,
                         c: _Compiled) -> Denial | None:
        """Limits on what the account holds after the order fills; an order that leaves
        the account no riskier than now passes even above a limit (so a run can always
        get back under one)."""
        is_buy = cmd.side is _BUY
        signed = lots if is_buy else -lots
        now = c.pos.qty
        if c.max_pos is not None:
            pending = self.working.pending(cmd.instrument_id, is_buy)
            pending = pending if is_buy else -pending
            after = now + pending + signed
            if abs(after) > abs(now):
                why = rules.max_position(after, now, pending, c.max_pos, c.inst)
                if why is not None:
                    return _deny("max_position", why)
        if self.exposure and ref is not None:
            return self._exposure_limits(cmd.instrument_id, now, now + signed, ref, c)
        return None

    def _exposure_limits(self, iid: str, before: int, after: int, ref: int,
                         c: _Compiled) -> Denial | None:
        gross, net = self._exposures()
        mark = self._marks.get(iid) or ref
        old = before * mark * c.um
        new = after * mark * c.um
        gross_after = gross - abs(old) + abs(new)
        net_after = net - old + new
        if self.max_gross is not None and gross_after > gross:
            why = rules.max_gross_exposure(gross_after, self.max_gross, self.money)
            if why is not None:
                return _deny("max_gross_exposure", why)
        if self.max_net is not None and abs(net_after) > abs(net):
            why = rules.max_net_exposure(net_after, self.max_net, self.money)
            if why is not None:
                return _deny("max_net_exposure", why)
        if self.lev_den and gross_after > gross:
            equity = self.portfolio.balance + net - self._perp_cost
            why = rules.max_leverage(gross_after, equity, self.lev_num, self.lev_den,
                                     self.money)
            if why is not None:
                return _deny("max_leverage", why)
        return None

    def _fraction_lots(self, fraction: str, ref: int | None, c: _Compiled) -> int:
        """The most lots an equity-fraction order can buy (it is sized at its fill): the
        fraction of equity at the reference price, so limits apply to it too."""
        if not ref:
            return 0
        num, den = _ratio(fraction)
        equity = self.portfolio.balance + self._exposures()[1] - self._perp_cost
        return max(equity * num // (den * ref * c.um), 0)

    def _self_trade(self, cmd: SubmitOrder) -> Denial | SelfTradePlan | None:
        hits = list(crossing(self.working, cmd))
        if not hits:
            return None
        first = hits[0]
        inst = self._by_id[cmd.instrument_id].inst
        if self.stp == "cancel-new":
            px = "market" if cmd.price is None else rules.price(inst, cmd.price)
            return _deny("self_trade", (
                f"{cmd.side.value} at {px} would trade with own resting "
                f"{first.side.value} {first.client_order_id} at "
                f"{rules.price(inst, first.price or 0)} (cancel-new)"))
        now = self.now()
        if self.stp == "cancel-resting":
            return SelfTradePlan([CancelOrder(now, now, o.client_order_id, o.strategy_id,
                                              o.instrument_id) for o in hits], cmd)
        plan, left = decrement_plan(hits, cmd.quantity)
        before: list[Record] = [
            CancelOrder(now, now, o.client_order_id, o.strategy_id, o.instrument_id) if not keep
            else AmendOrder(now, now, o.client_order_id, o.strategy_id, o.instrument_id,
                            o.filled + keep) for o, keep in plan]
        if not left:
            return SelfTradePlan(before, cmd, _deny("self_trade", (
                f"{cmd.side.value} {rules.units(inst, cmd.quantity)} fully offsets own resting "
                f"orders {', '.join(o.client_order_id for o, _ in plan)} (decrement-both: "
                "they were reduced instead)")))
        return SelfTradePlan(before, msgspec.structs.replace(cmd, quantity=left))

    def check_amend(self, cmd: AmendOrder) -> Denial | None:
        """An amend that makes an order bigger or moves its price passes the order
        limits again; one that makes it bigger, the position and exposure limits (with
        only the increase counted)."""
        order = self.working.orders.get(cmd.client_order_id)
        c = self._by_id.get(cmd.instrument_id)
        if order is None or c is None or not (order.status is _SUBMITTED or order.is_open):
            return None  # the node refuses an amend of an order that is not working
        lots = order.quantity if cmd.quantity is None else cmd.quantity
        priced = cmd.price or cmd.trigger_price
        ref = priced or order.price or order.trigger_price or self._marks.get(order.instrument_id)
        denial = self._order_limits(lots, ref, priced, c)
        grow = lots - order.quantity
        if denial is None and grow > 0 and not order.reduce_only:
            denial = self._growth_limits(order, grow, ref, c)
        if denial is None and self.order_rate is not None:
            why = self.order_rate.admit(self.now())
            if why is not None:
                denial = _deny("order_rate", why)
        return denial

    def _growth_limits(self, order: Order, grow: int, ref: int | None,
                       c: _Compiled) -> Denial | None:
        """An amend adding ``grow`` lots to a working order: the position limit counts
        the order's other working lots too; the exposure limits count the increase as
        if it filled now, as a new order of that size would be."""
        is_buy = order.side is _BUY
        signed = 1 if is_buy else -1
        now = c.pos.qty
        if c.max_pos is not None:
            pending = self.working.pending(order.instrument_id, is_buy)
            after = now + signed * (pending + grow)
            if abs(after) > abs(now):
                why = rules.max_position(after, now, signed * pending, c.max_pos, c.inst)
                if why is not None:
                    return _deny("max_position", why)
        if self.exposure and ref is not None:
            return self._exposure_limits(order.instrument_id, now, now + signed * grow, ref, c)
        return None

    def check_cancel(self, cmd: CancelOrder) -> Denial | None:
        if self.cancel_rate is None:
            return None
        why = self.cancel_rate.admit(self.now())
        return None if why is None else _deny("cancel_rate", why)


def _deny(rule: str, text: str | None) -> Denial:
    return Denial(rule, f"{rule}: {text}")


def _ceil(value: Decimal) -> int:
    return -int((-value).to_integral_value(rounding="ROUND_FLOOR"))


def _floor_or_none(limit: Decimal | None, step: Decimal) -> int | None:
    """``limit`` in whole ``step`` units, rounded down: ``x > floor(L)`` iff ``x > L``
    for an integer ``x``, so the integer check is exact."""
    if limit is None:
        return None
    return int((limit / step).to_integral_value(rounding="ROUND_FLOOR"))


@functools.lru_cache(maxsize=64)
def _ratio(fraction: str) -> tuple[int, int]:
    return Decimal(fraction).as_integer_ratio()


__all__ = ["Denial", "PreTradeEngine", "SelfTradePlan"]
