"""The portfolio: one account's balance and positions, changed only by events.

Applying the same journaled events in the same order rebuilds the same state
exactly; that is how a journal replay and a live restart recover. Money is ``int``
at ``money_precision`` decimals of the account currency.

Accounting: for spot instruments the balance pays the notional (cash); for linear
perpetuals the balance moves only by realised PnL, fees and funding, and the open
position contributes its unrealised PnL. Either way

    equity = balance + sum(spot qty * mark) + sum(perp unrealised PnL)
"""

from __future__ import annotations

import functools
from decimal import Decimal

from heron.model.events import AccountState, FundingApplied, OrderFilled
from heron.model.fixed import EXACT, round_raw
from heron.model.instrument import Instrument
from heron.model.position import Position


class Portfolio:
    """Balance, positions and running totals of one account."""

    def __init__(self, instruments: list[Instrument], starting_balance: int,
                 money_precision: int) -> None:
        for inst in instruments:
            if money_precision < inst.notional_precision:  # else money_scale is a float
                raise ValueError(
                    f"money_precision {money_precision} is below the notional precision "
                    f"{inst.notional_precision} of {inst.id}; use at least "
                    f"{inst.notional_precision} so every fill is a whole raw unit")
        self.money_precision = money_precision
        self.instruments = {inst.id: inst for inst in instruments}
        self.positions = {
            inst.id: Position(inst, 10 ** (money_precision - inst.notional_precision))
            for inst in instruments
        }
        self.starting_balance = starting_balance
        self.balance = starting_balance
        self.fees = 0
        self.funding = 0
        self.realised = 0
        self.marks: dict[str, int] = {}
        self.fill_count = 0
        self.turnover = 0  # money raw of |notional| traded
        # what venue balance reports (AccountState) moved the balance by, beyond heron's
        # own fills and funding: kept apart so an unexplained jump stays visible
        self.adjustments = 0
        self.free: int | None = None  # the venue's free balance at the last AccountState

    # -- events ----------------------------------------------------------------------------
    def apply_fill(self, fill: OrderFilled) -> int:
        """Book a fill; return the realised PnL (money raw, before fees)."""
        pos = self.positions[fill.instrument_id]
        signed = fill.last_qty if fill.side == "buy" else -fill.last_qty
        notional = pos.money(fill.last_px * fill.last_qty)
        pnl = pos.apply_fill(signed, fill.last_px, fill.ts_event)
        if pos.instrument.is_perpetual:
            self.balance += pnl
        else:
            self.balance -= notional if signed > 0 else -notional
        self.balance -= fill.fee
        pos.fees += fill.fee
        self.fees += fill.fee
        self.realised += pnl
        self.turnover += notional
        self.fill_count += 1
        return pnl

    def apply_funding(self, event: FundingApplied) -> None:
        pos = self.positions[event.instrument_id]
        pos.funding += event.amount
        self.balance += event.amount
        self.funding += event.amount

    def apply_account_state(self, event: AccountState) -> int:
        """Take the venue's wallet balance as the truth; return the jump (money raw)."""
        jump = event.total - self.balance
        self.balance = event.total
        self.adjustments += jump
        self.free = event.free
        return jump

    # -- valuations ------------------------------------------------------------------------
    def position_value(self, pos: Position, mark: int) -> int:
        """What the position adds to equity at ``mark`` (money raw)."""
        if pos.instrument.is_perpetual:
            return pos.unrealised(mark)
        return pos.money(pos.qty * mark)

    def equity(self) -> int:
        """Balance plus every open position valued at its last mark (money raw)."""
        total = self.balance
        for iid, pos in self.positions.items():
            if pos.qty:
                total += self.position_value(pos, self.marks[iid])
        return total

    def equity_with(self, iid: str, mark: int) -> int:
        """Equity with ``iid`` marked at ``mark`` (the others at their last marks)."""
        saved = self.marks.get(iid)
        self.marks[iid] = mark
        try:
            return self.equity()
        finally:
            if saved is None:
                del self.marks[iid]
            else:
                self.marks[iid] = saved

    def margin_used(self, exclude: str | None = None) -> int:
        """Initial margin of the open positions at their marks (money raw)."""
        total = 0
        for iid, pos in self.positions.items():
            if pos.qty and iid != exclude:
                notional = pos.money(abs(pos.qty) * self.marks[iid])
                total += fraction_of(notional, pos.instrument.margin_init)
        return total

    def money(self, raw: int) -> Decimal:
        return Decimal(raw).scaleb(-self.money_precision, EXACT)

    def snapshot(self) -> dict[str, object]:
        """Exact state for comparisons (journal replay, restarts)."""
        return {
            "balance": self.balance, "fees": self.fees, "funding": self.funding,
            "realised": self.realised, "fill_count": self.fill_count,
            "positions": {iid: (p.qty, p.entries(), p.realised, p.fees, p.funding)
                          for iid, p in sorted(self.positions.items())},
        }


def fraction_of(amount: int, rate: Decimal) -> int:
    """``amount * rate`` rounded half-even to a whole raw unit."""
    numerator, denominator = _ratio(rate)
    if denominator == 1:
        return amount * numerator
    return round_raw(amount * numerator, denominator)


@functools.lru_cache(maxsize=256)
def _ratio(rate: Decimal) -> tuple[int, int]:
    """``rate`` as an exact integer ratio (cached: a run uses a handful of rates)."""
    numerator, denominator = rate.as_integer_ratio()
    return numerator, denominator


