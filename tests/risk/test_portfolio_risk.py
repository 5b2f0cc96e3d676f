"""Portfolio risk: correlation vs numpy on real bars, concentration, every limit's breach."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from numpy.typing import NDArray

from heron.core.clock import SimClock
from heron.core.kernel import Kernel
from heron.data.bars import read_bars
from heron.errors import InputError
from heron.model.events import TradingStateChanged
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.portfolio import Portfolio
from heron.risk.portfolio_risk import (
    Breach,
    PortfolioLimits,
    PortfolioRiskMonitor,
    RiskSnapshot,
    concentration,
    exposures_of,
    rolling_correlation,
)
from heron.risk.state import RunState, TradingMachine
from heron.risk.var import garch_t_var_es

D = Decimal
BARS = Path(__file__).parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
SHARED = Path(__file__).parents[3] / "shared" / "data" / "bars"


@pytest.fixture(scope="module")
def btc() -> pl.DataFrame:
    return read_bars(BARS).frame


def _returns(prices: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(prices[1:] / prices[:-1] - 1.0, dtype=np.float64)


def _check_against_corrcoef(returns: NDArray[np.float64], window: int) -> None:
    rolled = rolling_correlation(returns, window)
    assert rolled.shape == (returns.shape[0] - window + 1, returns.shape[1], returns.shape[1])
    for k in (0, rolled.shape[0] // 2, rolled.shape[0] - 1):
        expected = np.corrcoef(returns[k:k + window].T)
        np.testing.assert_allclose(rolled[k], expected, rtol=1e-10, atol=1e-12)


def test_rolling_correlation_equals_corrcoef_on_bundled_bars(btc: pl.DataFrame) -> None:
    # two real series of the bundled file: close-to-close and high-to-high returns
    returns = np.column_stack([_returns(btc["close"].to_numpy()),
                               _returns(btc["high"].to_numpy())])
    _check_against_corrcoef(returns, 240)


def test_rolling_correlation_equals_corrcoef_on_shared_pairs() -> None:
    eth, ltc = SHARED / "freqtrade_ETH_BTC_5m_2018-01.feather", \
        SHARED / "freqtrade_LTC_BTC_5m_2018-01.feather"
    if not (eth.exists() and ltc.exists()):
        pytest.skip(f"shared bars absent: {eth.parent}")
    joined = read_bars(eth).frame.select("ts", "close").join(
        read_bars(ltc).frame.select("ts", "close"), on="ts", how="inner", suffix="_ltc")
    returns = np.column_stack([_returns(joined["close"].to_numpy()),
                               _returns(joined["close_ltc"].to_numpy())])
    _check_against_corrcoef(returns, 288)   # one day of 5-minute bars


def test_rolling_correlation_of_a_flat_series_is_nan() -> None:
    data = np.column_stack([np.linspace(0, 1, 30), np.zeros(30)])
    assert np.isnan(rolling_correlation(data, 10)[-1, 0, 1])


def test_concentration_largest_share_and_herfindahl_are_exact() -> None:
    conc = concentration({"A": D("600"), "B": D("-300"), "C": D("100"), "D": D("0")})
    assert conc is not None
    assert (conc.gross, conc.largest) == (D("1000"), "A")
    assert conc.largest_share == Fraction(3, 5)
    assert conc.herfindahl == Fraction(46, 100)   # 0.36 + 0.09 + 0.01
    assert concentration({"A": D("0")}) is None


EXPOSURES = {"A.SIM": D("600"), "B.SIM": D("-300"), "C.SIM": D("100")}


@pytest.mark.parametrize(("table", "expected"), [
    ({"max_concentration": 0.5},
     [("A.SIM is 0.6 of gross exposure, above portfolio.max_concentration 0.5",
       "max_concentration", "0.6")]),
    ({"max_concentration": 0.6}, []),   # at the limit: allowed
    ({"max_herfindahl": 0.45},
     [("Herfindahl index 0.46, above portfolio.max_herfindahl 0.45", "max_herfindahl",
       "0.46")]),
    ({"max_herfindahl": 0.46}, []),
])
def test_concentration_limits_breach_with_exact_reason(
        table: dict[str, Any], expected: list[tuple[str, str, str]]) -> None:
    monitor = PortfolioRiskMonitor(PortfolioLimits.from_table(table))
    breaches = monitor.evaluate(RiskSnapshot(D("1000"), EXPOSURES))
    assert [(b.trigger, b.reason, b.evidence["limit"], b.evidence["value"]) for b in breaches] \
        == [("portfolio_risk", *row) for row in expected]
    for breach in breaches:
        assert breach.evidence["largest"] == "A.SIM"
        assert breach.evidence["gross"] == "1000"
        assert breach.evidence["positions"] == "3"


def _var_reason(method: str, label: str, value: float, limit: str, key: str) -> str:
    return f"{method} {label} at 0.99 is {value:.6g} of equity, above portfolio.{key} {limit}"


@pytest.mark.parametrize("side", [1, -1])
def test_historical_var_and_es_limits_on_real_bars(btc: pl.DataFrame, side: int) -> None:
    close = btc["close"].to_numpy()
    pnl = side * 2 * _returns(close[-1001:])   # notional twice the equity
    var = float(np.quantile(-pnl, 0.99))
    losses = -pnl
    es = float(losses[losses >= var].mean())
    snap = RiskSnapshot(D("5000"), {"BTC.SIM": D(side * 10000)}, {"BTC.SIM": close})

    tight = PortfolioLimits.from_table({"window": 1000, "max_var": 0.001, "max_es": 0.002})
    breaches = PortfolioRiskMonitor(tight).evaluate(snap)
    assert [b.reason for b in breaches] == [
        _var_reason("historical", "VaR", var, "0.001", "max_var"),
        _var_reason("historical", "ES", es, "0.002", "max_es")]
    assert breaches[0].evidence["observations"] == "1000"
    assert float(breaches[0].evidence["var"]) == pytest.approx(var, rel=1e-12)

    loose = PortfolioLimits.from_table({"window": 1000, "max_var": 0.5, "max_es": 0.5})
    monitor = PortfolioRiskMonitor(loose)
    assert monitor.evaluate(snap) == []
    assert float(monitor.last["historical_var"]) == pytest.approx(var, rel=1e-12)


def test_garch_var_limit_uses_the_garch_t_forecast(btc: pl.DataFrame) -> None:
    close = btc["close"].to_numpy()
    snap = RiskSnapshot(D("10000"), {"BTC.SIM": D("10000")}, {"BTC.SIM": close})
    limits = PortfolioLimits.from_table({"window": 2000, "var_method": "garch",
                                         "max_var": 0.0001, "garch_refit_every": 3})
    monitor = PortfolioRiskMonitor(limits)
    expected = garch_t_var_es(_returns(close[-2001:]), 0.99)
    first = monitor.evaluate(snap)
    assert [b.reason for b in first] == [
        _var_reason("garch_t", "VaR", expected.var, "0.0001", "max_var")]
    assert first[0].evidence["method"] == "garch_t"
    # between refits the same data is re-filtered with the same parameters: same figure
    assert monitor.evaluate(snap) == first
    assert monitor.last["garch_converged"] == "true"


def test_correlation_limit_depends_on_position_signs(btc: pl.DataFrame) -> None:
    close, high = btc["close"].to_numpy(), btc["high"].to_numpy()
    corr = float(np.corrcoef(_returns(close[-501:]), _returns(high[-501:]))[0, 1])
    assert corr > 0.3
    prices = {"BTC.SIM": close, "BTCH.SIM": high}
    limits = PortfolioLimits.from_table({"window": 500, "max_correlation": 0.3})
    both_long = PortfolioRiskMonitor(limits).evaluate(
        RiskSnapshot(D("10000"), {"BTC.SIM": D("5000"), "BTCH.SIM": D("5000")}, prices))
    assert [b.reason for b in both_long] == [
        f"BTC.SIM and BTCH.SIM correlate {corr:.4f} (position-signed {corr:.4f}), "
        f"above portfolio.max_correlation 0.3"]
    assert both_long[0].evidence["pair"] == "BTC.SIM,BTCH.SIM"
    hedged = PortfolioRiskMonitor(limits).evaluate(
        RiskSnapshot(D("10000"), {"BTC.SIM": D("5000"), "BTCH.SIM": D("-5000")}, prices))
    assert hedged == []


def test_too_little_history_skips_var_and_says_so(btc: pl.DataFrame) -> None:
    close = btc["close"].to_numpy()[:50]
    monitor = PortfolioRiskMonitor(PortfolioLimits.from_table({"max_var": 0.0001}))
    assert monitor.evaluate(RiskSnapshot(D("1"), {"BTC.SIM": D("1")}, {"BTC.SIM": close})) == []
    assert monitor.last["skipped"] == "49 returns, fewer than min_observations 100"


def test_exposures_of_portfolio_are_exact_signed_notionals() -> None:
    inst = Instrument("BTC-PERP", "SIM", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=D("0.5"), size_increment=D("0.001"))
    pf = Portfolio([inst], 10**12, 8)
    pf.positions[inst.id].qty = -1500          # -1.5 BTC (lots)
    pf.marks[inst.id] = inst.ticks("40000.5")
    assert exposures_of(pf) == {inst.id: D("-60000.75")}


@pytest.mark.parametrize(("table", "message"), [
    ({"max_varr": 0.1}, "unknown key portfolio.max_varr"),
    ({"max_var": -0.1}, r"portfolio.max_var must be in \(0, 1\]"),
    ({"max_concentration": 1.5}, r"portfolio.max_concentration must be in \(0, 1\]"),
    ({"max_es": "5%"}, "portfolio.max_es must be a number"),
    ({"confidence": 99}, r"portfolio.confidence must be in \(0.5, 1\)"),
    ({"window": 10}, "portfolio.window must be a whole number >= 20"),
    ({"garch_refit_every": 1.5}, "portfolio.garch_refit_every must be a whole number"),
    ({"var_method": "monte_carlo"}, "portfolio.var_method = 'monte_carlo'"),
    ({"max_var": 0.05, "max_es": 0.04}, "portfolio.max_es 0.04 is below portfolio.max_var"),
    ({"window": 50, "min_observations": 60}, "portfolio.min_observations 60 exceeds"),
])
def test_portfolio_limits_refuse_bad_tables_naming_the_key(table: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(InputError, match=message):
        PortfolioLimits.from_table(table)


def test_portfolio_limits_read_fractions_as_written() -> None:
    limits = PortfolioLimits.from_table({"max_var": 0.1, "max_es": 1, "confidence": 0.975})
    assert (limits.max_var, limits.max_es, limits.confidence) == (D("0.1"), D("1"), 0.975)
    assert limits.max_concentration is None


def test_monitor_on_the_kernel_timer_feeds_the_trading_machine() -> None:
    clock = SimClock(0)
    kernel = Kernel(clock)
    records: list[TradingStateChanged] = []
    machine = TradingMachine(now=clock.now, record=records.append)
    machine.start()
    monitor = PortfolioRiskMonitor(PortfolioLimits.from_table({"max_concentration": 0.5}))
    fired: list[Breach] = []

    def fire(trigger: str, reason: str, evidence: dict[str, str]) -> bool:
        fired.append(Breach(trigger, reason, evidence))
        return machine.fire(trigger, reason, evidence)

    monitor.attach(kernel.schedule, start=60, every=60,
                   snapshot=lambda: RiskSnapshot(D("1000"), EXPOSURES), fire=fire)
    kernel.run_due(179)
    assert monitor.evaluations == 2 and len(fired) == 2
    assert machine.state is RunState.DEGRADED
    assert [(r.to_state, r.trigger, r.reason) for r in records][1:] == [(
        "DEGRADED", "portfolio_risk",
        "A.SIM is 0.6 of gross exposure, above portfolio.max_concentration 0.5")]
    with pytest.raises(InputError, match="interval must be positive"):
        monitor.attach(kernel.schedule, start=0, every=0,
                       snapshot=lambda: RiskSnapshot(D("1"), {}), fire=fire)


def test_garch_on_a_flat_series_is_skipped_not_raised() -> None:
    flat = np.full(400, 100.0)
    limits = PortfolioLimits.from_table({"window": 300, "var_method": "both", "max_var": 0.01})
    monitor = PortfolioRiskMonitor(limits)
    assert monitor.evaluate(RiskSnapshot(D("1"), {"X.SIM": D("1")}, {"X.SIM": flat})) == []
    assert monitor.last["garch_skipped"] == "300 returns, variance 0"
    assert monitor.last["historical_var"] == "0.0"
    with pytest.raises(InputError, match=r"portfolio\.window 100 is too short"):
        PortfolioLimits.from_table({"window": 100, "var_method": "garch"})
