"""``market_maker``: Avellaneda–Stoikov quotes around the microprice, skewed by inventory.

Avellaneda and Stoikov (2008, "High-frequency trading in a limit order book") find the
quotes that maximise a market maker's expected exponential utility when market orders
arrive at a rate that decays with the distance from the mid. Their answer:

    reservation  r = s - q * gamma * sigma^2 * tau
    spread       d = gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / k)
    bid = r - d / 2,   ask = r + d / 2

* ``s`` is the **microprice** of the book's top, ``(bid * ask_size + ask * bid_size) /
  (bid_size + ask_size)``: the mid leaned towards the side about to be taken out, a
  better short-term fair value than the mid (Stoikov 2018);
* ``q`` is the inventory in quotes (position / ``size``), so the skew is the same for any
  size; long inventory lowers both quotes (sell more readily, buy less);
* ``sigma`` is the microprice's volatility in basis points per square-root second: an
  exponentially weighted mean of squared log changes per second (half-life
  ``vol_halflife`` seconds);
* ``tau`` is the ``horizon`` in seconds: the paper's time to the end of the session,
  held constant here (a rolling horizon), as market makers on perpetuals run one;
* ``gamma`` (risk aversion) and ``k`` (how fast fill intensity decays with distance) are
  the two knobs, both per basis point.

heron works the formulas in basis points of the microprice (``s = 0``, quotes as offsets
from it) rather than in the paper's price units, so one setting fits BTC at 60,000 and a
coin at 0.06 alike.

Orders. Quotes are post-only limits of ``size``, rounded outwards to the tick (bid down,
ask up) and kept off the other side's best price, so they rest as maker or are canceled.
No quote until ``warmup`` volatility updates have come. At ``max_inventory`` quotes long
the bid is pulled (only the ask rests), at ``-max_inventory`` the ask. Resting quotes
are moved through :meth:`~heron.strategy.base.Strategy.target_orders` (an amend that keeps
the order where the venue allows it) only when the wanted price is ``requote_ticks`` or
more away, which keeps the request rate down on a busy book.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

from heron.errors import InvalidConfiguration
from heron.execution.router import Target
from heron.model.data import Quote
from heron.model.events import OrderEvent, OrderFilled
from heron.model.orders import Order, OrderSide
from heron.strategy.base import Strategy
from heron.strategy.params import Param

NS_PER_S = 1_000_000_000
BPS = 10_000.0  # basis points per unit of relative price


class MicropriceVolatility:
    """An EWMA of the microprice's variance per second, updated as time moves.

    Why anchors: several book changes can carry one timestamp; their moves are folded into
    the next step that moves the clock, so no step divides by a zero interval."""

    __slots__ = ("anchor", "anchor_ts", "halflife_ns", "updates", "variance")

    def __init__(self, halflife_s: float) -> None:
        self.halflife_ns = halflife_s * NS_PER_S
        self.anchor = math.nan
        self.anchor_ts = 0
        self.variance = 0.0  # of log changes, per second
        self.updates = 0

    def update(self, price: float, ts: int) -> None:
        if math.isnan(self.anchor):
            self.anchor, self.anchor_ts = price, ts
            return
        dt = ts - self.anchor_ts
        if dt <= 0:
            return
        change = math.log(price / self.anchor)
        weight = 1.0 - math.exp(-dt * math.log(2.0) / self.halflife_ns)
        self.variance += weight * (change * change * NS_PER_S / dt - self.variance)
        self.anchor, self.anchor_ts = price, ts
        self.updates += 1


def microprice(quote: Quote) -> float:
    """Microprice of the top of book, in ticks; the mid when both sizes are zero."""
    total = quote.bid_size + quote.ask_size
    if total <= 0:
        return (quote.bid + quote.ask) / 2.0
    return (quote.bid * quote.ask_size + quote.ask * quote.bid_size) / total


def avellaneda_stoikov(s: float, q: float, sigma: float, gamma: float, k: float,
                       tau: float) -> tuple[float, float]:
    """The bid and ask of the formulas above, in the units of ``s``."""
    risk = gamma * sigma * sigma * tau
    reservation = s - q * risk
    half = (risk + (2.0 / gamma) * math.log(1.0 + gamma / k)) / 2.0
    return reservation - half, reservation + half


class MarketMaker(Strategy):
    """Two-sided post-only quotes around the microprice, skewed against inventory."""

    name = "market_maker"
    size = Param(Decimal("0.001"), gt=Decimal(0), doc="quantity per quote (base units, "
                 "rounded down to the lot)")
    gamma = Param(0.05, gt=0.0, le=100.0, doc="risk aversion, per basis point")
    k = Param(20.0, gt=0.0, le=10_000.0, doc="fill intensity decay with distance, per "
              "basis point")
    horizon = Param(5.0, gt=0.0, le=86_400.0, doc="seconds of inventory risk priced in "
                    "(tau)")
    vol_halflife = Param(30.0, gt=0.0, le=86_400.0, doc="half-life of the volatility "
                         "estimate, seconds")
    warmup = Param(50, ge=1, le=1_000_000, doc="volatility updates before the first quote")
    max_inventory = Param(5, ge=1, le=10_000, doc="quotes of inventory at which the side "
                          "that adds to it is pulled")
    requote_ticks = Param(1, ge=1, le=1_000_000, doc="least move of a wanted price that "
                          "moves its resting quote")

    def on_start(self) -> None:
        inst = self.instrument
        self.lots = int((self.size / inst.size_increment).to_integral_value(ROUND_DOWN))
        if self.lots <= 0:
            raise InvalidConfiguration(f"market_maker: size {self.size} is below one lot "
                                       f"({inst.size_increment}); raise size")
        self.vol = MicropriceVolatility(self.vol_halflife)
        self.quoted: dict[str, int] = {}  # key -> price in ticks of the last target sent

    def on_quote(self, quote: Quote) -> None:
        if quote.bid <= 0 or quote.ask <= quote.bid:
            return  # an empty or crossed top: nothing sound to quote around
        mid = microprice(quote)
        self.vol.update(mid, quote.ts_event)
        if self.vol.updates < self.warmup:
            return
        self.requote(quote, *self.quotes(quote, mid))

    def quotes(self, quote: Quote, mid: float) -> tuple[int | None, int | None]:
        """The wanted bid and ask in ticks (None: that side is pulled)."""
        sigma = math.sqrt(self.vol.variance) * BPS
        inventory = self.position.qty / self.lots
        bid, ask = avellaneda_stoikov(0.0, inventory, sigma, self.gamma, self.k, self.horizon)
        bid_ticks = min(math.floor(mid * (1.0 + bid / BPS)), quote.ask - 1)
        ask_ticks = max(math.ceil(mid * (1.0 + ask / BPS)), quote.bid + 1)
        return (None if inventory >= self.max_inventory else bid_ticks,
                None if inventory <= -self.max_inventory else ask_ticks)

    def requote(self, quote: Quote, bid: int | None, ask: int | None) -> None:
        """Send the targets when a side appears, disappears or moves far enough."""
        wanted = {"bid": bid, "ask": ask}
        if all(self._close_enough(key, price) for key, price in wanted.items()):
            return
        targets = [Target(OrderSide.BUY if key == "bid" else OrderSide.SELL, self.lots,
                          price, key=key, post_only=True)
                   for key, price in wanted.items() if price is not None]
        self.target_orders(targets)
        self.quoted = {key: price for key, price in wanted.items() if price is not None}

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        self.quoted.clear()  # inventory moved: the next quote re-targets both sides

    def on_order(self, order: Order, event: OrderEvent) -> None:
        if order.status.is_closed:
            self.quoted.clear()  # a quote ended (post-only cancel, expiry): send it again

    def _close_enough(self, key: str, price: int | None) -> bool:
        resting = self.quoted.get(key)
        if price is None or resting is None:
            return price is None and resting is None
        return abs(price - resting) < self.requote_ticks
