"""``grid``: the futures grid bot: resting limits at fixed levels, each fill answered by
the opposite order one level away.

Levels. ``levels`` prices from ``lower`` to ``upper`` inclusive, evenly spaced
(``spacing = "arithmetic"``: the same price step) or in equal ratios (``"geometric"``:
the same percentage step, the better choice over a wide range), each rounded to the
nearest tick. With ``lower = upper = 0`` the range is set on the first bar to its
close ``× (1 ∓ span)``.

Start (first bar, close ``P``): a buy limit at every level below ``P``, a sell limit at
every level above it; a level at ``P`` stays empty. What the sells above mean depends on
``direction``, as on the venues' futures grid bots:

* ``neutral``: no position at start; sells above open shorts, buys below open longs;
* ``long``: a market buy of one level's size per level above ``P`` first, so the sells
  above close that long and the buys below add to it;
* ``short``: the mirror image: a market sell of one level's size per level below ``P``.

Then, when the order at level ``i`` is filled in full, its answer goes to the next level:
a filled buy at ``i`` places a sell at ``i + 1``; a filled sell at ``i`` places a buy at
``i - 1``. Each completed buy-then-sell (or sell-then-buy) pair earns one grid step on
one level's size, less two fees. So at most one order rests per level, and ``levels - 1``
orders rest in all.

Size per level: ``quantity`` (base units) or, when it is 0, ``fraction`` of the starting
equity spread evenly over the ``levels - 1`` orders at the start price; rounded down to
the lot. Too small for a lot or for the venue's minimum notional: refused at start.

Guards (:mod:`heron.strategy.library.grid_policies`): ``trend = "ema"`` holds back new
buys in a downtrend and new sells in an uptrend; ``liquidity = "volume"`` holds back all
new orders while the market is thin. Held-back levels are placed once allowed.
``stop_outside > 0`` stops the bot (cancel all, close the position) when a close leaves
the range by more than that fraction. A grid order that the venue or the risk engine
refuses is retried on the next bar, at most ``3`` times in a row, then its level is left
empty: a grid that keeps sending refused orders helps nobody.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from itertools import pairwise

from heron.analytics.indicators import ema, sma
from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.model.events import OrderEvent, OrderFilled
from heron.model.instrument import Instrument
from heron.model.orders import Order, OrderSide, OrderStatus
from heron.strategy.base import Strategy
from heron.strategy.library.grid_policies import GridPolicy, LiquidityFilter, TrendFilter
from heron.strategy.params import Param

MAX_RETRIES = 3


def grid_levels(lower: Decimal, upper: Decimal, count: int, spacing: str,
                inst: Instrument) -> list[int]:
    """The grid's prices in ticks, ascending; refused if two fall on one tick."""
    if not Decimal(0) < lower < upper:
        raise InvalidConfiguration(f"grid: lower ({lower}) must be above 0 and below upper "
                                   f"({upper}); fix the range")
    steps = count - 1
    if spacing == "geometric":
        ratio = upper / lower
        prices = [lower * ratio ** (Decimal(i) / steps) for i in range(count)]
    else:
        step = (upper - lower) / steps
        prices = [lower + step * i for i in range(count)]
    ticks = [int((p / inst.price_increment).to_integral_value()) for p in prices]
    if any(b <= a for a, b in pairwise(ticks)):
        raise InvalidConfiguration(f"grid: {count} levels between {lower} and {upper} are "
                                   "closer than one tick; use fewer levels or a wider range")
    return ticks


