"""Sizing helpers: exact lots, rounded down, minimums and caps, bad input named."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heron.errors import InputError
from heron.model.instrument import Instrument, InstrumentKind
from heron.strategy.sizing import (
    Sized,
    fixed_fractional,
    kelly,
    kelly_from_moments,
    volatility_from_atr,
    volatility_from_returns,
    volatility_target,
)

BTC = Instrument("BTCUSDT", "BINANCE", price_increment=Decimal("0.1"),
                 size_increment=Decimal("0.001"), min_quantity=Decimal("0.001"),
                 min_notional=Decimal("5"))
D = Decimal


def test_fixed_fractional_exact_risk_gives_exact_lots() -> None:
    # 1% of 10,000 = 100 at risk; a 100 stop -> 1 BTC = 1000 lots of 0.001
    sized = fixed_fractional(BTC, equity=D("10000"), price=D("50000"), stop_distance=D("100"),
                             fraction=D("0.01"))
    assert sized == Sized(1000, D("1.000"), "")
    assert sized


def test_fixed_fractional_between_lots_rounds_down() -> None:
    # 100 / 300 = 0.3333.. BTC -> 333 lots, never 334 (more risk than asked)
    sized = fixed_fractional(BTC, equity=D("10000"), price=D("50000"), stop_distance=D("300"),
                             fraction=D("0.01"))
    assert sized.lots == 333
    assert sized.quantity == D("0.333")
    # one unit of money more would still not reach the next lot: 334 lots need 100.2
    assert fixed_fractional(BTC, equity=D("10019.99"), price=D("50000"), stop_distance=D("300"),
                            fraction=D("0.01")).lots == 333
    assert fixed_fractional(BTC, equity=D("10020"), price=D("50000"), stop_distance=D("300"),
                            fraction=D("0.01")).lots == 334


def test_fixed_fractional_below_one_lot_is_zero_with_reason() -> None:
    sized = fixed_fractional(BTC, equity=D("10"), price=D("50000"), stop_distance=D("500"),
                             fraction=D("0.01"))
    assert sized == Sized(0, D("0.000"), "less than one lot (0.001)")
    assert not sized


def test_fixed_fractional_below_min_notional_is_zero_with_reason() -> None:
    # 4 lots = 0.004 at 1000 = 4 notional < 5
    sized = fixed_fractional(BTC, equity=D("400"), price=D("1000"), stop_distance=D("10"),
                             fraction=D("0.0001"))
    assert sized.lots == 0
    assert sized.reason == "notional 4 is below the minimum notional 5"
    # 5 lots = exactly 5 notional: allowed (the minimum is inclusive)
    assert fixed_fractional(BTC, equity=D("500"), price=D("1000"), stop_distance=D("10"),
                            fraction=D("0.0001")).lots == 5


def test_fixed_fractional_below_min_quantity_is_zero_with_reason() -> None:
    inst = Instrument("ETHUSDT", "BINANCE", size_increment=D("0.001"), min_quantity=D("0.01"))
    sized = fixed_fractional(inst, equity=D("1000"), price=D("2000"), stop_distance=D("20"),
                             fraction=D("0.0001"))   # 0.1 / 20 = 0.005 < 0.01
    assert sized.lots == 0
    assert sized.reason == "0.005 is below the minimum quantity 0.01"


def test_fixed_fractional_max_leverage_caps_notional() -> None:
    # tight stop: 100 / 1 = 100 BTC (5,000,000 notional); leverage 2 -> 20,000 = 0.4 BTC
    sized = fixed_fractional(BTC, equity=D("10000"), price=D("50000"), stop_distance=D("1"),
                             fraction=D("0.01"), max_leverage=D("2"))
    assert sized.lots == 400
    assert sized.reason == "capped at max_leverage 2 (400 lots)"


def test_fixed_fractional_uses_the_contract_multiplier() -> None:
    perp = Instrument("BTC-PERP", "SIM", kind=InstrumentKind.LINEAR_PERPETUAL,
                      size_increment=D("1"), multiplier=D("0.001"))
    # each contract moves 0.001 * 100 = 0.1 per 100 stop: 100 risk -> 1000 contracts
    sized = fixed_fractional(perp, equity=D("10000"), price=D("50000"), stop_distance=D("100"),
                             fraction=D("0.01"))
    assert sized.lots == 1000


@given(equity=st.decimals(min_value=D("1"), max_value=D("1e9"), places=2),
       stop=st.decimals(min_value=D("0.1"), max_value=D("5000"), places=1),
       bps=st.integers(min_value=1, max_value=10000))
def test_fixed_fractional_is_the_floor_of_the_exact_ratio(equity: Decimal, stop: Decimal,
                                                          bps: int) -> None:
    fraction = D(bps) / D(10000)
    sized = fixed_fractional(BTC, equity=equity, price=D("50000"), stop_distance=stop,
                             fraction=fraction)
    risk = Fraction(equity) * Fraction(fraction)
    per_lot = Fraction(stop) * Fraction(BTC.size_increment)
    if sized.lots:
        assert sized.lots * per_lot <= risk < (sized.lots + 1) * per_lot
    else:
        assert sized.reason


def test_volatility_target_scales_notional_by_target_over_vol() -> None:
    # 10,000 * 0.2 / 0.4 = 5,000 notional at 50,000 = 0.1 BTC
    sized = volatility_target(BTC, equity=D("10000"), price=D("50000"), target_vol=0.2,
                              volatility=0.4)
    assert sized.lots == 100
    capped = volatility_target(BTC, equity=D("10000"), price=D("50000"), target_vol=0.5,
                               volatility=0.05, max_leverage=D("3"))
    assert (capped.lots, capped.reason) == (600, "capped at max_leverage 3 (600 lots)")


def test_volatility_estimates_match_numpy() -> None:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.01, 500)
    assert volatility_from_returns(returns, periods_per_year=365) == pytest.approx(
        np.std(returns, ddof=1) * math.sqrt(365), rel=1e-12)
    assert volatility_from_atr(D("500"), D("50000"), periods_per_year=365) == pytest.approx(
        0.01 * math.sqrt(365), rel=1e-12)


def test_kelly_from_win_rate_and_payoff() -> None:
    # f* = 0.6 - 0.4 / 1 = 0.2; half Kelly 0.1 of 10,000 = 1,000 at 100 -> 10 units
    inst = Instrument("SOLUSDT", "BINANCE", size_increment=D("0.01"))
    sized = kelly(inst, equity=D("10000"), price=D("100"), win_rate=0.6, payoff_ratio=1.0)
    assert (sized.lots, sized.reason) == (1000, "")


def test_kelly_is_capped_and_says_so() -> None:
    inst = Instrument("SOLUSDT", "BINANCE", size_increment=D("0.01"))
    # f* = 0.9 - 0.1 / 2 = 0.85; half = 0.425 > cap 0.25 -> 2,500 at 100 = 25 units
    sized = kelly(inst, equity=D("10000"), price=D("100"), win_rate=0.9, payoff_ratio=2.0)
    assert sized.lots == 2500
    assert sized.reason == "capped at 0.25 of equity (Kelly asked 0.425)"


def test_kelly_without_edge_is_zero() -> None:
    sized = kelly(BTC, equity=D("10000"), price=D("100"), win_rate=0.4, payoff_ratio=1.0)
    assert sized == Sized(0, D("0.000"), "no edge: the Kelly fraction is -0.2 (<= 0)")


def test_kelly_from_moments_caps_leverage() -> None:
    inst = Instrument("SOLUSDT", "BINANCE", size_increment=D("0.01"))
    # f* = 0.001 / 0.0004 = 2.5 (a leverage); quarter Kelly 0.625 -> 6,250 at 100
    sized = kelly_from_moments(inst, equity=D("10000"), price=D("100"), mean=0.001,
                               variance=0.0004, fraction=D("0.25"))
    assert (sized.lots, sized.reason) == (6250, "")
    capped = kelly_from_moments(inst, equity=D("10000"), price=D("100"), mean=0.001,
                                variance=0.0004)
    assert capped.lots == 10000
    assert capped.reason.startswith("capped at 1 of equity")


@pytest.mark.parametrize(("call", "argument"), [
    (lambda: fixed_fractional(BTC, equity=D(1000), price=D(100), stop_distance=D(1),
                              fraction=D("-0.01")), "fraction"),
    (lambda: fixed_fractional(BTC, equity=D(1000), price=D(100), stop_distance=D(0),
                              fraction=D("0.01")), "stop_distance"),
    (lambda: fixed_fractional(BTC, equity=-1, price=D(100), stop_distance=D(1),
                              fraction=D("0.01")), "equity"),
    (lambda: fixed_fractional(BTC, equity=1000.0, price=D(100), stop_distance=D(1),
                              fraction=D("0.01")), "equity"),
    (lambda: fixed_fractional(BTC, equity=D(1000), price=D(100), stop_distance=D(1),
                              fraction=D("0.01"), max_leverage=D(0)), "max_leverage"),
    (lambda: kelly(BTC, equity=D(1000), price=D(100), win_rate=0.6, payoff_ratio=1.0,
                   cap=D("1.5")), "cap"),
    (lambda: kelly(BTC, equity=D(1000), price=D(100), win_rate=1.0, payoff_ratio=1.0),
     "win_rate"),
    (lambda: kelly(BTC, equity=D(1000), price=D(100), win_rate=0.6, payoff_ratio=-1.0),
     "payoff_ratio"),
    (lambda: kelly_from_moments(BTC, equity=D(1000), price=D(100), mean=0.1, variance=0.0),
     "variance"),
    (lambda: volatility_target(BTC, equity=D(1000), price=D(0), target_vol=0.2,
                               volatility=0.3), "price"),
    (lambda: volatility_target(BTC, equity=D(1000), price=D(100), target_vol=0.2,
                               volatility=float("nan")), "volatility"),
    (lambda: volatility_from_returns([0.01], periods_per_year=365), "returns"),
])
def test_sizing_bad_input_names_the_argument(call: object, argument: str) -> None:
    with pytest.raises(InputError, match=rf"\b{argument}\b"):
        call()  # type: ignore[operator]
