"""``heron walkforward CONFIG --train 30d --test 7d``: does the optimum hold out of sample?

Each fold optimises on its training window and trades the winner on the following test
window; the stitched test equity and its metrics are the answer (docs/research.md).
Folds run in parallel through the executor; each fold's study is kept in the study
storage (as for ``heron optimize``), so an interrupted run resumes the folds it finished.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from heron.cli import research_options as ro
from heron.core.files import write_text_atomic
from heron.errors import InvalidConfiguration
from heron.research.executors import executor_for
from heron.research.study_config import load_research_config, parse_span
from heron.research.walkforward import WalkResult, WalkSettings, walk_forward

out = Console()


def walkforward_command(
    config: Annotated[Path, typer.Argument(help="TOML config ([optimize], [walkforward])")],
    train: Annotated[str | None, typer.Option(help="in-sample window, e.g. 30d")] = None,
    test: Annotated[str | None, typer.Option(help="out-of-sample window, e.g. 7d")] = None,
    step: Annotated[str | None, typer.Option(help="how far each fold moves (default: test)")
                    ] = None,
    anchored: Annotated[bool | None, typer.Option(
        "--anchored/--rolling", help="training always starts at the first bar")] = None,
    purge: Annotated[str | None, typer.Option(help="gap between train end and test start")
                     ] = None,
    embargo: Annotated[str | None, typer.Option(help="gap after each test window")] = None,
    trials: ro.Trials = None,
    objective: ro.Objective = None,
    direction: ro.Direction = None,
    sampler: ro.Sampler = None,
    seed: ro.Seed = None,
    batch: ro.Batch = None,
    engine: ro.Engine = None,
    pruner: ro.Pruner = None,
    checkpoints: ro.Checkpoints = None,
    storage: ro.Storage = None,
    study: ro.Study = None,
    executor: ro.Executor = "local",
    address: ro.Address = None,
    workers: ro.Workers = None,
    json: ro.Json = None,
    report: ro.Report = None,
    quiet: Annotated[bool, typer.Option(help="no summary table")] = False,
) -> None:
    """Walk-forward analysis: optimise in sample, trade out of sample, stitch the results."""
    cfg = load_research_config(config)
    ro.check_outputs(json, report)
    table = cfg.walkforward
    train_text, test_text = train or table.train, test or table.test
    if train_text is None or test_text is None:
        raise InvalidConfiguration("walkforward needs --train and --test (or train and test "
                                   "in [walkforward]), e.g. --train 30d --test 7d")
    step_text = step or table.step
    windows = WalkSettings(
        train_ns=parse_span(train_text, "--train"), test_ns=parse_span(test_text, "--test"),
        step_ns=None if step_text is None else parse_span(step_text, "--step"),
        anchored=table.anchored if anchored is None else anchored,
        purge_ns=parse_span(purge or table.purge, "--purge"),
        embargo_ns=parse_span(embargo or table.embargo, "--embargo"))
    settings = ro.settings_from(
        cfg, config_path=config, trials=trials, objective=objective, direction=direction,
        sampler=sampler, seed=seed, batch=batch, engine=engine, study=study, storage=storage,
        outputs=(json, report), pruner=pruner, checkpoints=checkpoints)
    with executor_for(executor, address, workers) as pool:
        result = walk_forward(cfg.backtest, settings, windows, pool)
    if json:
        write_text_atomic(json, jsonlib.dumps(result.to_dict(), indent=1, allow_nan=False)
                          + "\n")
    if report:
        from heron.research.study_report import walkforward_page, write_page

        write_page(report, walkforward_page(result,
                                            f"heron walkforward: {cfg.backtest.strategy}"))
    if not quiet:
        _summary(result)
        for label, path in (("json", json), ("report", report)):
            if path:
                out.print(f"{label}: {path}")


def _summary(result: WalkResult) -> None:
    table = Table(title=f"heron walkforward: {len(result.folds)} folds")
    for column in ("fold", "params", f"IS {result.objective}", f"OOS {result.objective}",
                   "OOS return %"):
        table.add_column(column)
    for r in result.folds:
        table.add_row(str(r.fold.index), ", ".join(f"{k}={v}" for k, v in (r.params or {}).items()),
                      _num(r.is_value), _num(r.oos_value), _num(r.oos_metrics.get("return_pct")))
    out.print(table)
    m = result.metrics
    out.print(f"fold studies: {result.storage or 'in memory'}")
    out.print(f"stitched out-of-sample: return {_num(m.get('return_pct'))} %, sharpe "
              f"{_num(m.get('sharpe'))}, max drawdown {_num(m.get('max_drawdown_pct'))} %, "
              f"trades {m.get('trades')}; degradation ratio {_num(result.degradation)}")


def _num(value: float | int | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
