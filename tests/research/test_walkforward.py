"""Walk-forward: window layout, stitching, and the proof of no look-ahead on real bars.

The no-look-ahead test perturbs real BTC bars inside one fold's out-of-sample window and
after the last window, and checks exactly which fold results may move: a fold's
in-sample choice only when its training window holds the changed bars, a fold's
out-of-sample result only when its test window does, and nothing at all for bars after
the last window.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from heron.cli.config import BacktestConfig
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.research.evaluate import resolve_strategy
from heron.research.executors import SerialExecutor
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudySettings
from heron.research.space import build_space
from heron.research.study_config import SpaceEntry
from heron.research.walkforward import Fold, WalkResult, WalkSettings, layout, walk_forward

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
WINDOWS = WalkSettings(train_ns=3 * DAY, test_ns=DAY, step_ns=DAY)
SPACE = {"fast": SpaceEntry(choices=[10, 30]), "slow": SpaceEntry(choices=[60, 180])}


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.with_columns(timestamp=pl.from_epoch("ts", time_unit="ns")).drop("ts").select(
        "timestamp", "open", "high", "low", "close", "volume").write_parquet(path)
    return path


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    """The first 10.5 days of the month: seven folds of 3d train / 1d test."""
    frame = read_bars(DATA).frame
    return frame.filter(pl.col("ts") < frame["ts"][0] + int(10.5 * DAY))


def _config(path: Path) -> BacktestConfig:
    return BacktestConfig(strategy="sma_cross", data=str(path), symbol="BTC-PERP", fee_bps="4",
                          params={"mode": "long-short"})


def _settings(config: BacktestConfig, engine: str) -> StudySettings:
    return StudySettings(objectives=parse_objectives(["sharpe"]), sampler="grid", trials=4,
                         space=build_space(resolve_strategy(config), config.params, SPACE),
                         seed=1, batch=4, engine=engine)


def _run(path: Path, engine: str = "event") -> WalkResult:
    config = _config(path)
    return walk_forward(config, _settings(config, engine), WINDOWS, SerialExecutor())


def _perturb(frame: pl.DataFrame, start: int, end: int) -> pl.DataFrame:
    """Wiggle each bar's prices in [start, end) by a different factor (whole dollars)."""
    inside = (pl.col("ts") >= start) & (pl.col("ts") < end)
    factor = 1.0 + 0.01 * (pl.int_range(pl.len()) % 7 - 3) / 3
    return frame.with_columns(
        [pl.when(inside).then((pl.col(c) * factor).round(0)).otherwise(pl.col(c)).alias(c)
         for c in ("open", "high", "low", "close")])


def _is(result: WalkResult, k: int) -> tuple[object, ...]:
    f = result.folds[k]
    return f.params, f.is_value, f.is_metrics


def _oos(result: WalkResult, k: int) -> tuple[object, ...]:
    f = result.folds[k]
    return f.oos_value, f.oos_metrics, f.equity.tolist()


@pytest.mark.parametrize("engine", ["event", "vector"])
def test_out_of_sample_results_change_when_and_only_when_oos_data_changes(
        bars: pl.DataFrame, tmp_path: Path, engine: str) -> None:
    base = _run(_write(bars, tmp_path / "base.parquet"), engine)
    assert len(base.folds) == 7 and all(f.params for f in base.folds)
    target = base.folds[3].fold  # perturb fold 3's out-of-sample window only
    moved_path = _write(_perturb(bars, target.test_start, target.test_end),
                        tmp_path / "moved.parquet")
    assert read_bars(moved_path).price_decimals == read_bars(tmp_path / "base.parquet"
                                                             ).price_decimals
    moved = _run(moved_path, engine)
    assert [f.fold for f in moved.folds] == [f.fold for f in base.folds]
    assert _oos(moved, 3) != _oos(base, 3)  # the changed out-of-sample data shows
    for k in range(7):
        f = base.folds[k].fold
        if f.train_end <= target.test_start:  # training never saw the changed bars
            assert _is(moved, k) == _is(base, k), f"fold {k} in-sample moved"
        if f.test_end <= target.test_start:  # neither window saw them: nothing moves
            assert _oos(moved, k) == _oos(base, k), f"fold {k} out-of-sample moved"
    assert _is(moved, 3) == _is(base, 3)  # fold 3 chose on unchanged bars ...
    assert _is(moved, 2) == _is(base, 2) and _oos(moved, 2) == _oos(base, 2)

    last_end = base.folds[-1].fold.test_end  # bars after the last window: nothing moves
    late = _run(_write(_perturb(bars, last_end, last_end + DAY), tmp_path / "late.parquet"),
                engine)
    assert bars["ts"].max() >= last_end  # there were bars to perturb
    for k in range(7):
        assert _is(late, k) == _is(base, k) and _oos(late, k) == _oos(base, k)
    assert late.metrics == base.metrics
    assert np.array_equal(late.equity, base.equity)


