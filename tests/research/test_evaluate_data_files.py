"""Configs with ``[data_files]`` (the two-instrument ``pairs`` strategy) in research runs:
every file is cut to the trial's window (no look-ahead through the second instrument),
and examples/pairs.toml optimises as it is. The pairs bars are freqtrade's GPL test data,
read from ../shared/data; the tests skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import msgspec
import polars as pl
import pytest

from heron.cli.config import BacktestConfig
from heron.data.bars import read_bars
from heron.research.evaluate import TrialSpec, data_span, evaluate
from heron.research.executors import SerialExecutor
from heron.research.optimize import optimize
from heron.research.study_config import load_research_config

ROOT = Path(__file__).resolve().parents[2]
BARS = ROOT.parent / "shared" / "data" / "bars"
ETH = BARS / "freqtrade_ETH_BTC_5m_2018-01.feather"
LTC = BARS / "freqtrade_LTC_BTC_5m_2018-01.feather"
DAY = 86_400 * 10**9
PARAMS = {"formation": 288, "refit": 48, "lookback": 96, "entry": 1.5, "exit": 0.5,
          "coint_lags": 1, "pvalue": 0.5}

pytestmark = pytest.mark.skipif(not (ETH.exists() and LTC.exists()),
                                reason="pairs bars not in ../shared/data")


def _write(frame: pl.DataFrame, path: Path) -> str:
    frame.with_columns(timestamp=pl.from_epoch("ts", time_unit="ns")).drop("ts").select(
        "timestamp", "open", "high", "low", "close", "volume").write_parquet(path)
    return str(path)


def _config(eth: str, ltc: str) -> BacktestConfig:
    return BacktestConfig(strategy="pairs", data_files={"ETHBTC": eth, "LTCBTC": ltc},
                          cash="10", fee_bps="4", kind="perp", leverage="2", params=PARAMS)


def test_every_data_file_is_cut_to_the_window(tmp_path: Path) -> None:
    eth, ltc = read_bars(ETH).frame, read_bars(LTC).frame
    config = _config(str(ETH), str(LTC))
    first, _ = data_span(config)
    start, end = first + 2 * DAY, first + 7 * DAY

    def run(cfg: BacktestConfig) -> dict[str, object]:
        spec = TrialSpec(config=cfg, params=PARAMS, start_ns=start, end_ns=end)
        out = evaluate(spec)
        assert out.engine == "event" and out.bars == 2 * 5 * 288  # both instruments, 5 days
        return out.metrics

    base = run(config)
    assert base["trades"]
    after = (pl.col("ts") >= end)
    wild = ltc.with_columns([pl.when(after).then(pl.col(c) * 3).otherwise(pl.col(c)).alias(c)
                             for c in ("open", "high", "low", "close")])
    assert run(_config(str(ETH), _write(wild, tmp_path / "ltc_after.parquet"))) == base
    inside = (pl.col("ts") >= start + DAY) & (pl.col("ts") < end)
    moved = ltc.with_columns([pl.when(inside).then(pl.col(c) * 1.01).otherwise(pl.col(c))
                              .alias(c) for c in ("open", "high", "low", "close")])
    assert run(_config(str(ETH), _write(moved, tmp_path / "ltc_in.parquet"))) != base
    assert eth.height == ltc.height  # the same bars: the windows line up


def test_the_pairs_example_optimises_as_it_is() -> None:
    cfg = load_research_config(ROOT / "examples" / "pairs.toml")
    from heron.cli import research_options as ro

    settings = msgspec.structs.replace(
        ro.settings_from(cfg, config_path=Path("pairs.toml"), trials=2, objective=None,
                         direction=None, sampler=None, seed=None, batch=2, engine=None,
                         storage="sqlite:///:memory:"), storage=None)
    found = optimize(cfg.backtest, settings, SerialExecutor(),
                     start_ns=data_span(cfg.backtest)[0],
                     end_ns=data_span(cfg.backtest)[0] + 10 * DAY)
    assert [t.state for t in found.trials] == ["COMPLETE", "COMPLETE"]
    assert set(found.trials[0].params) == {"entry", "exit"}