class Grid(Strategy):
    """Resting limits at fixed levels; every fill is answered one level away."""

    name = "grid"
    lower = Param(Decimal(0), ge=Decimal(0), doc="lowest level (0 with upper 0: start "
                  "close x (1 - span))")
    upper = Param(Decimal(0), ge=Decimal(0), doc="highest level (0 with lower 0: start "
                  "close x (1 + span))")
    span = Param(Decimal("0.05"), gt=Decimal(0), lt=Decimal(1),
                 doc="half-width of the automatic range, as a fraction of the start close")
    levels = Param(21, ge=3, le=1000, doc="grid prices from lower to upper inclusive")
    spacing = Param("arithmetic", choices=("arithmetic", "geometric"),
                    doc="equal price steps or equal percentage steps")
    direction = Param("neutral", choices=("neutral", "long", "short"),
                      doc="position the grid starts with (futures grid bot modes)")
    quantity = Param(Decimal(0), ge=Decimal(0), doc="size per level (0 = use fraction)")
    fraction = Param(Decimal("0.5"), gt=Decimal(0), le=Decimal(1),
                     doc="share of starting equity spread over the levels")
    stop_outside = Param(Decimal(0), ge=Decimal(0), lt=Decimal(1),
                         doc="stop and flatten when a close leaves the range by this "
                         "fraction (0 = never)")
    trend = Param("none", choices=("none", "ema"), doc="trend filter for new orders")
    trend_period = Param(240, ge=2, le=100_000, doc="bars in the trend filter's EMA")
    trend_band = Param(0.002, ge=0.0, le=0.5, doc="distance from the EMA that counts as a "
                       "trend (fraction)")
    liquidity = Param("none", choices=("none", "volume"), doc="liquidity filter for new "
                      "orders")
    liquidity_window = Param(60, ge=1, le=100_000, doc="bars in the mean volume")
    min_volume = Param(0.0, ge=0.0, doc="least mean volume per bar (base units) to quote")
    post_only = Param(False, doc="send grid orders post-only (maker or canceled)")

    def validate(self) -> None:
        if (self.lower == 0) != (self.upper == 0):
            raise InvalidConfiguration("grid: set both lower and upper, or neither (then "
                                       "the range is the start close +/- span)")
        if self.lower and self.lower >= self.upper:
            raise InvalidConfiguration(f"grid: lower ({self.lower}) must be below upper "
                                       f"({self.upper})")

    def on_start(self) -> None:
        self.prices: list[int] = []
        self.lots = 0
        self.resting: dict[str, int] = {}       # client order id -> level
        self.pending: dict[int, OrderSide] = {}  # level -> side waiting to be placed
        self.failures: dict[int, int] = {}
        self.stopped = False
        self.last_bar: Bar | None = None
        self.guards = self.policies()
        self.allowed = {OrderSide.BUY: False, OrderSide.SELL: False}

    def policies(self) -> list[GridPolicy]:
        """The guards asked before each new order; override to plug in your own."""
        guards: list[GridPolicy] = []
        if self.trend == "ema":
            guards.append(TrendFilter(self.indicator(ema, self.trend_period, name="trend"),
                                      self.trend_band))
        if self.liquidity == "volume":
            mean = self.indicator(sma, self.liquidity_window, source="volume",
                                  name="mean_volume")
            guards.append(LiquidityFilter(mean, self.min_volume))
        return guards

    def on_bar(self, bar: Bar) -> None:
        self.last_bar = bar
        if self.stopped:
            return
        if not self.prices:
            self.open_grid(bar)
        elif self.stop_outside and self.left_range(bar):
            self.stop()
            return
        self.judge(bar)
        self.place_pending(bar)

    def open_grid(self, bar: Bar) -> None:
        """Fix the levels and the size, queue one order per level, take the start position."""
        inst = bar.instrument
        start = bar.close_price
        lower, upper = self.lower, self.upper
        if not lower:
            lower, upper = start * (1 - self.span), start * (1 + self.span)
        self.prices = grid_levels(lower, upper, self.levels, self.spacing, inst)
        self.lots = self.level_lots(inst, start)
        above = [i for i, p in enumerate(self.prices) if p > bar.close]
        below = [i for i, p in enumerate(self.prices) if p < bar.close]
        self.pending = {i: OrderSide.SELL for i in above} | {i: OrderSide.BUY for i in below}
        if self.direction == "long" and above:
            self.buy(size=inst.quantity(self.lots * len(above)), tag="grid:start")
        elif self.direction == "short" and below:
            self.sell(size=inst.quantity(self.lots * len(below)), tag="grid:start")

    def level_lots(self, inst: Instrument, start: Decimal) -> int:
        """Lots per level, rounded down; refused when below a lot or the min notional."""
        size = self.quantity or self.equity * self.fraction / (start * (self.levels - 1))
        lots = int((size / inst.size_increment).to_integral_value(ROUND_DOWN))
        if lots <= 0:
            raise InvalidConfiguration(f"grid: {size} per level is less than one lot "
                                       f"({inst.size_increment}); raise quantity or fraction, "
                                       "or use fewer levels")
        lowest = inst.price(self.prices[0]) * inst.quantity(lots) * inst.multiplier
        if lowest < inst.min_notional:
            raise InvalidConfiguration(f"grid: {inst.quantity(lots)} per level is worth "
                                       f"{lowest} at the lowest level, below the minimum "
                                       f"notional {inst.min_notional}; raise the size")
        return lots

    def judge(self, bar: Bar) -> None:
        """Ask the guards once per closed bar. A fill inside the next bar is answered
        with this verdict: asking again then would read that bar's close, not yet known."""
        self.allowed = {side: all(guard.allows(side, bar) for guard in self.guards)
                        for side in (OrderSide.BUY, OrderSide.SELL)}

    def place_pending(self, bar: Bar) -> None:
        """Send every queued level its guards allow now, lowest level first."""
        for level in sorted(self.pending):
            side = self.pending[level]
            if self.allowed[side]:
                del self.pending[level]
                inst = bar.instrument
                coid = self.submit(side=side, size=inst.quantity(self.lots),
                                   price=inst.price(self.prices[level]),
                                   post_only=self.post_only, tag=f"grid:{level}")
                self.resting[coid] = level

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        level = self.resting.get(order.client_order_id)
        if level is None or order.filled < order.quantity:
            return  # the start order, or a partial fill: answer the whole level only
        del self.resting[order.client_order_id]
        self.failures.pop(level, None)
        answer = level + 1 if order.side is OrderSide.BUY else level - 1
        side = OrderSide.SELL if order.side is OrderSide.BUY else OrderSide.BUY
        if 0 <= answer < len(self.prices) and not self.stopped:
            self.pending[answer] = side
            if self.last_bar is not None:
                self.place_pending(self.last_bar)

    def on_order(self, order: Order, event: OrderEvent) -> None:
        """A grid order that ended unfilled (refused, canceled by the venue): queue its
        level again, up to ``MAX_RETRIES`` times in a row."""
        level = self.resting.get(order.client_order_id)
        if level is None or not order.status.is_closed or order.status is OrderStatus.FILLED:
            return
        del self.resting[order.client_order_id]
        tries = self.failures.get(level, 0) + 1
        self.failures[level] = tries
        if tries <= MAX_RETRIES and not self.stopped:
            self.pending[level] = order.side

    def left_range(self, bar: Bar) -> bool:
        band = self.stop_outside
        low = self.prices[0] * (1 - band)
        high = self.prices[-1] * (1 + band)
        return bool(bar.close < low or bar.close > high)

    def stop(self) -> None:
        """Out of range: no more grid; cancel what rests and close the position."""
        self.stopped = True
        self.pending.clear()
        self.resting.clear()
        self.cancel_all()
        if self.position.qty:
            self.close_position()
