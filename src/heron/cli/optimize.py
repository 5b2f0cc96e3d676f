"""``heron optimize CONFIG``: search a strategy's parameters with Optuna.

The config is a backtest config with an optional ``[optimize]`` table (see
docs/research.md); flags override it. The study is kept in SQLite next to the outputs
(or ``--storage``, e.g. PostgreSQL), so the same command again adds trials to it.
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
from heron.research.executors import executor_for
from heron.research.optimize import StudyResult, optimize
from heron.research.study_config import load_research_config

out = Console()


def optimize_command(
    config: Annotated[Path, typer.Argument(help="TOML config with an [optimize] table")],
    trials: ro.Trials = None,
    objective: ro.Objective = None,
    direction: ro.Direction = None,
    sampler: ro.Sampler = None,
    seed: ro.Seed = None,
    batch: ro.Batch = None,
    storage: ro.Storage = None,
    study: ro.Study = None,
    engine: ro.Engine = None,
    pruner: ro.Pruner = None,
    checkpoints: ro.Checkpoints = None,
    executor: ro.Executor = "local",
    address: ro.Address = None,
    workers: ro.Workers = None,
    json: ro.Json = None,
    report: ro.Report = None,
    quiet: Annotated[bool, typer.Option(help="no summary table")] = False,
) -> None:
    """Optimise a strategy's parameters (Optuna: TPE, random or grid; resumable)."""
    cfg = load_research_config(config)
    ro.check_outputs(json, report)
    settings = ro.settings_from(cfg, config_path=config, trials=trials, objective=objective,
                                direction=direction, sampler=sampler, seed=seed, batch=batch,
                                engine=engine, study=study, storage=storage,
                                outputs=(json, report), pruner=pruner, checkpoints=checkpoints)
    with executor_for(executor, address, workers) as pool:
        result = optimize(cfg.backtest, settings, pool)
    if json:
        write_text_atomic(json, jsonlib.dumps(result.to_dict(), indent=1, allow_nan=False)
                          + "\n")
    if report:
        from heron.research.study_report import optimize_page, write_page

        write_page(report, optimize_page(result, f"heron optimize: {cfg.backtest.strategy}"))
    if not quiet:
        _summary(result)
        for label, path in (("json", json), ("report", report)):
            if path:
                out.print(f"{label}: {path}")


def _summary(result: StudyResult) -> None:
    names = [o.name for o in result.objectives]
    pruned = sum(r.state == "PRUNED" for r in result.trials)
    table = Table(title=f"heron optimize: study {result.study} ({len(result.trials)} trials, "
                        f"{result.added} new{f', {pruned} pruned' if pruned else ''})")
    for column in ("trial", "params", *names, "trades"):
        table.add_column(column)
    for row in result.best:
        table.add_row(str(row.number), ", ".join(f"{k}={v}" for k, v in row.params.items()),
                      *[f"{v:.4g}" for v in row.values or []], str(row.metrics.get("trades")))
    out.print(table)
    if not result.best:
        out.print("no trial completed; see the trials' notes in --json or --report")
    if result.importance:
        out.print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(
            result.importance.items(), key=lambda kv: -kv[1])))
    out.print(f"storage: {result.storage}")