def test_stitched_curve_chains_the_out_of_sample_segments(bars: pl.DataFrame,
                                                          tmp_path: Path) -> None:
    result = _run(_write(bars, tmp_path / "bars.parquet"))
    cash = 100_000.0
    level, start = cash, 0
    for fold in result.folds:
        n = len(fold.equity)
        segment = result.equity[start:start + n]
        np.testing.assert_allclose(segment, fold.equity * level / cash, rtol=1e-12)
        assert fold.fold.test_start <= fold.equity_ts[0] and fold.equity_ts[-1] < fold.fold.test_end
        level, start = float(segment[-1]), start + n
    assert start == len(result.equity)
    growth = math.prod(float(f.equity[-1]) / cash for f in result.folds)
    assert result.metrics["return_pct"] == pytest.approx((growth - 1) * 100, rel=1e-9)
    assert result.metrics["trades"] == sum(f.oos_metrics["trades"] for f in result.folds)
    ins = [f.is_value for f in result.folds]
    outs = [f.oos_value for f in result.folds]
    assert result.degradation == pytest.approx(float(np.mean(outs)) / float(np.mean(ins)))


def test_layout_rolling_anchored_purge_and_embargo() -> None:
    t0 = 1_000 * DAY
    rolling = layout(t0, t0 + 10 * DAY - 1, WalkSettings(train_ns=4 * DAY, test_ns=2 * DAY))
    assert [(f.train_start - t0, f.test_end - t0) for f in rolling] == [
        (0, 6 * DAY), (2 * DAY, 8 * DAY), (4 * DAY, 10 * DAY)]
    anchored = layout(t0, t0 + 10 * DAY - 1, WalkSettings(train_ns=4 * DAY, test_ns=2 * DAY,
                                                          anchored=True))
    assert {f.train_start for f in anchored} == {t0}
    assert [f.train_end - t0 for f in anchored] == [4 * DAY, 6 * DAY, 8 * DAY]
    gaps = layout(t0, t0 + 10 * DAY - 1, WalkSettings(
        train_ns=4 * DAY, test_ns=2 * DAY, purge_ns=HOUR, embargo_ns=3 * HOUR))
    assert gaps[0] == Fold(index=0, train_start=t0, train_end=t0 + 4 * DAY,
                           test_start=t0 + 4 * DAY + HOUR, test_end=t0 + 6 * DAY + HOUR)
    assert gaps[1].test_start == gaps[0].test_end + 3 * HOUR  # the embargo after a test
    assert all(f.test_start - f.train_end >= HOUR for f in gaps)
    assert len(gaps) == 2  # a third test window would end past the data


@pytest.mark.parametrize(("windows", "needle"), [
    (WalkSettings(train_ns=30 * DAY, test_ns=7 * DAY), "the data covers only"),
    (WalkSettings(train_ns=DAY, test_ns=2 * DAY, step_ns=DAY), "out-of-sample windows would "
                                                               "overlap"),
    (WalkSettings(train_ns=0, test_ns=DAY), "must be positive"),
])
def test_bad_windows_are_refused(windows: WalkSettings, needle: str) -> None:
    with pytest.raises(InvalidConfiguration) as info:
        layout(0, 10 * DAY, windows)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_cli_window_longer_than_data_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "wf.toml"
    config.write_text(f'strategy = "sma_cross"\ndata = "{DATA}"\n[optimize.space]\n'
                      'fast = { choices = [10] }\nslow = { choices = [60] }\n')
    proc = subprocess.run([sys.executable, "-m", "heron", "walkforward", str(config),
                           "--train", "30d", "--test", "7d", "--executor", "serial"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert "the data covers only 31d 6h" in proc.stderr and proc.stderr.strip().count("\n") == 0


def test_cli_runs_and_writes_json_and_report(bars: pl.DataFrame, tmp_path: Path) -> None:
    data = _write(bars, tmp_path / "bars.parquet")
    config = tmp_path / "wf.toml"
    config.write_text(f'strategy = "sma_cross"\ndata = "{data}"\nsymbol = "BTC-PERP"\n'
                      'fee_bps = "4"\n[params]\nmode = "long-short"\n[optimize]\n'
                      'sampler = "grid"\ntrials = 4\nseed = 1\nengine = "event"\n'
                      '[optimize.space]\n'
                      'fast = { choices = [10, 30] }\nslow = { choices = [60, 180] }\n'
                      '[walkforward]\ntrain = "3d"\ntest = "1d"\n')
    out, page = tmp_path / "wf.json", tmp_path / "wf.html"
    proc = subprocess.run([sys.executable, "-m", "heron", "walkforward", str(config),
                           "--executor", "serial", "--quiet", "--json", str(out), "--report",
                           str(page)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    direct = _run(data)
    assert [f["params"] for f in doc["folds"]] == [f.params for f in direct.folds]
    assert doc["metrics"] == direct.metrics
    html = page.read_text()
    assert "Stitched out-of-sample equity" in html and "<polyline" in html
    assert "<script" not in html
