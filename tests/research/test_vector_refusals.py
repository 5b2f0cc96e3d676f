"""The vectorised path refuses what it does not model, by name, and sweeps agree with
single runs while sharing indicator work."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from heron.analytics.indicators import sma
from heron.errors import InvalidConfiguration
from heron.research.signals import IndicatorCache, Signals
from heron.research.vector import BarArrays, Costs, run_vectorised, supports, sweep
from heron.strategy.library.grid import Grid
from heron.strategy.library.mean_reversion import MeanReversion
from heron.strategy.library.momentum import Momentum
from heron.strategy.library.sma_cross import SmaCross

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


@pytest.fixture(scope="module")
def bars() -> BarArrays:
    return BarArrays.from_file(DATA)


def test_supports_the_library_strategies_that_declare_signals() -> None:
    assert supports(SmaCross) and supports(Momentum) and supports(MeanReversion)
    assert not supports(Grid)


def test_a_strategy_without_signals_is_refused_by_name(bars: BarArrays) -> None:
    with pytest.raises(InvalidConfiguration, match="grid declares no vector_signals"):
        run_vectorised(bars, Grid, {}, Costs())


@pytest.mark.parametrize(("costs", "name"), [
    (Costs(volume_share=0.1), "volume_share"),
    (Costs(funding="funding.csv"), "funding"),
    (Costs(risk={"max_position": 1}), "risk"),
    (Costs(tick_size=0.5), "tick_size"),
    (Costs(kind="perp"), "maintenance_margin"),
    (Costs(fill="mid"), "fill"),
    (Costs(kind="option"), "kind"),
    (Costs(fee_bps=-1.0), "fee_bps"),
    (Costs(cash=0.0), "cash"),
])
def test_options_it_cannot_model_are_refused_by_name(bars: BarArrays, costs: Costs,
                                                     name: str) -> None:
    with pytest.raises(InvalidConfiguration, match=name):
        run_vectorised(bars, SmaCross, {}, costs)
    with pytest.raises(InvalidConfiguration, match=name):
        sweep(bars, SmaCross, [{}], costs)


def test_bad_parameters_are_the_strategys_own_errors(bars: BarArrays) -> None:
    with pytest.raises(InvalidConfiguration, match=r"fast .* must be below slow"):
        run_vectorised(bars, SmaCross, {"fast": 50, "slow": 10}, Costs())
    with pytest.raises(InvalidConfiguration, match="not a multiple of the lot size"):
        run_vectorised(bars, SmaCross, {"quantity": "0.000000015"}, Costs())


def test_a_window_too_short_is_refused(bars: BarArrays) -> None:
    with pytest.raises(InvalidConfiguration, match="holds 1 bars"):
        bars.window(int(bars.ts[10]), int(bars.ts[11]))


def test_a_sweep_gives_each_combination_its_single_run_figures(bars: BarArrays) -> None:
    grid = [{"fast": f, "slow": s} for f in (5, 10, 20) for s in (50, 100)]
    costs = Costs(fill="close", fee_bps=5.0)
    rows = sweep(bars, SmaCross, grid, costs)
    assert [r.params["fast"] for r in rows] == [5, 5, 10, 10, 20, 20]
    for row, params in zip(rows, grid, strict=True):
        single = run_vectorised(bars, SmaCross, params, costs)
        assert row.trades == single.trades
        assert row.final_equity == single.final_equity
        assert row.max_drawdown_pct == pytest.approx(single.metrics.max_drawdown_pct, rel=1e-12)
        assert row.fees == pytest.approx(single.fees, rel=1e-12)
    assert len({r.trades for r in rows}) > 3  # the combinations really differ


def test_a_sweep_computes_each_indicator_once(bars: BarArrays) -> None:
    cache = IndicatorCache(bars)
    for fast in (5, 10, 20):
        for slow in (50, 100):
            SmaCross.vector_signals(bars, SmaCross(fast=fast, slow=slow).param_values, cache)
    assert cache.computed == 5  # three fast and two slow periods
    np.testing.assert_array_equal(cache(sma, 10), sma(bars.close, 10))
    with pytest.raises(ValueError, match="read-only"):
        cache(sma, 10)[100] = 0.0


class BoolSmaCross(SmaCross):
    """sma_cross declaring its rules as boolean arrays (the general Signals form)."""

    name = "bool_sma_cross"

    @classmethod
    def vector_signals(cls, bars: BarArrays, params: Mapping[str, Any],
                       indicators: IndicatorCache) -> Signals:  # type: ignore[override]
        return SmaCross.vector_signals(bars, params, indicators).to_signals()


@pytest.mark.parametrize("params", [{"fast": 10, "slow": 50},
                                    {"fast": 10, "slow": 50, "mode": "long-short"}])
@pytest.mark.parametrize("fill", ["next-open", "close"])
def test_boolean_signals_give_the_same_run_as_levels(bars: BarArrays, params: dict[str, Any],
                                                     fill: str) -> None:
    costs = Costs(fill=fill, kind="perp", maintenance_margin=0.0)
    levels = run_vectorised(bars, SmaCross, params, costs)
    flags = run_vectorised(bars, BoolSmaCross, params, costs)
    assert flags.trades == levels.trades > 100
    np.testing.assert_array_equal(flags.equity, levels.equity)
    np.testing.assert_array_equal(flags.trips.entry_ts, levels.trips.entry_ts)


def test_costs_from_a_config_carry_its_unmodelled_options_to_be_refused(
        bars: BarArrays) -> None:
    import msgspec

    from heron.cli.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "sma_cross.toml")
    assert config.kind == "perp"  # liquidates at the engine's maintenance margin
    with pytest.raises(InvalidConfiguration, match="maintenance_margin"):
        run_vectorised(bars, SmaCross, config.params, Costs.from_config(config))
    spot = msgspec.structs.replace(config, kind="spot", leverage=None)
    costs = Costs.from_config(spot)
    assert (costs.cash, costs.fee_bps, costs.slippage_bps, costs.fill, costs.kind) == (
        100_000.0, 4.0, 1.0, "next-open", "spot")
    assert run_vectorised(bars, SmaCross, spot.params, costs).trades > 0
    capped = Costs.from_config(msgspec.structs.replace(spot, volume_share="0.1"))
    with pytest.raises(InvalidConfiguration, match="volume_share"):
        run_vectorised(bars, SmaCross, config.params, capped)
