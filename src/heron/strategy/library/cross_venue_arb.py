"""``cross_venue_arb``: one instrument on two venues, traded on the gap between their
prices when it strays from its own fair value by more than it costs to trade.

The two legs are instrument ids, ``leg_a`` and ``leg_b`` (``SYMBOL.VENUE``, e.g. Binance
spot ``BTCUSDT.BINANCE`` and the USD-M perpetual ``BTCUSDT.BINANCE_USDM``). The
**spread** is B's premium over A in basis points, from the two books' mids:

    spread = (mid_B / mid_A - 1) * 10_000

Why not "trade when the spread beats the fees": two venues' prices of one asset are not
equal on average. A perpetual trades at a basis to spot (funding, margin, who is
leveraged which way: -3.4 bps on the bundled Binance data), venues differ in quote
currency quirks and in who arrives first. A persistent gap is not an opportunity: it
costs the fees to enter and again to leave and never closes. What can be earned is the
gap's *deviation from its own level*, which does close. So the strategy keeps a

* **fair basis**: an exponentially time-weighted average of the spread path, half-life
  ``basis_halflife`` seconds. Each spread value is weighted by how long it stood, so a
  burst of updates does not pull the average more than a quiet second does; the value
  at an event is the average *before* that event's spread (a jump is measured against
  the level it jumped from, not partly against itself).

and measures the **edges** at the prices it can actually trade at (taker, both legs):

    short edge = (bid_B / ask_A - 1) * 10_000 - fair    # sell B, buy A: B is rich
    long edge  = fair - (ask_B / bid_A - 1) * 10_000    # buy B, sell A: B is cheap
    cost       = 2 * (taker_A + taker_B) + 2 * adverse_bps

``cost`` is the round trip (both legs in, both legs out, at each venue's own taker fee
from its instrument definition) plus ``adverse_bps`` per entry leg: the price move the
strategy allows between deciding and its orders reaching the venues (latency). A side is
entered, one clip of ``size`` at a time, when its edge minus ``cost`` is at least
``entry_bps``. An open spread is unwound, whole, once it has converged: for a short
spread (long A, short B) when ``(ask_B / bid_A - 1) * 10_000 - fair <= exit_bps``, for a
long spread when ``fair - (bid_B / ask_A - 1) * 10_000 <= exit_bps``.

Latency. A leg whose top of book is older than ``max_quote_age`` seconds (the node's
clock minus the quote's venue time) is stale: nothing is entered or unwound on it, since
the price it shows may be gone. Orders are immediate-or-cancel limits at the touch moved
``adverse_bps`` against the strategy (rounded to the tick towards the touch), so a book
that moved further while the order travelled leaves it unfilled rather than filled at a
loss; ``heron.replay(latency=...)`` models that travel.

Inventory. The position is read from the two legs, never assumed: B's position is the
spread position (B short = short spread), and A's must mirror it. At most
``max_position`` base units are held on each leg. A spot leg can only sell what it holds
(spot cannot be shorted and a run starts from cash): with spot A and perpetual B only the
short spread (long spot, short perpetual) can be opened, and the reverse trades only
unwind it. Each clip is ``size`` rounded down to a multiple of both legs' lots, so both
legs carry the same base quantity exactly.

Legging. When both legs' orders are done and the legs do not mirror each other (one IOC
filled, the other found the book gone), the difference is closed at once with market
orders: first on the leg that went further (undo the excess fill rather than chase the
other venue's price), any remainder below that leg's lot on the other. Each repair is
counted in ``repairs`` and logged; nothing new is traded while legs are unbalanced or
orders are out.

The spread, fair basis and edges are float64 statistics (they choose when to trade);
orders, positions and fees stay exact integers and decimals.
"""

from __future__ import annotations

import logging
import math
from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from heron.errors import InvalidConfiguration
from heron.model.data import Quote
from heron.model.events import OrderEvent, OrderFilled
from heron.model.instrument import Instrument
from heron.model.orders import Order
from heron.strategy.base import Strategy
from heron.strategy.params import Param

__all__ = ["CrossVenueArb", "FairBasis", "Signal", "edges"]

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
BPS = 10_000.0


