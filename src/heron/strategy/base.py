"""The strategy seam: lifecycle hooks, keyword-only order calls, typed parameters.

A strategy is written once and runs unchanged in backtest, paper and live. It sees
market data, its portfolio and its orders; it acts only through the order calls below,
which build commands and hand them to the node (risk, execution, venue). Answers come
back as ``on_order``/``on_fill`` calls, never as return values to poll. A bad order
(off the price grid, no size) is answered with an ``OrderDenied`` event, never an
exception inside the loop.

A bar strategy whose rules are signals may also declare a ``vector_signals`` classmethod
(:mod:`heron.research.signals`): sweeps, ``heron optimize`` and walk-forward then run it on
the vectorised path, which gives the same trades as these hooks (tested per strategy).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from heron.execution.router import Plan, Target
from heron.model.data import Bar, Quote, Trade
from heron.model.events import (
    AmendOrder,
    CancelAllOrders,
    CancelOrder,
    OrderEvent,
    OrderFilled,
    SubmitOrder,
)
from heron.model.fixed import FixedPoint, to_decimal
from heron.model.instrument import Instrument, OffGrid
from heron.model.orders import Order, OrderSide, OrderType, TimeInForce
from heron.model.position import Position
from heron.strategy.context import StrategyContext
from heron.strategy.indicators import IndicatorView
from heron.strategy.params import Param, collect_params, resolve_params

Size = Decimal | str | int | FixedPoint


#: the environment variable that names the run's folder (:attr:`Strategy.run_dir`)
RUN_DIR_ENV = "HERON_RUN_DIR"

class EquityFraction:
    """An order size given as a fraction of free equity, fixed when the order fills."""

    __slots__ = ("fraction",)

    def __init__(self, fraction: object) -> None:
        self.fraction = to_decimal(fraction, what="equity fraction")
        if not Decimal(0) < self.fraction <= Decimal(1):
            raise ValueError(f"equity fraction must be in (0, 1], got {self.fraction}")


class Strategy:
    """Base class of every strategy. Subclasses declare ``Param`` attributes and hooks."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.params = collect_params(cls)
        if not cls.name:
            cls.name = cls.__name__.lower()

    def __init__(self, *, strategy_id: str | None = None,
                 instruments: Sequence[str] | None = None, **params: Any) -> None:
        values = resolve_params(self.name, self.params, params)
        for key, value in values.items():
            setattr(self, key, value)
        self.param_values = values
        self.strategy_id = strategy_id or self.name
        self.instrument_filter = list(instruments) if instruments else None
        self._ctx: StrategyContext | None = None
        self.validate()

    # -- hooks (override what you need) ------------------------------------------------------
    def validate(self) -> None:
        """Check combinations of parameters; raise ``InvalidConfiguration`` with the fix."""

    def on_start(self) -> None: ...
    def on_bar(self, bar: Bar) -> None: ...
    def on_trade(self, trade: Trade) -> None: ...
    def on_quote(self, quote: Quote) -> None: ...
    def on_order(self, order: Order, event: OrderEvent) -> None: ...
    def on_fill(self, order: Order, fill: OrderFilled) -> None: ...
    def on_timer(self, name: str, ts: int) -> None: ...
    def on_stop(self) -> None: ...

    # -- wiring ------------------------------------------------------------------------------
    def bind(self, ctx: StrategyContext) -> None:
        """Called by the node before ``on_start``."""
        self._ctx = ctx

    @property
    def ctx(self) -> StrategyContext:
        if self._ctx is None:
            raise RuntimeError(f"strategy {self.strategy_id} is not running in a node yet")
        return self._ctx

    # -- what the strategy sees ---------------------------------------------------------------
    @property
    def instrument(self) -> Instrument:
        """The instrument of the event being handled."""
        ctx = self.ctx
        return ctx.instruments[ctx.slot]

    @property
    def instruments(self) -> list[Instrument]:
        return self.ctx.instruments

    @property
    def position(self) -> Position:
        """The position in the instrument of the event being handled."""
        ctx = self._ctx
        assert ctx is not None, "strategy is not bound to a node"
        return ctx.positions[ctx.slot]

    def position_of(self, instrument: str | Instrument) -> Position:
        return self.ctx.portfolio.positions[self._instrument(instrument).id]

    @property
    def equity(self) -> Decimal:
        pf = self.ctx.portfolio
        return pf.money(pf.equity())

    @property
    def balance(self) -> Decimal:
        pf = self.ctx.portfolio
        return pf.money(pf.balance)

    @property
    def now(self) -> int:
        now: int = self.ctx.clock.now()
        return now

    @property
    def run_dir(self) -> Path | None:
        """The folder of the run this strategy is part of, where its own files belong
        (fitted models, caches): ``heron paper|live``'s ``--state`` folder, or the run's
        folder under ``heron serve`` (its wrapper sets ``HERON_RUN_DIR`` for the run's
        process, whatever the kind). ``None`` for a plain backtest: it has no folder."""
        if self.ctx.run_dir is not None:
            return Path(self.ctx.run_dir)
        value = os.environ.get(RUN_DIR_ENV)
        return Path(value) if value else None

    def open_orders(self, instrument: str | Instrument | None = None) -> list[Order]:
        iid = self._instrument(instrument).id if instrument is not None else None
        return [o for o in self.ctx.om.open_orders.values() if o.strategy_id == self.strategy_id
                and (iid is None or o.instrument_id == iid)]

    def has_open_orders(self) -> bool:
        """Does this strategy have any order working (cheap: checked on every bar)?"""
        ctx = self._ctx
        assert ctx is not None, "strategy is not bound to a node"
        open_orders = ctx.om.open_orders
        return bool(open_orders) and any(
            o.strategy_id == self.strategy_id for o in open_orders.values())

    def equity_fraction(self, fraction: object) -> EquityFraction:
        """Size an order as ``fraction`` of free equity, fees included, at its fill price."""
        return EquityFraction(fraction)

    def indicator(self, func: Callable[..., np.ndarray], *args: Any, source: str = "close",
                  name: str | None = None) -> IndicatorView:
        """Compute ``func(series, *args)`` over each instrument once; read it with ``[-1]``."""
        ctx = self.ctx
        values = []
        for series in ctx.series:
            out = np.ascontiguousarray(func(series[source], *args), dtype=np.float64)
            if out.shape != series[source].shape:
                raise ValueError(f"indicator {getattr(func, '__name__', func)} returned "
                                 f"{out.shape}, expected {series[source].shape}")
            values.append(out.data)  # a memoryview: indexing yields Python floats
        label = name or str(getattr(func, "__name__", "indicator"))
        ctx.indicators.append((func, args, source, values))
        return IndicatorView(label, ctx, values)

    def schedule(self, *, at: int | None = None, every: int | None = None,
                 name: str = "timer") -> None:
        """Call ``on_timer(name, ts)`` at ``at`` (ns), and/or every ``every`` ns after."""
        ctx = self.ctx
        start = at if at is not None else ctx.clock.now() + (every or 0)
        if every is not None and every <= 0:
            raise ValueError("timer interval must be positive")

        def fire(ts: int) -> None:
            self.on_timer(name, ts)
            if every:
                ctx.schedule(ts + every, fire)

        ctx.schedule(start, fire)

    # -- order calls ---------------------------------------------------------------------------
    def buy(self, *, size: Size | EquityFraction, price: object = None, trigger: object = None,
            time_in_force: str = "gtc", post_only: bool = False, reduce_only: bool = False,
            instrument: str | Instrument | None = None, tag: str = "") -> str:
        """Buy ``size``; a ``price`` makes it a limit, a ``trigger`` a stop. Returns the id."""
        return self.submit(side=OrderSide.BUY, size=size, price=price, trigger=trigger,
                           time_in_force=time_in_force, post_only=post_only,
                           reduce_only=reduce_only, instrument=instrument, tag=tag)

    def sell(self, *, size: Size | EquityFraction, price: object = None, trigger: object = None,
             time_in_force: str = "gtc", post_only: bool = False, reduce_only: bool = False,
             instrument: str | Instrument | None = None, tag: str = "") -> str:
        """Sell ``size``; a ``price`` makes it a limit, a ``trigger`` a stop. Returns the id."""
        return self.submit(side=OrderSide.SELL, size=size, price=price, trigger=trigger,
                           time_in_force=time_in_force, post_only=post_only,
                           reduce_only=reduce_only, instrument=instrument, tag=tag)

    def submit(self, *, side: OrderSide | str, size: Size | EquityFraction,
               price: object = None, trigger: object = None, time_in_force: str = "gtc",
               post_only: bool = False, reduce_only: bool = False,
               instrument: str | Instrument | None = None, tag: str = "") -> str:
        """Send an order. Its type follows from ``price``/``trigger``; returns the client id."""
        try:
            inst = self._instrument(instrument)
        except KeyError as exc:
            return self._deny_unknown(str(instrument), side, str(exc.args[0]))
        try:
            lots, fraction = _lots(inst, size)
            ticks = inst.ticks(price) if price is not None else None
            trigger_ticks = inst.ticks(trigger) if trigger is not None else None
        except (OffGrid, ValueError, TypeError) as exc:
            return self._send_order(inst, side, 0, None, None, None, time_in_force, post_only,
                                    reduce_only, tag, denial=str(exc))
        return self._send_order(inst, side, lots, fraction, ticks, trigger_ticks, time_in_force,
                                post_only, reduce_only, tag)

    def _deny_unknown(self, ref: str, side: OrderSide | str, reason: str) -> str:
        """An order for an instrument this run does not have: denied, never raised."""
        ctx = self.ctx
        now = ctx.clock.now()
        coid = ctx.ids.client_order_id(self.strategy_id)
        ctx.deny(SubmitOrder(now, now, coid, self.strategy_id, ref, _side(side),
                             OrderType.MARKET, 0), reason)
        return coid

    def _send_order(self, inst: Instrument, side: OrderSide | str, lots: int,
                    fraction: str | None, ticks: int | None, trigger: int | None, tif: str,
                    post_only: bool, reduce_only: bool, tag: str, denial: str = "") -> str:
        ctx = self.ctx
        now = ctx.clock.now()
        coid = ctx.ids.client_order_id(self.strategy_id)
        # the decision price: the last price the node marked this instrument at (bar close,
        # trade or mid), what round trips measure slippage against; None before any
        cmd = SubmitOrder(now, now, coid, self.strategy_id, inst.id, _side(side),
                          _order_type(ticks, trigger), lots, ticks, trigger, _tif(tif),
                          post_only, reduce_only, fraction, tag,
                          ctx.portfolio.marks.get(inst.id))
        if denial:
            ctx.deny(cmd, denial)
        else:
            ctx.send(cmd)
        return coid

    def target_orders(self, targets: Sequence[Target], *,
                      instrument: str | Instrument | None = None) -> Plan:
        """Say which orders should be working on the instrument; heron's router sends the
        fewest requests that get there (nothing, an amend that keeps queue priority, a
        cancel-replace, a new order, a cancel) and returns its plan. Build targets with
        :class:`heron.execution.router.Target` (ticks and lots of the instrument); give
        each a ``key`` to tie it to the same resting order from one call to the next."""
        inst = self._instrument(instrument)
        ctx = self.ctx
        mark = ctx.portfolio.marks.get(inst.id)
        plan: Plan = ctx.targets.execute(self.strategy_id, inst.id, targets,
                                         reference_price=mark, decision_price=mark)
        return plan

    def protect(self, *, stop: object = None, take: object = None,
                instrument: str | Instrument | None = None) -> list[str]:
        """A stop-loss at ``stop`` and/or a take-profit at ``take`` for the whole position,
        linked so that one filling shrinks or cancels the other (one-cancels-the-other,
        emulated by heron: see :mod:`heron.execution.protective`). Both are reduce-only
        orders resting at the venue. Returns their client order ids."""
        inst = self._instrument(instrument)
        ctx = self.ctx
        qty = ctx.portfolio.positions[inst.id].qty
        if qty == 0 or (stop is None and take is None):
            return []
        side = OrderSide.SELL if qty > 0 else OrderSide.BUY
        group = ctx.protective.new_group()
        ctx.protective.ensure_watching()  # the legs are linked as they are journaled
        ids: list[str] = []
        for kind, price in (("sl", stop), ("tp", take)):
            if price is None:
                continue
            ticks = inst.ticks(to_decimal(price))
            cid = self._send_order(inst, side, abs(qty), None, None if kind == "sl" else ticks,
                                   ticks if kind == "sl" else None, "gtc", False, True,
                                   f"oco:{group}:{kind}")
            ids.append(cid)
        return ids

    def cancel(self, order: Order | str) -> None:
        target = self._order(order)
        now = self.ctx.clock.now()
        self.ctx.send(CancelOrder(now, now, target.client_order_id, self.strategy_id,
                                  target.instrument_id))

    def amend(self, order: Order | str, *, price: object = None, size: Size | None = None,
              trigger: object = None) -> None:
        target = self._order(order)
        inst = self.ctx.portfolio.instruments[target.instrument_id]
        now = self.ctx.clock.now()
        self.ctx.send(AmendOrder(
            now, now, target.client_order_id, self.strategy_id, target.instrument_id,
            inst.lots(size) if size is not None else None,
            inst.ticks(price) if price is not None else None,
            inst.ticks(trigger) if trigger is not None else None))

    def cancel_all(self, instrument: str | Instrument | None = None) -> None:
        now = self.ctx.clock.now()
        self.ctx.send(CancelAllOrders(now, now, self.strategy_id,
                                      self._instrument(instrument).id))

    def close_position(self, instrument: str | Instrument | None = None,
                       tag: str = "close") -> str | None:
        """Market order that flattens the position (reduce-only); None if already flat."""
        inst = self._instrument(instrument)
        qty = self.ctx.portfolio.positions[inst.id].qty
        if qty == 0:
            return None
        side = OrderSide.SELL if qty > 0 else OrderSide.BUY
        return self._send_order(inst, side, abs(qty), None, None, None, "gtc", False, True, tag)

    # -- lookups ------------------------------------------------------------------------------
    def _instrument(self, ref: str | Instrument | None) -> Instrument:
        ctx = self.ctx
        if ref is None:
            return ctx.instruments[ctx.slot]
        if isinstance(ref, Instrument):
            return ref
        for inst in ctx.instruments:
            if ref in (inst.id, inst.symbol):
                return inst
        raise KeyError(f"{self.strategy_id}: no instrument {ref!r} in this run")

    def _order(self, ref: Order | str) -> Order:
        if isinstance(ref, Order):
            return ref
        order = self.ctx.om.orders.get(ref)
        if order is None:
            why = (" (or it closed long ago: a running paper or live run keeps only its "
                   "newest closed orders; keep the Order, or check it is open first)"
                   if self.ctx.om.bounded else "")
            raise KeyError(f"{self.strategy_id}: no order {ref!r}{why}")
        return order


_SIDES = {side.value: side for side in OrderSide}
_TIFS = {tif.value: tif for tif in TimeInForce}


def _side(side: OrderSide | str) -> OrderSide:
    """The side as the enum (a dict lookup: an Enum call costs more than the rest of
    building the command). A misspelt side is a bug in the strategy's code, so it
    raises rather than becoming a denial."""
    try:
        return _SIDES[side]
    except KeyError:
        raise ValueError(f"order side must be 'buy' or 'sell', not {side!r}") from None


def _tif(tif: TimeInForce | str) -> TimeInForce:
    try:
        return _TIFS[tif]
    except KeyError:
        raise ValueError(f"time_in_force must be one of gtc, ioc, fok, not {tif!r}") from None


def _order_type(price: object, trigger: object) -> OrderType:
    if trigger is None:
        return OrderType.MARKET if price is None else OrderType.LIMIT
    return OrderType.STOP if price is None else OrderType.STOP_LIMIT


def _lots(inst: Instrument, size: Size | EquityFraction) -> tuple[int, str | None]:
    if isinstance(size, EquityFraction):
        return 0, str(size.fraction)
    return inst.lots(size), None
