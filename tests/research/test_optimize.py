"""heron optimize: the search finds what a brute-force loop finds, studies resume, and bad
input is one clear line. Real BTC perp bars (the first week of the month, to keep the
tests quick); every backtest runs on the event engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import polars as pl
import pytest

from heron.cli.config import BacktestConfig
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.node.api import backtest
from heron.research.evaluate import resolve_strategy
from heron.research.executors import SerialExecutor
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudySettings, optimize
from heron.research.space import build_space
from heron.research.study_config import SpaceEntry

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
FAST, SLOW = (10, 30, 50), (120, 240)
WEEK = 7 * 86_400 * 10**9


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The month's first week of 1m bars as a Parquet file (10,080 bars)."""
    frame = read_bars(SOURCE).frame
    frame = frame.filter(pl.col("ts") < frame["ts"][0] + WEEK)
    path = tmp_path_factory.mktemp("bars") / "week.parquet"
    frame.with_columns(timestamp=pl.from_epoch("ts", time_unit="ns")).drop("ts").write_parquet(
        path)
    return path


@pytest.fixture(scope="module")
def config(data: Path) -> BacktestConfig:
    return BacktestConfig(strategy="sma_cross", data=str(data), symbol="BTC-PERP", fee_bps="4",
                          slippage_bps="1", params={"mode": "long-short"})


def _settings(config: BacktestConfig, space: dict[str, SpaceEntry], *, sampler: str = "grid",
              trials: int = 6, storage: str | None = None, study: str = "t",
              objectives: tuple[str, ...] = ("sharpe",), seed: int = 3,
              batch: int = 4) -> StudySettings:
    return StudySettings(objectives=parse_objectives(list(objectives)),
                         space=build_space(resolve_strategy(config), config.params, space),
                         trials=trials, sampler=sampler, seed=seed, batch=batch, study=study,
                         storage=storage, engine="event")


GRID = {"fast": SpaceEntry(low=10, high=50, step=20), "slow": SpaceEntry(low=120, high=240,
                                                                          step=120)}


def test_grid_search_finds_the_brute_force_best(data: Path, config: BacktestConfig) -> None:
    brute = {}
    for fast in FAST:
        for slow in SLOW:
            result = backtest(data, strategy="sma_cross", symbol="BTC-PERP", fee_bps="4",
                              slippage_bps="1",
                              params={"fast": fast, "slow": slow, "mode": "long-short"})
            brute[(fast, slow)] = result.metrics.sharpe_ratio
    found = optimize(config, _settings(config, GRID), SerialExecutor())
    assert len(found.trials) == 6 and all(t.state == "COMPLETE" for t in found.trials)
    for trial in found.trials:  # every trial's value is the engine's, exactly
        assert trial.values == [brute[(trial.params["fast"], trial.params["slow"])]]
    best = max(brute, key=lambda k: brute[k])  # type: ignore[arg-type,return-value]
    assert (found.best[0].params["fast"], found.best[0].params["slow"]) == best
    assert found.best[0].values == [brute[best]]
    assert len(set(brute.values())) == 6  # the grid really discriminates