class FairBasis:
    """Exponentially time-weighted average of a piecewise-constant series.

    ``update(x, ts)`` first lets the average decay towards the value that stood since the
    previous update (weight ``1 - 2 ** (-dt / halflife)``), then records ``x`` as the
    value standing from ``ts`` on, and returns the average: the fair value *before* ``x``.
    The first update starts the average at ``x``."""

    __slots__ = ("halflife_ns", "last", "last_ts", "start_ts", "value")

    def __init__(self, halflife_s: float) -> None:
        self.halflife_ns = halflife_s * NS_PER_S
        self.value = math.nan
        self.last = math.nan
        self.last_ts = 0
        self.start_ts = 0

    def update(self, x: float, ts: int) -> float:
        if math.isnan(self.value):
            self.value, self.start_ts = x, ts
        elif ts > self.last_ts:
            weight = 1.0 - 2.0 ** (-(ts - self.last_ts) / self.halflife_ns)
            self.value += weight * (self.last - self.value)
        self.last, self.last_ts = x, max(ts, self.last_ts)
        return self.value


class Signal(NamedTuple):
    """What the strategy saw at one book change of either leg (bps, float64)."""

    ts: int
    spread: float      # mid spread, B over A
    fair: float        # fair basis before this spread
    short_edge: float  # sell B at its bid, buy A at its ask, against fair
    long_edge: float   # buy B at its ask, sell A at its bid, against fair
    cost: float        # round-trip taker fees of both venues + adverse allowance
    fresh: bool        # both legs' tops are younger than max_quote_age
    warm: bool         # the fair basis has had warmup seconds of history


def edges(bid_a: float, ask_a: float, bid_b: float, ask_b: float, fair: float
          ) -> tuple[float, float]:
    """``(short edge, long edge)`` in bps of the executable prices against ``fair``."""
    return (bid_b / ask_a - 1.0) * BPS - fair, fair - (ask_b / bid_a - 1.0) * BPS


class _Leg:
    """One venue's side of the trade: its instrument, top of book and lot in atoms."""

    __slots__ = ("ask", "atoms", "bid", "inst", "spot", "ts")

    def __init__(self, inst: Instrument, atoms: int) -> None:
        self.inst = inst
        self.atoms = atoms  # base-quantity atoms (10^-precision) per lot
        self.spot = not inst.is_perpetual
        self.bid = 0
        self.ask = 0
        self.ts = -1

    def price(self, ticks: int) -> float:
        return ticks * float(self.inst.price_increment)


