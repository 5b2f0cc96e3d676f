"""Pruning: a paused backtest is the same backtest, a pruned trial really stops early, and
pruned studies are recorded, reproducible across executors and resumable. Real BTC perp
bars (the month's first week); the studies run on the vectorised path (same trades as
the engine), the early stop is also checked on the event engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import polars as pl
import pytest

from heron.cli.config import BacktestConfig
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.node.api import backtest
from heron.research.evaluate import TrialSpec, evaluate, resolve_strategy
from heron.research.executors import LocalExecutor, SerialExecutor
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudyResult, StudySettings, optimize
from heron.research.pruning import PastTrial, PruneSpec, checkpoint_positions
from heron.research.space import build_space
from heron.research.study_config import SpaceEntry
from heron.research.vector import Costs, run_vectorised
from heron.research.vector_data import BarArrays
from heron.strategy.library.sma_cross import SmaCross

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
WEEK = 7 * 86_400 * 10**9
PARAMS = {"fast": 20, "slow": 120, "mode": "long-short"}
SPACE = {"fast": SpaceEntry(low=5, high=60, step=5), "slow": SpaceEntry(low=80, high=400,
                                                                        step=20)}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
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


def _settings(config: BacktestConfig, *, pruner: str, sampler: str = "tpe", trials: int = 16,
              storage: str | None = None, engine: str = "vector") -> StudySettings:
    return StudySettings(objectives=parse_objectives(["sharpe"]), trials=trials, seed=5,
                         space=build_space(resolve_strategy(config), config.params, SPACE),
                         sampler=sampler, batch=4, study="p", storage=storage, engine=engine,
                         pruner=pruner)


def _states(result: StudyResult) -> list[tuple[int, str, dict[str, object]]]:
    return [(t.number, t.state, t.params) for t in result.trials]


def test_pausing_a_backtest_changes_nothing_and_stopping_runs_fewer_bars(data: Path) -> None:
    kwargs = {"strategy": "sma_cross", "params": PARAMS, "symbol": "BTC-PERP", "fee_bps": "4"}
    whole = backtest(data, **kwargs)  # type: ignore[arg-type]
    ts = whole.equity["ts"].to_numpy()
    marks = [int(ts[p]) for _, p in checkpoint_positions(len(ts), 4)]
    seen: list[int] = []
    paused = backtest(data, checkpoints=marks,  # type: ignore[arg-type]
                      at_checkpoint=lambda r: seen.append(r.bars) is None, **kwargs)
    assert seen == [len(ts) // 4, len(ts) // 2, 3 * len(ts) // 4]
    assert paused.metrics == whole.metrics and paused.final_equity == whole.final_equity
    assert paused.equity.equals(whole.equity) and paused.trades.equals(whole.trades)
    stopped = backtest(data, checkpoints=marks, at_checkpoint=lambda r: False,  # type: ignore
                       **kwargs)
    assert stopped.bars == len(ts) // 4  # the engine ran a quarter of the bars, no more
    cut = stopped.equity.height
    assert cut == len(ts) // 4
    assert np.array_equal(stopped.equity["equity"].to_numpy(), whole.equity["equity"][:cut])

    arrays = BarArrays.from_file(data, "BTC-PERP")
    costs = Costs(fee_bps=4.0, kind="perp", maintenance_margin=0.0)
    full = run_vectorised(arrays, SmaCross, PARAMS, costs)
    again = run_vectorised(arrays, SmaCross, PARAMS, costs, checkpoints=[2000, 5000],
                           at_checkpoint=lambda r: True)
    assert again.metrics == full.metrics and np.array_equal(again.equity, full.equity)
    part = run_vectorised(arrays, SmaCross, PARAMS, costs, checkpoints=[2000, 5000],
                          at_checkpoint=lambda r: len(r.ts) < 5000)
    assert len(part.ts) == 5000 and np.array_equal(part.equity, full.equity[:5000])


def test_a_trial_judged_worse_than_its_peers_stops_at_the_first_checkpoint(
        config: BacktestConfig) -> None:
    """Five finished peers far better at every checkpoint: the median pruner stops the
    trial at checkpoint 1, on the event engine as on the vectorised path."""
    peers = tuple(PastTrial(state="COMPLETE", value=50.0 + k, records={},
                            intermediate={1: 50.0 + k, 2: 50.0 + k, 3: 50.0 + k})
                  for k in range(5))
    prune = PruneSpec(pruner="median", checkpoints=4, metric="sharpe", direction="maximize",
                      history=peers)
    bars = 7 * 1440
    for engine in ("event", "vector"):
        spec = TrialSpec(config=config, params={**PARAMS}, engine=engine, prune=prune)
        out = evaluate(spec)
        assert (out.pruned_at, out.bars, list(out.intermediate)) == (1, bars // 4, [1])
        kept = evaluate(TrialSpec(config=config, params={**PARAMS}, engine=engine,
                                  prune=PruneSpec(pruner="median", checkpoints=4,
                                                  metric="sharpe", direction="maximize")))
        assert kept.pruned_at is None and kept.bars == bars and list(kept.intermediate) == [
            1, 2, 3]
        plain = evaluate(TrialSpec(config=config, params={**PARAMS}, engine=engine))
        assert kept.metrics == plain.metrics  # judging at checkpoints moved nothing
        assert out.intermediate[1] == kept.intermediate[1] < 50.0


def test_pruned_trials_are_recorded_and_the_study_runs_fewer_bars(
        config: BacktestConfig, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'p.sqlite'}"
    plain = optimize(config, _settings(config, pruner="none", sampler="grid", trials=24),
                     SerialExecutor())
    pruned = optimize(config, _settings(config, pruner="median", sampler="grid", trials=24,
                                        storage=storage), SerialExecutor())
    assert [t.params for t in pruned.trials] == [t.params for t in plain.trials]  # grid order
    by_params = {tuple(t.params.items()): t for t in plain.trials}
    stored = optuna.load_study(study_name="p", storage=storage).trials
    cut = {1: 7 * 1440 // 4, 2: 7 * 1440 // 2, 3: 3 * 7 * 1440 // 4}
    pruned_rows = [t for t in pruned.trials if t.state == "PRUNED"]
    assert pruned_rows and len(pruned_rows) < len(pruned.trials)
    for row in pruned.trials:
        assert stored[row.number].intermediate_values == row.intermediate
        if row.state == "PRUNED":  # stopped at its last reported checkpoint
            last = max(row.intermediate)
            assert row.bars == cut[last] and row.values == [row.intermediate[last]]
            assert stored[row.number].state == optuna.trial.TrialState.PRUNED
        else:  # a completed trial is exactly the unpruned study's
            assert row.values == by_params[tuple(row.params.items())].values
    assert sum(t.bars or 0 for t in pruned.trials) < sum(t.bars or 0 for t in plain.trials)
    # on this grid the best trial is good early on, so pruning must not lose it
    assert (pruned.best[0].params, pruned.best[0].values) == (plain.best[0].params,
                                                              plain.best[0].values)


@pytest.mark.slow
def test_serial_and_local_executors_prune_the_same_trials(config: BacktestConfig) -> None:
    settings = _settings(config, pruner="successive-halving", trials=16)
    serial = optimize(config, settings, SerialExecutor())
    with LocalExecutor(workers=2) as pool:
        local = optimize(config, settings, pool)
    assert _states(local) == _states(serial)
    assert [t.intermediate for t in local.trials] == [t.intermediate for t in serial.trials]
    assert {t.state for t in serial.trials} == {"COMPLETE", "PRUNED"}


def test_a_study_with_pruned_trials_resumes(config: BacktestConfig, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'r.sqlite'}"
    first = optimize(config, _settings(config, pruner="median", trials=12, storage=storage),
                     SerialExecutor())
    again = optimize(config, _settings(config, pruner="median", trials=8, storage=storage),
                     SerialExecutor())
    assert again.added == 8 and [t.number for t in again.trials] == list(range(20))
    assert [(t.state, t.intermediate) for t in again.trials[:12]] == [
        (t.state, t.intermediate) for t in first.trials]
    assert any(t.state == "PRUNED" for t in again.trials[12:])  # judged against them all


@pytest.mark.parametrize(("changes", "needle"), [
    ({"pruner": "hyperband"}, "unknown pruner 'hyperband'"),
    ({"pruner": "median", "checkpoints": 1}, "at least 2 checkpoints"),
    ({"pruner": "median", "objectives": parse_objectives(["return", "drawdown"])},
     "single-objective"),
])
def test_bad_pruning_input_is_one_clear_line(config: BacktestConfig, changes: dict[str, object],
                                             needle: str) -> None:
    import msgspec

    settings = msgspec.structs.replace(_settings(config, pruner="none"), **changes)
    with pytest.raises(InvalidConfiguration, match=needle):
        optimize(config, settings, SerialExecutor())


@pytest.mark.slow
def test_cli_prunes_and_the_report_shows_pruned_trials(data: Path, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    config = tmp_path / "p.toml"
    config.write_text(f'strategy = "sma_cross"\ndata = "{data}"\nsymbol = "BTC-PERP"\n'
                      'fee_bps = "4"\n[params]\nmode = "long-short"\n[optimize]\n'
                      'trials = 16\nbatch = 4\nseed = 5\nengine = "vector"\n'
                      'pruner = "median"\n[optimize.space]\n'
                      'fast = { low = 5, high = 60, step = 5 }\n'
                      'slow = { low = 80, high = 400, step = 20 }\n')
    out, page = tmp_path / "p.json", tmp_path / "p.html"
    proc = subprocess.run([sys.executable, "-m", "heron", "optimize", str(config), "--executor",
                           "serial", "--quiet", "--checkpoints", "4", "--json", str(out),
                           "--report", str(page)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(out.read_text())["trials"]
    pruned = [t for t in trials if t["state"] == "PRUNED"]
    assert pruned and all(t["intermediate"] and "pruned at checkpoint" in t["note"]
                          for t in pruned)
    html = page.read_text()
    assert f"{len(pruned)} pruned" in html and 'class="pruned"' in html
