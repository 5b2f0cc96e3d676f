"""Slippage (takers only, rounded to the tick against the taker) and exact fees."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from simkit import Scripted, fills, frame, run

from heron.model.instrument import Instrument, InstrumentKind
from heron.node.backtest import BacktestEngine
from heron.node.bar_series import bar_series
from heron.venues.sim.config import SimVenueConfig

D = Decimal  # expected values read better short

FLAT = ("100.00", "100.00", "100.00", "100.00")
ODD = ("100.05", "100.05", "100.05", "100.05")


# -- slippage ------------------------------------------------------------------------------
def test_slippage_buy_fills_above_rounded_up_to_tick() -> None:
    # 100.05 * 1.001 = 100.15005 -> next tick up 100.16; fee 10 bps of 100.16
    result, _ = run([FLAT, ODD], {0: lambda s: s.buy(size="1")}, slippage_bps="10")

    assert fills(result) == [(1, "buy", D("1"), D("100.16"), D("0.10016"), "taker")]


def test_slippage_sell_fills_below_rounded_down_to_tick() -> None:
    # 100.05 * 0.999 = 99.94995 -> next tick down 99.94
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1")}
    result, _ = run([FLAT, FLAT, ODD], script, slippage_bps="10")

    assert fills(result)[1] == (2, "sell", D("1"), D("99.94"), D("0.09994"), "taker")


def test_slippage_on_tick_needs_no_rounding() -> None:
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1")}
    result, _ = run([FLAT, FLAT, FLAT], script, slippage_bps="10")

    assert [f[3] for f in fills(result)] == [D("100.10"), D("99.90")]


def test_slippage_applies_to_fill_close() -> None:
    result, _ = run([ODD], {0: lambda s: s.buy(size="1")}, slippage_bps="10", fill="close")

    assert fills(result)[0][3] == D("100.16")


def test_slippage_applies_to_stop_fill() -> None:
    # buy stop at 102.00 -> 102.102 -> 102.11
    bars = [FLAT, ("100.00", "103.00", "99.50", "102.50")]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", trigger="102.00")}, slippage_bps="10")

    assert fills(result) == [(1, "buy", D("1"), D("102.11"), D("0.10211"), "taker")]


def test_slippage_never_applies_to_maker_fill() -> None:
    bars = [FLAT, ("100.00", "100.20", "98.50", "99.00")]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="99.50")}, slippage_bps="50")

    assert fills(result) == [(1, "buy", D("1"), D("99.50"), D("0.0995"), "maker")]


def test_slippage_never_fills_a_marketable_limit_beyond_its_limit() -> None:
    # arrives at 100.05 under a 100.10 limit; 10 bps would make it 100.16: capped at 100.10
    bars = [FLAT, ODD]
    result, _ = run(bars, {0: lambda s: s.buy(size="1", price="100.10")}, slippage_bps="10")

    assert fills(result) == [(1, "buy", D("1"), D("100.10"), D("0.1001"), "taker")]


def test_slippage_marketable_limit_within_limit_slips_normally() -> None:
    result, _ = run([FLAT, ODD], {0: lambda s: s.buy(size="1", price="100.50")},
                    slippage_bps="10")

    assert fills(result)[0][3] == D("100.16")


def test_slippage_never_fills_a_marketable_sell_limit_below_its_limit() -> None:
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1", price="100.00")}
    result, _ = run([FLAT, FLAT, ODD], script, slippage_bps="10")

    assert fills(result)[1][3] == D("100.00")


# -- fees --------------------------------------------------------------------------------------
def test_fee_is_exact_decimal_rounded_half_even_to_money_precision() -> None:
    # 0.333 * 100.07 = 33.32331; 7.5 bps: 0.00075 * 33.32331 = 0.0249924825, which
    # rounds half-even at the run's 8 money decimals to 0.02499248
    bars = [FLAT, ("100.07", "100.07", "100.07", "100.07")]
    result, _ = run(bars, {0: lambda s: s.buy(size="0.333")}, fee_bps="7.5")

    assert fills(result) == [(1, "buy", D("0.333"), D("100.07"), D("0.02499248"), "taker")]
    pf = result.engine.portfolio
    assert pf.money(pf.fees) == D("0.02499248")
    assert pf.money(pf.balance) == D("10000") - D("33.32331") - D("0.02499248")


def test_zero_fee_bps_charges_nothing() -> None:
    result, _ = run([FLAT, FLAT], {0: lambda s: s.buy(size="1")}, fee_bps="0")

    assert fills(result)[0][4] == D("0")


def test_fees_accumulate_over_fills() -> None:
    script = {0: lambda s: s.buy(size="1"), 1: lambda s: s.sell(size="1")}
    bars = [FLAT, FLAT, ("101.00", "101.00", "101.00", "101.00")]
    result, _ = run(bars, script)

    pf = result.engine.portfolio
    assert pf.money(pf.fees) == D("0.1") + D("0.101")
    assert result.final_equity == D("10000") + D("1") - D("0.201")


def _engine_with_fees(maker: str, taker: str, strategy: Scripted,
                      rows: list[tuple[str, str, str, str]]) -> BacktestEngine:
    inst = Instrument(symbol="TEST", kind=InstrumentKind.SPOT, price_increment=D("0.01"),
                      size_increment=D("0.001"), maker_fee=D(maker), taker_fee=D(taker))
    bars: pl.DataFrame = frame(rows)
    engine = BacktestEngine(series=[bar_series(bars, inst, "test")], strategies=[strategy],
                            cash=D("10000"), venue=SimVenueConfig())
    engine.run()
    return engine


def test_maker_and_taker_fees_differ_per_instrument() -> None:
    # heron.backtest sets one fee_bps for both; the venue charges the instrument's own
    # maker and taker fees when the config does not override them.
    rows = [FLAT, ("100.00", "100.20", "98.50", "99.00"), FLAT]
    def both(s: Scripted) -> None:
        s.buy(size="1", price="99.50")
        s.buy(size="2")

    strat = Scripted({0: both})
    engine = _engine_with_fees("0.0002", "0.0005", strat, rows)

    got = {(f.liquidity, f.last_qty, f.last_px, f.fee) for f in strat.fills}
    pf = engine.portfolio
    # taker: 2 * 100.00 * 5 bps = 0.1; maker: 1 * 99.50 * 2 bps = 0.0199
    assert got == {("taker", 2000, 10000, int(D("0.1").scaleb(pf.money_precision))),
                   ("maker", 1000, 9950, int(D("0.0199").scaleb(pf.money_precision)))}
    assert pf.money(pf.fees) == D("0.1199")


def test_negative_maker_fee_is_a_rebate() -> None:
    rows = [FLAT, ("100.00", "100.20", "98.50", "99.00")]
    strat = Scripted({0: lambda s: s.buy(size="1", price="99.50")})
    engine = _engine_with_fees("-0.0001", "0.0005", strat, rows)

    pf = engine.portfolio
    assert pf.money(strat.fills[0].fee) == D("-0.00995")
    assert pf.money(pf.balance) == D("10000") - D("99.50") + D("0.00995")