def test_a_stored_study_resumes_and_adds_trials(config: BacktestConfig, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.sqlite'}"
    wide = {"fast": SpaceEntry(low=5, high=60), "slow": SpaceEntry(low=80, high=400)}
    first = optimize(config, _settings(config, wide, sampler="random", trials=3,
                                       storage=storage), SerialExecutor())
    again = optimize(config, _settings(config, wide, sampler="random", trials=3,
                                       storage=storage), SerialExecutor())
    assert first.added == 3 and again.added == 3
    assert [t.number for t in again.trials] == list(range(6))
    assert [t.params for t in again.trials[:3]] == [t.params for t in first.trials]
    # the resumed sampler continues: it does not replay the first run's proposals
    assert all(t.params not in [f.params for f in first.trials] for t in again.trials[3:])
    stored = optuna.load_study(study_name="t", storage=storage)
    assert len(stored.trials) == 6


def test_a_resumed_grid_visits_each_point_once(config: BacktestConfig, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'grid.sqlite'}"
    optimize(config, _settings(config, GRID, trials=4, storage=storage), SerialExecutor())
    done = optimize(config, _settings(config, GRID, trials=4, storage=storage),
                    SerialExecutor())
    assert done.added == 2  # only two grid points were left
    points = {(t.params["fast"], t.params["slow"]) for t in done.trials}
    assert points == {(f, s) for f in FAST for s in SLOW}


def test_a_combination_the_strategy_refuses_is_a_failed_trial(config: BacktestConfig) -> None:
    space = {"fast": SpaceEntry(choices=[10, 200]), "slow": SpaceEntry(choices=[120])}
    found = optimize(config, _settings(config, space, trials=2), SerialExecutor())
    states = {t.params["fast"]: (t.state, t.note) for t in found.trials}
    assert states[10][0] == "COMPLETE"
    assert states[200][0] == "FAIL" and "must be below slow" in states[200][1]
    assert found.best[0].params["fast"] == 10


def test_multi_objective_returns_the_pareto_front(config: BacktestConfig) -> None:
    found = optimize(config, _settings(config, GRID, objectives=("return", "drawdown")),
                     SerialExecutor())
    assert [o.direction for o in found.objectives] == ["maximize", "minimize"]
    front = {(b.values[0], b.values[1]) for b in found.best if b.values}
    assert front
    for trial in found.trials:  # nothing off the front dominates a point on it
        assert trial.values is not None
        ret, dd = trial.values
        for f_ret, f_dd in front:
            assert not (ret >= f_ret and dd <= f_dd and (ret, dd) != (f_ret, f_dd))


@pytest.mark.parametrize(("space", "objective", "needle"), [
    (GRID, "profit", "unknown objective 'profit'"),
    ({"fast": SpaceEntry(low=30, high=10)}, "sharpe", "range 30..10 is empty"),
    ({"fast": SpaceEntry(choices=[])}, "sharpe", "choices is empty"),
    ({"speed": SpaceEntry(low=1, high=2)}, "sharpe", "does not have"),
    ({"fast": SpaceEntry(low=0, high=10)}, "sharpe", "out of range"),
    ({"slow": SpaceEntry()}, "sharpe", "declares no upper bound"),
])
def test_bad_search_input_is_one_clear_line(config: BacktestConfig,
                                            space: dict[str, SpaceEntry], objective: str,
                                            needle: str) -> None:
    with pytest.raises(InvalidConfiguration) as info:
        _settings(config, space, objectives=(objective,))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_unknown_fixed_parameter_is_refused(config: BacktestConfig) -> None:
    bad = BacktestConfig(strategy="sma_cross", data=config.data, params={"fsat": 3})
    settings = _settings(config, GRID)
    with pytest.raises(InvalidConfiguration, match="no parameter 'fsat'"):
        optimize(bad, settings, SerialExecutor())


def _write_config(tmp_path: Path, data: Path) -> Path:
    config = tmp_path / "opt.toml"
    config.write_text(f"""
strategy = "sma_cross"
data = "{data}"
fee_bps = "4"
[params]
mode = "long-short"
[optimize]
sampler = "grid"
trials = 3
[optimize.space]
fast = {{ choices = [10, 30] }}
slow = {{ choices = [120, 240] }}
""")
    return config


def _heron(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heron", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_cli_writes_json_and_a_self_contained_report_and_resumes(data: Path,
                                                                 tmp_path: Path) -> None:
    config = _write_config(tmp_path, data)
    out, page = tmp_path / "o.json", tmp_path / "o.html"
    for expected in (3, 4):
        proc = _heron("optimize", str(config), "--executor", "serial", "--quiet",
                      "--json", str(out), "--report", str(page))
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        assert len(doc["trials"]) == expected
    assert doc["added_trials"] == 1 and doc["storage"].endswith("heron-optuna.sqlite")
    assert set(doc["importance"]) == {"fast", "slow"}
    html = page.read_text()
    assert "<svg" in html and "Parameter importance" in html and "<script" not in html
    assert html.count('<tr class=') == 4


def test_cli_bad_input_exits_2_with_one_line(data: Path, tmp_path: Path) -> None:
    config = _write_config(tmp_path, data)
    proc = _heron("optimize", str(config), "--objective", "sharpe", "--objective", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown objective 'nope'" in proc.stderr