class CrossVenueArb(Strategy):
    """Long one venue, short the other, when their spread strays from its fair basis."""

    name = "cross_venue_arb"
    leg_a = Param("BTCUSDT.BINANCE", doc="instrument id of leg A (SYMBOL.VENUE); bought "
                  "when B is rich")
    leg_b = Param("BTCUSDT.BINANCE_USDM", doc="instrument id of leg B, on another venue; "
                  "its position is the spread position")
    size = Param(Decimal("0.002"), gt=Decimal(0), doc="base quantity per clip (rounded down "
                 "to a multiple of both lots)")
    max_position = Param(Decimal("0.01"), gt=Decimal(0), doc="most base quantity held on "
                         "each leg")
    basis_halflife = Param(60.0, gt=0.0, le=86_400.0, doc="half-life of the fair basis, "
                           "seconds")
    warmup = Param(20.0, ge=0.0, le=86_400.0, doc="seconds of spread history before the "
                   "first trade")
    entry_bps = Param(0.5, ge=0.0, le=1_000.0, doc="edge net of round-trip fees and the "
                      "adverse allowance needed to enter")
    exit_bps = Param(0.0, ge=-1_000.0, le=1_000.0, doc="unwind once the exit prices are "
                     "within this of fair (bps)")
    adverse_bps = Param(0.2, ge=0.0, le=100.0, doc="per-leg move allowed between decision "
                        "and arrival (IOC limit cushion)")
    max_quote_age = Param(0.5, gt=0.0, le=3_600.0, doc="seconds after which a leg's top of "
                          "book is stale")

    def validate(self) -> None:
        venues = [_venue(self.leg_a, "leg_a"), _venue(self.leg_b, "leg_b")]
        if venues[0] == venues[1]:
            raise InvalidConfiguration(
                f"cross_venue_arb: leg_a {self.leg_a!r} and leg_b {self.leg_b!r} are both on "
                f"venue {venues[0]}; pass leg_b on another venue")
        if self.max_position < self.size:
            raise InvalidConfiguration(
                f"cross_venue_arb: max_position {self.max_position} is below size "
                f"{self.size}; raise max_position or lower size")

    # -- set-up ------------------------------------------------------------------------------
    def on_start(self) -> None:
        a, b = self._leg_instrument(self.leg_a, "leg_a"), self._leg_instrument(self.leg_b, "leg_b")
        if a.quote_currency != b.quote_currency:
            raise InvalidConfiguration(
                f"cross_venue_arb: {a.id} is quoted in {a.quote_currency} and {b.id} in "
                f"{b.quote_currency}; pick two legs in one quote currency")
        if a.multiplier != 1 or b.multiplier != 1:
            raise InvalidConfiguration("cross_venue_arb: legs must be quoted per unit of base "
                                       "(multiplier 1); inverse or contract-sized legs are not "
                                       "supported")
        if not a.is_perpetual and not b.is_perpetual:
            raise InvalidConfiguration(
                f"cross_venue_arb: {a.id} and {b.id} are both spot; spot cannot be shorted, so "
                "one leg must be a perpetual")
        precision = max(a.size_precision, b.size_precision)
        self.a = _Leg(a, _atoms(a.size_increment, precision))
        self.b = _Leg(b, _atoms(b.size_increment, precision))
        fine, coarse = sorted((self.a.atoms, self.b.atoms))
        if coarse % fine:
            raise InvalidConfiguration(
                f"cross_venue_arb: lots {a.size_increment} ({a.id}) and {b.size_increment} "
                f"({b.id}) are not multiples of one another, so a partial fill could not be "
                "hedged exactly; pick legs whose lots nest")
        self.clip = _atoms(self.size, precision) // coarse * coarse
        if self.clip <= 0:
            raise InvalidConfiguration(
                f"cross_venue_arb: size {self.size} is below one lot of both legs "
                f"({a.size_increment}, {b.size_increment}); raise size")
        self.limit = _atoms(self.max_position, precision)
        self.fair = FairBasis(self.basis_halflife)
        self.fee_bps = float(a.taker_fee + b.taker_fee) * BPS
        self.repairs = 0
        self._pending: set[str] = set()
        self._sending = False

    def _leg_instrument(self, ref: str, what: str) -> Instrument:
        for inst in self.instruments:
            if inst.id == ref:
                return inst
        have = ", ".join(inst.id for inst in self.instruments)
        raise InvalidConfiguration(f"cross_venue_arb: {what} {ref!r} is not in this run "
                                   f"(it has {have}); pass one of those ids")

    # -- market data ---------------------------------------------------------------------------
    def on_quote(self, quote: Quote) -> None:
        iid = quote.instrument.id
        leg = self.a if iid == self.a.inst.id else self.b if iid == self.b.inst.id else None
        if leg is None or quote.bid <= 0 or quote.ask <= quote.bid:
            return  # another instrument, or an empty or crossed top
        leg.bid, leg.ask, leg.ts = quote.bid, quote.ask, quote.ts_event
        if self.a.ts < 0 or self.b.ts < 0:
            return
        self.act(self.evaluate(self.now))

    def evaluate(self, now: int) -> Signal:
        """The spread, fair basis and edges at ``now``: statistics only, no state moved
        but the fair basis."""
        a, b = self.a, self.b
        bid_a, ask_a, bid_b, ask_b = a.price(a.bid), a.price(a.ask), b.price(b.bid), \
            b.price(b.ask)
        spread = ((bid_b + ask_b) / (bid_a + ask_a) - 1.0) * BPS
        fair = self.fair.update(spread, now)
        short_edge, long_edge = edges(bid_a, ask_a, bid_b, ask_b, fair)
        age = self.max_quote_age * NS_PER_S
        return Signal(now, spread, fair, short_edge, long_edge,
                      2.0 * self.fee_bps + 2.0 * self.adverse_bps,
                      now - a.ts <= age and now - b.ts <= age,
                      now - self.fair.start_ts >= self.warmup * NS_PER_S)

    def act(self, signal: Signal) -> str:
        """Enter, unwind or hold on ``signal``; returns what was done ("" for nothing)."""
        if self.busy or not signal.fresh or not signal.warm or not self.hedged:
            return ""
        held = self.spread_position
        if held < 0 and self._exit_value(signal, -1) <= self.exit_bps:
            self._trade(+1, -held, "unwind")
            return "unwind"
        if held > 0 and self._exit_value(signal, +1) <= self.exit_bps:
            self._trade(-1, held, "unwind")
            return "unwind"
        if signal.short_edge - signal.cost >= self.entry_bps and self._room(-1):
            self._trade(-1, self.clip, "enter")
            return "enter_short"
        if signal.long_edge - signal.cost >= self.entry_bps and self._room(+1):
            self._trade(+1, self.clip, "enter")
            return "enter_long"
        return ""

    @staticmethod
    def _exit_value(signal: Signal, held: int) -> float:
        """How far from fair the prices that close a ``held`` (+1 long, -1 short) spread
        are, in the spread's favour: at or below ``exit_bps`` the gap has closed."""
        return -signal.long_edge if held < 0 else -signal.short_edge

    # -- inventory -------------------------------------------------------------------------------
    def atoms(self, leg: _Leg) -> int:
        """The leg's position in base atoms (signed)."""
        return self.position_of(leg.inst).qty * leg.atoms

    @property
    def spread_position(self) -> int:
        """B's position in base atoms: negative = short spread (long A, short B)."""
        return self.atoms(self.b)

    @property
    def hedged(self) -> bool:
        return self.atoms(self.a) + self.atoms(self.b) == 0

    @property
    def busy(self) -> bool:
        """Orders of the strategy are out (sent and not yet done)."""
        return bool(self._pending)

    def _room(self, direction: int) -> bool:
        """May one more clip go in ``direction`` (+1 long B / short A, -1 the reverse)?"""
        held = self.spread_position
        after = held + direction * self.clip
        if held * direction < 0 or abs(after) > self.limit:
            return False
        # a spot leg can only sell what it holds: B short needs B perpetual, A short A
        return not ((self.b.spot and after < 0) or (self.a.spot and -after < 0))

    # -- orders ------------------------------------------------------------------------------
    def _trade(self, direction: int, atoms: int, tag: str) -> None:
        """IOC limits on both legs moving the spread position by ``direction * atoms``."""
        self._sending = True
        try:
            self._ioc(self.b, direction, atoms, tag)
            self._ioc(self.a, -direction, atoms, tag)
        finally:
            self._sending = False
        self._check_hedge()

    def _ioc(self, leg: _Leg, direction: int, atoms: int, tag: str) -> None:
        cushion = self.adverse_bps / BPS
        if direction > 0:
            ticks = leg.ask + math.floor(leg.ask * cushion)
        else:
            ticks = leg.bid - math.floor(leg.bid * cushion)
        self._send(leg, direction, atoms // leg.atoms, leg.inst.price(ticks), tag)

    def _send(self, leg: _Leg, direction: int, lots: int, price: Decimal | None,
              tag: str) -> None:
        side = "buy" if direction > 0 else "sell"
        cid = self.submit(side=side, size=leg.inst.quantity(lots), price=price,
                          time_in_force="ioc" if price is not None else "gtc",
                          instrument=leg.inst, tag=f"xva-{tag}")
        order = self.ctx.om.orders.get(cid)
        if order is not None and not order.status.is_closed:
            self._pending.add(cid)  # answered later (latency): wait for it

    def on_order(self, order: Order, event: OrderEvent) -> None:
        if order.status.is_closed:
            self._pending.discard(order.client_order_id)
            self._check_hedge()

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        if order.status.is_closed:
            self._pending.discard(order.client_order_id)
        self._check_hedge()

    def _check_hedge(self) -> None:
        """Once nothing is out, make the legs mirror each other again (see Legging)."""
        if self._sending or self._pending:
            return
        net = self.atoms(self.a) + self.atoms(self.b)
        if net == 0:
            return
        self.repairs += 1
        log.warning("cross_venue_arb: legs unbalanced by %s base after fills (%s %s, %s %s); "
                    "closing the difference at market", _base(net, self), self.a.inst.id,
                    _base(self.atoms(self.a), self), self.b.inst.id,
                    _base(self.atoms(self.b), self))
        first, second = sorted((self.a, self.b), key=lambda leg: -abs(self.atoms(leg)))
        self._sending = True
        try:
            for leg in (first, second):
                lots = abs(net) // leg.atoms
                if net > 0 and leg.spot:
                    lots = min(lots, max(self.position_of(leg.inst).qty, 0))
                if lots:
                    self._send(leg, -1 if net > 0 else 1, lots, None, "repair")
                    net -= (1 if net > 0 else -1) * lots * leg.atoms
        finally:
            self._sending = False
        if net:
            log.error("cross_venue_arb: %s base stays unhedged (below both lots or spot "
                      "not held)", _base(net, self))


def _venue(ref: str, what: str) -> str:
    symbol, dot, venue = ref.rpartition(".")
    if not dot or not symbol or not venue:
        raise InvalidConfiguration(f"cross_venue_arb: {what} {ref!r} is not SYMBOL.VENUE; "
                                   "pass an instrument id such as BTCUSDT.BINANCE")
    return venue


def _atoms(quantity: Decimal, precision: int) -> int:
    """``quantity`` in units of ``10 ** -precision``, rounded down."""
    return int(quantity.scaleb(precision).to_integral_value(ROUND_DOWN))


def _base(atoms: int, strategy: CrossVenueArb) -> str:
    """``atoms`` as a base quantity for the log (``0.00200000``, not ``2E-3``)."""
    precision = max(strategy.a.inst.size_precision, strategy.b.inst.size_precision)
    return f"{Decimal(atoms).scaleb(-precision):f}"
