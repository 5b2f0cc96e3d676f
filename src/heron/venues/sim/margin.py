"""Margin, leverage, liquidation and funding for the simulated account.

Rules (documented in docs/backtesting.md):

* An order that opens or grows a position needs ``equity - fee >= initial margin`` of
  every position after the fill, where initial margin is ``|qty| * price *
  margin_init`` and ``margin_init = 1 / leverage`` (spot: 1, no leverage).
* A linear perpetual position is liquidated when, at the bar's adverse extreme (its
  low for a long, its high for a short), equity falls below the maintenance margin
  ``sum(|qty| * price * margin_maint)``. It is closed at the price where equity meets
  maintenance (rounded to the tick against the position), or at the open if the bar
  gapped through it, paying the taker fee.
* Funding at a funding timestamp: ``amount = -qty * mark * rate`` (longs pay a
  positive rate), with the last bar close as the mark.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from typing import TYPE_CHECKING

from heron.model.events import FundingApplied, PositionLiquidated
from heron.model.instrument import Instrument
from heron.model.orders import VENUE_ORIGIN
from heron.model.portfolio import Portfolio, fraction_of

if TYPE_CHECKING:
    from heron.model.data import Bar
    from heron.venues.sim.orders import SimOrder


class MarginDesk:
    """The margin arithmetic of one simulated account (all money raw ``int``)."""

    def __init__(self, portfolio: Portfolio, instruments: dict[str, Instrument],
                 leverage: Decimal | None) -> None:
        self.portfolio = portfolio
        self.instruments = instruments
        self.init_rate = {
            iid: (Decimal(1) / leverage if leverage and inst.is_perpetual else inst.margin_init)
            for iid, inst in instruments.items()
        }
        self._last: tuple[int, int] = (0, 0)

    def watching(self, iid: str) -> bool:
        inst = self.instruments[iid]
        return (inst.is_perpetual and inst.margin_maint > 0
                and self.portfolio.positions[iid].qty != 0)

    # -- sizing and checks -----------------------------------------------------------------
    def size_for_fraction(self, order: SimOrder, ticks: int, fee_rate: Decimal) -> int:
        """Lots that ``order.fraction`` of free equity buys at ``ticks`` (fees included)."""
        assert order.fraction is not None
        return self.lots_for_fraction(order.instrument_id, order.fraction, ticks, fee_rate)

    def lots_for_fraction(self, iid: str, fraction: Fraction, ticks: int,
                          fee_rate: Decimal) -> int:
        """Lots that ``fraction`` of free equity buys on ``iid`` at ``ticks`` (a live run
        sizes its orders this way before sending, the simulated venue at the fill)."""
        pf = self.portfolio
        free = pf.equity() - pf.margin_used(exclude=iid)
        per_lot = pf.positions[iid].money(ticks)
        if free <= 0 or per_lot <= 0:
            return 0
        # margin is a fraction of the notional, but the fee is paid on all of it
        cost = per_lot * (Fraction(self.init_rate[iid]) + Fraction(fee_rate))
        return floor(fraction * free / cost)

    def problem(self, order: SimOrder, lots: int, ticks: int, fee_rate: Decimal) -> str | None:
        """Why this fill cannot happen for lack of margin, or None if it can."""
        pf = self.portfolio
        pos = pf.positions[order.instrument_id]
        new_qty = pos.qty + (lots if order.is_buy else -lots)
        if abs(new_qty) <= abs(pos.qty) and (new_qty >= 0) == (pos.qty >= 0):
            return None  # only reduces: always allowed
        if new_qty < 0 and not pos.instrument.is_perpetual:
            held = pos.instrument.quantity(max(pos.qty, 0))
            return (f"spot: cannot sell more than held ({held} {pos.instrument.symbol}); "
                    "trade a perpetual (--kind perp) to go short")
        fee = fraction_of(pos.money(ticks * lots), fee_rate)
        equity = pf.equity_with(order.instrument_id, ticks) - fee
        other = pf.margin_used(exclude=order.instrument_id)
        need = other + fraction_of(pos.money(abs(new_qty) * ticks),
                                   self.init_rate[order.instrument_id])
        if equity >= need:
            return None
        return (f"insufficient margin: need {pf.money(need)}, equity {pf.money(equity)}; "
                "reduce the size, raise leverage or add cash")

    # -- liquidation -----------------------------------------------------------------------
    def check(self, iid: str, bar: Bar) -> int | None:
        """The liquidation price (ticks) if the bar breaches maintenance, else None."""
        pf = self.portfolio
        pos = pf.positions[iid]
        mark = pf.marks.get(iid, bar.open)
        adverse = bar.low if pos.qty > 0 else bar.high
        per_unit = pos.money(1)  # money raw per tick * lot
        equity0 = pf.equity() if iid in pf.marks else pf.equity_with(iid, mark)
        other_maint = self._maintenance(exclude=iid)
        mm = Fraction(self.instruments[iid].margin_maint)
        equity = equity0 + pos.qty * per_unit * (adverse - mark)
        maint = other_maint + abs(pos.qty) * per_unit * adverse * mm
        if equity >= maint:
            return None
        self._last = (int(equity), int(maint))
        p_star = Fraction(other_maint - equity0 + pos.qty * per_unit * mark) / (
            per_unit * (pos.qty - abs(pos.qty) * mm))
        if pos.qty > 0:
            return min(bar.open, max(ceil(p_star), bar.low))
        return max(bar.open, min(floor(p_star), bar.high))

    def _maintenance(self, exclude: str) -> Fraction:
        total = Fraction(0)
        for iid, pos in self.portfolio.positions.items():
            inst = self.instruments[iid]
            if pos.qty and iid != exclude and inst.is_perpetual:
                total += pos.money(abs(pos.qty) * self.portfolio.marks[iid]) * Fraction(
                    inst.margin_maint)
        return total

    def liquidation_event(self, iid: str, client_order_id: str, now: int) -> PositionLiquidated:
        equity, maint = self._last
        return PositionLiquidated(now, now, iid, VENUE_ORIGIN, client_order_id, equity, maint)

    # -- funding ---------------------------------------------------------------------------
    def funding(self, iid: str, rate: Decimal, ts: int) -> FundingApplied | None:
        pf = self.portfolio
        pos = pf.positions[iid]
        if not pos.qty or iid not in pf.marks or not self.instruments[iid].is_perpetual:
            return None
        mark = pf.marks[iid]
        amount = fraction_of(-pos.money(pos.qty * mark), rate)
        return FundingApplied(ts, ts, iid, VENUE_ORIGIN, str(rate), mark, pos.qty, amount)
