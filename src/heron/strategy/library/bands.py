"""Entry and exit bands on a standardised score: the rules ``momentum`` and
``mean_reversion`` share.

A subclass computes one score per bar (a z-score, oriented so that a high score
means "be long") and says where its bands are; :class:`BandStrategy` trades them:

* flat: buy when ``score > entry``; sell short when ``score < -entry`` (long-short
  mode only);
* long: close when ``score <= exit`` (back inside the exit band, or beyond it);
* short: close when ``score >= -exit``;
* a close and an entry on the other side can happen on one bar, when the score jumps
  from one entry band to the other;
* a NaN score (not enough bars yet, a flat window) changes nothing.

Entries are market orders sized as ``fraction`` of free equity at the fill price,
fees included, or a fixed ``quantity``; exits flatten the position with a reduce-only
market order. While an order is working the strategy waits, so a ``next-open`` fill
is never doubled.
"""

from __future__ import annotations

from decimal import Decimal

from heron.model.data import Bar
from heron.strategy.base import EquityFraction, Strategy
from heron.strategy.indicators import IndicatorView


class BandStrategy(Strategy):
    """Long above +entry, short below -entry, out inside the exit band (see module doc)."""

    # set by the subclass's on_start (its parameters name the levels in its own terms)
    score: IndicatorView
    entry_level: float
    exit_level: float
    entry_size: Decimal | EquityFraction

    def start_bands(self, score: IndicatorView, *, entry: float, exit_: float, shorts: bool,
                    quantity: Decimal, fraction: Decimal) -> None:
        """Called from ``on_start``: the score, the two levels, and how to size entries
        (a fixed ``quantity`` when non-zero, else ``fraction`` of free equity)."""
        self.score = score
        self.entry_level = float(entry)
        self.exit_level = float(exit_)
        self.short_ok = shorts
        self.entry_size = quantity if quantity else self.equity_fraction(fraction)
        self.working = self.ctx.om.open_orders  # live view: empty on most bars

    def on_bar(self, bar: Bar) -> None:
        if self.working and self.has_open_orders():
            return
        score = self.score[-1]
        qty = self.position.qty
        if (qty > 0 and score <= self.exit_level) or (qty < 0 and score >= -self.exit_level):
            self.close_position()
        elif qty != 0:
            return
        if score > self.entry_level:
            self.buy(size=self.entry_size)
        elif score < -self.entry_level and self.short_ok:
            self.sell(size=self.entry_size)
