"""Portfolio accounting: spot cash vs perpetual margin, and exact conservation of money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.model.events import FundingApplied, OrderFilled
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide
from heron.model.portfolio import Portfolio, fraction_of

SPOT = Instrument("BTCUSD", price_increment=Decimal("0.01"), size_increment=Decimal("0.001"))
PERP = Instrument("BTC-PERP", kind=InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.5"), size_increment=Decimal("0.01"),
                  multiplier=Decimal("0.1"), margin_init=Decimal("0.1"))
PRECISION = 8  # >= both notional precisions (5 and 4)
START = 10_000 * 10**PRECISION


def usd(amount: str) -> int:
    return int(Decimal(amount).scaleb(PRECISION))


def filled(inst: Instrument, side: OrderSide, qty: str | int, price: str | int, *,
           fee: str | int = 0, ts: int = 1) -> OrderFilled:
    """A fill; ``str`` values are decimals, ``int`` values are already lots/ticks/raw."""
    lots = inst.lots(qty) if isinstance(qty, str) else qty
    ticks = inst.ticks(price) if isinstance(price, str) else price
    fee_raw = usd(fee) if isinstance(fee, str) else fee
    return OrderFilled(ts_event=ts, ts_init=ts, client_order_id=f"H-s-{ts}",
                       instrument_id=inst.id, venue_order_id=f"V{ts}", trade_id=f"T{ts}",
                       strategy_id="s", side=side, last_qty=lots, last_px=ticks, fee=fee_raw,
                       liquidity="taker", order_qty=lots)


def funding(inst: Instrument, amount: int, ts: int = 1) -> FundingApplied:
    return FundingApplied(ts_event=ts, ts_init=ts, instrument_id=inst.id, strategy_id="s",
                          rate="0.0001", mark_px=0, position=0, amount=amount)


def portfolio(*instruments: Instrument, precision: int = PRECISION) -> Portfolio:
    return Portfolio(list(instruments or (SPOT, PERP)), START, precision)


BUY, SELL = OrderSide.BUY, OrderSide.SELL


# -- construction -----------------------------------------------------------------------------
def test_portfolio_new_has_starting_balance_and_flat_positions() -> None:
    pf = portfolio()
    assert pf.balance == pf.starting_balance == START
    assert pf.equity() == START
    assert all(p.is_flat for p in pf.positions.values())
    assert (pf.fees, pf.funding, pf.realised, pf.fill_count, pf.turnover) == (0, 0, 0, 0, 0)


def test_portfolio_money_precision_below_notional_precision_raises() -> None:
    # SPOT needs 5 decimals (0.01 * 0.001); 4 would make money a float.
    with pytest.raises(ValueError, match="notional precision 5"):
        Portfolio([SPOT], START, 4)


def test_portfolio_money_converts_raw_to_decimal() -> None:
    assert portfolio().money(usd("12.5")) == Decimal("12.5")


# -- spot -------------------------------------------------------------------------------------
def test_portfolio_spot_buy_pays_notional_and_fee() -> None:
    pf = portfolio(SPOT)
    pnl = pf.apply_fill(filled(SPOT, BUY, "0.5", "100", fee="0.05"))
    assert pnl == 0
    assert pf.balance == START - usd("50") - usd("0.05")
    assert pf.positions[SPOT.id].quantity == Decimal("0.5")
    assert (pf.fees, pf.turnover, pf.fill_count) == (usd("0.05"), usd("50"), 1)
    pf.marks[SPOT.id] = SPOT.ticks("110")
    assert pf.equity() == START + usd("5") - usd("0.05")


def test_portfolio_spot_round_trip_balance_moves_by_pnl_minus_fees() -> None:
    pf = portfolio(SPOT)
    pf.apply_fill(filled(SPOT, BUY, "2", "100", fee="0.1", ts=1))
    pnl = pf.apply_fill(filled(SPOT, SELL, "2", "103.5", fee="0.2", ts=2))
    assert pnl == usd("7")
    assert pf.realised == usd("7")
    assert pf.balance == START + usd("7") - usd("0.3")
    assert pf.equity() == pf.balance  # flat: no mark needed
    assert pf.turnover == usd("407")


def test_portfolio_spot_short_receives_notional() -> None:
    pf = portfolio(SPOT)
    pf.apply_fill(filled(SPOT, SELL, "1", "100"))
    assert pf.balance == START + usd("100")
    assert pf.equity_with(SPOT.id, SPOT.ticks("90")) == START + usd("10")


# -- perpetual --------------------------------------------------------------------------------
def test_portfolio_perp_open_moves_balance_by_fee_only() -> None:
    pf = portfolio(PERP)
    pf.apply_fill(filled(PERP, BUY, "3", "2000", fee="0.6"))
    assert pf.balance == START - usd("0.6")
    # unrealised: 3 contracts * 0.1 * (2010 - 2000) = 3
    assert pf.equity_with(PERP.id, PERP.ticks("2010")) == START - usd("0.6") + usd("3")


def test_portfolio_perp_close_credits_realised_pnl() -> None:
    pf = portfolio(PERP)
    pf.apply_fill(filled(PERP, SELL, "3", "2000", fee="0.6", ts=1))
    pnl = pf.apply_fill(filled(PERP, BUY, "1", "1990.5", fee="0.2", ts=2))
    assert pnl == usd("0.95")  # 1 * 0.1 * (2000 - 1990.5)
    assert pf.balance == START + usd("0.95") - usd("0.8")
    assert pf.positions[PERP.id].quantity == Decimal("-2")


def test_portfolio_spot_and_perp_equity_agree_for_same_trades() -> None:
    spot = Instrument("S", price_increment=Decimal("0.5"), size_increment=Decimal("0.01"))
    perp = Instrument("P", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal("0.5"), size_increment=Decimal("0.01"))
    trades = [(BUY, "1.5", "100", "0.1"), (SELL, "0.5", "120", "0.1"), (BUY, "1", "90.5", "0")]
    pfs = [Portfolio([inst], START, PRECISION) for inst in (spot, perp)]
    for pf, inst in zip(pfs, (spot, perp), strict=True):
        for ts, (side, qty, price, fee) in enumerate(trades, start=1):
            pf.apply_fill(filled(inst, side, qty, price, fee=fee, ts=ts))
    spot_eq = pfs[0].equity_with(spot.id, spot.ticks("101"))
    perp_eq = pfs[1].equity_with(perp.id, perp.ticks("101"))
    assert spot_eq == perp_eq
    assert pfs[0].realised == pfs[1].realised == usd("10")  # 0.5 * (120 - 100)
    assert pfs[0].balance != pfs[1].balance  # spot paid cash for the coins


def test_portfolio_funding_credits_balance_and_totals() -> None:
    pf = portfolio(PERP)
    pf.apply_fill(filled(PERP, BUY, "1", "2000"))
    pf.apply_funding(funding(PERP, -usd("0.25")))
    pf.apply_funding(funding(PERP, usd("0.05")))
    assert pf.balance == START - usd("0.2")
    assert pf.funding == pf.positions[PERP.id].funding == -usd("0.2")


# -- valuation helpers ------------------------------------------------------------------------
def test_portfolio_equity_with_restores_previous_marks() -> None:
    pf = portfolio(SPOT)
    pf.apply_fill(filled(SPOT, BUY, "1", "100"))
    assert pf.equity_with(SPOT.id, SPOT.ticks("150")) == START + usd("50")
    assert SPOT.id not in pf.marks
    pf.marks[SPOT.id] = SPOT.ticks("90")
    assert pf.equity_with(SPOT.id, SPOT.ticks("150")) == START + usd("50")
    assert pf.marks[SPOT.id] == SPOT.ticks("90")
    assert pf.equity() == START - usd("10")


def test_portfolio_margin_used_is_init_fraction_of_notional() -> None:
    pf = portfolio(PERP)
    pf.apply_fill(filled(PERP, SELL, "2", "1000"))
    pf.marks[PERP.id] = PERP.ticks("1500")
    assert pf.margin_used() == usd("30")  # 2 * 0.1 * 1500 * 0.1
    assert pf.margin_used(exclude=PERP.id) == 0


@pytest.mark.parametrize(("amount", "rate", "expected"), [
    (1000, Decimal("0.0004"), 0), (1250, Decimal("0.0004"), 0), (3750, Decimal("0.0004"), 2),
    (10_000, Decimal("0.1"), 1000), (7, Decimal("0.5"), 4), (5, Decimal("0.5"), 2),
    (-5, Decimal("0.5"), -2), (3, Decimal("2"), 6), (3, Decimal("1E+1"), 30),
    (100, Decimal("-0.25"), -25), (100, Decimal("0"), 0),
])
def test_fraction_of_rounds_half_even(amount: int, rate: Decimal, expected: int) -> None:
    assert fraction_of(amount, rate) == expected


def test_portfolio_replaying_same_events_gives_same_snapshot() -> None:
    events: list[OrderFilled | FundingApplied] = [
        filled(SPOT, BUY, "0.3", "100", fee="0.01", ts=1),
        filled(PERP, SELL, "2", "2000", fee="0.4", ts=2),
        funding(PERP, 123, 3), filled(SPOT, SELL, "0.5", "101", fee="0.02", ts=4),
        filled(PERP, BUY, "5", "1999.5", fee="0.1", ts=5),
    ]
    snapshots = []
    for _ in range(2):
        pf = portfolio()
        for event in events:
            if isinstance(event, OrderFilled):
                pf.apply_fill(event)
            else:
                pf.apply_funding(event)
        snapshots.append(pf.snapshot())
    assert snapshots[0] == snapshots[1]
    assert snapshots[0]["fill_count"] == 4


# -- conservation properties ------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    inst: Instrument
    side: OrderSide
    lots: int
    ticks: int
    fee: int
    funding: int  # applied after the fill (perpetuals only)


SPOT_FINE = Instrument("ETHUSD", price_increment=Decimal("0.05"), size_increment=Decimal("0.25"),
                       multiplier=Decimal("2"))
INSTRUMENTS = [SPOT, PERP, SPOT_FINE]


def steps_for(instruments: list[Instrument]) -> st.SearchStrategy[list[Step]]:
    step = st.builds(
        Step, inst=st.sampled_from(instruments), side=st.sampled_from([BUY, SELL]),
        lots=st.integers(min_value=1, max_value=5_000),
        ticks=st.integers(min_value=1, max_value=10_000_000),
        fee=st.integers(min_value=-1_000, max_value=1_000_000),
        funding=st.integers(min_value=-100_000, max_value=100_000))
    return st.lists(step, min_size=1, max_size=25)


def run(pf: Portfolio, steps: list[Step]) -> tuple[int, int, int]:
    """Apply the steps; return (sum of returned pnl, fees, funding)."""
    pnl = fees = fund = 0
    for ts, s in enumerate(steps, start=1):
        pnl += pf.apply_fill(filled(s.inst, s.side, s.lots, s.ticks, fee=s.fee, ts=ts))
        fees += s.fee
        if s.inst.is_perpetual and s.funding:
            pf.apply_funding(funding(s.inst, s.funding, ts))
            fund += s.funding
    return pnl, fees, fund


def close_all(pf: Portfolio, ticks: int, fee: int) -> list[Step]:
    """Fills that bring every open position back to flat at ``ticks``."""
    return [Step(pos.instrument, SELL if pos.qty > 0 else BUY, abs(pos.qty), ticks, fee, 0)
            for pos in pf.positions.values() if pos.qty]


instrument_sets = st.sampled_from([[SPOT], [PERP], [SPOT_FINE], INSTRUMENTS])
ticks_st = st.integers(min_value=1, max_value=10_000_000)


@settings(max_examples=150, deadline=None)
@given(instrument_sets, st.data(), st.integers(min_value=0, max_value=3))
def test_portfolio_equity_equals_start_plus_pnl_minus_fees_plus_funding(
    instruments: list[Instrument], data: st.DataObject, extra_precision: int
) -> None:
    precision = max(i.notional_precision for i in instruments) + extra_precision
    pf = Portfolio(instruments, START, precision)
    pnl, fees, fund = run(pf, data.draw(steps_for(instruments)))
    marks = {i.id: data.draw(ticks_st) for i in instruments}
    pf.marks.update(marks)
    unrealised = sum(p.unrealised(marks[iid]) for iid, p in pf.positions.items())
    assert pf.realised == pnl == sum(p.realised for p in pf.positions.values())
    assert pf.fees == fees == sum(p.fees for p in pf.positions.values())
    assert pf.funding == fund == sum(p.funding for p in pf.positions.values())
    assert pf.equity() == START + pf.realised + unrealised - fees + fund


@settings(max_examples=150, deadline=None)
@given(instrument_sets, st.data())
def test_portfolio_flat_balance_change_equals_realised_minus_fees_plus_funding(
    instruments: list[Instrument], data: st.DataObject
) -> None:
    pf = Portfolio(instruments, START, max(i.notional_precision for i in instruments))
    _, fees, fund = run(pf, data.draw(steps_for(instruments)))
    closing = close_all(pf, data.draw(ticks_st), data.draw(st.integers(0, 10_000)))
    _, close_fees, _ = run(pf, closing)
    assert all(p.is_flat for p in pf.positions.values())
    assert pf.equity() == pf.balance
    assert pf.balance - START == pf.realised - (fees + close_fees) + fund


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(INSTRUMENTS), st.data())
def test_portfolio_flat_realised_equals_sum_of_signed_cash_flows(
    inst: Instrument, data: st.DataObject
) -> None:
    pf = Portfolio([inst], START, inst.notional_precision + 2)
    steps = data.draw(steps_for([inst]))
    run(pf, steps)
    closing = close_all(pf, data.draw(ticks_st), 0)
    run(pf, closing)
    pos = pf.positions[inst.id]
    assert pos.is_flat
    cash = sum((-1 if s.side is BUY else 1) * pos.money(s.lots * s.ticks)
               for s in [*steps, *closing])
    assert pos.realised == pf.realised == cash
