"""What ``heron optimize`` and ``heron walkforward`` share: options, settings, output checks.

Flags override the config's ``[optimize]`` table; a value given in neither place takes
the documented default. The defaults for the study's storage and name are chosen so
that running the same command twice resumes the same study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heron.errors import InvalidConfiguration
from heron.research.evaluate import resolve_strategy
from heron.research.objectives import parse_objectives
from heron.research.optimize import StudySettings
from heron.research.space import build_space
from heron.research.study_config import ResearchConfig

Opt = typer.Option

Trials = Annotated[int | None, Opt(help="trials to run (per fold for walkforward)")]
Objective = Annotated[list[str] | None, Opt(
    "--objective", help="sharpe, sortino, calmar, return or drawdown (repeat: multi-objective)")]
Direction = Annotated[list[str] | None, Opt(
    "--direction", help="maximize or minimize (once for all, or once per objective)")]
Sampler = Annotated[str | None, Opt(help="tpe (default), random or grid")]
Seed = Annotated[int | None, Opt(help="sampler seed (same seed: same results anywhere)")]
Batch = Annotated[int | None, Opt(help="trials asked per batch (default 8; part of the "
                                      "study's reproducibility, not of the machine)")]
Engine = Annotated[str | None, Opt(help="auto (vectorised when supported), event or vector")]
Pruner = Annotated[str | None, Opt(help="none (default), median or successive-halving: stop "
                                        "unpromising trials at checkpoints")]
Checkpoints = Annotated[int | None, Opt(help="pruning: judge each trial after each of this "
                                             "many parts of its window (default 4)")]
Storage = Annotated[str | None, Opt(
    help="Optuna storage URL (default: sqlite file beside --json/--report, else in ./out); "
         "postgresql://... for a shared study")]
Study = Annotated[str | None, Opt(help="study name (default: the config's file name); the "
                                       "same name resumes")]
Executor = Annotated[str, Opt(help="local (process pool), ray or serial")]
Address = Annotated[str | None, Opt(help="Ray cluster address, e.g. ray://HOST:10001")]
Workers = Annotated[int | None, Opt(help="worker processes (default: CPU count)")]
Json = Annotated[str | None, Opt("--json", help="write the results as JSON here")]
Report = Annotated[str | None, Opt(help="write a self-contained HTML report here")]


def settings_from(cfg: ResearchConfig, *, config_path: Path, trials: int | None,
                  objective: list[str] | None, direction: list[str] | None,
                  sampler: str | None, seed: int | None, batch: int | None,
                  engine: str | None, study: str | None = None, storage: str | None = None,
                  outputs: tuple[str | None, ...] = (), pruner: str | None = None,
                  checkpoints: int | None = None) -> StudySettings:
    """Study settings from the config's ``[optimize]`` table overlaid with the flags."""
    table = cfg.optimize
    names = objective or ([table.objective] if isinstance(table.objective, str)
                          else list(table.objective))
    given = direction or ([] if table.direction is None else [table.direction]
                          if isinstance(table.direction, str) else list(table.direction))
    cls = resolve_strategy(cfg.backtest)
    # beside the outputs; with none, in ./out (never the config's folder: examples/ is
    # part of the source tree)
    folder = next((Path(p).parent for p in outputs if p), Path("out"))
    if not any(outputs) and not (storage or table.storage):
        folder.mkdir(exist_ok=True)
    return StudySettings(
        objectives=parse_objectives(names, given),
        space=build_space(cls, cfg.backtest.params, table.space),
        trials=trials if trials is not None else table.trials,
        sampler=sampler or table.sampler, seed=seed if seed is not None else table.seed,
        batch=batch if batch is not None else table.batch,
        study=study or table.study or config_path.stem,
        storage=storage or table.storage or f"sqlite:///{folder / 'heron-optuna.sqlite'}",
        engine=engine or table.engine, pruner=pruner or table.pruner,
        checkpoints=checkpoints if checkpoints is not None else table.checkpoints)


def check_outputs(*paths: str | None) -> None:
    """Refuse before any work when an output's folder is missing."""
    for path in paths:
        if path is None:
            continue
        folder = Path(path).parent
        if not folder.is_dir():
            raise InvalidConfiguration(f"{path}: folder {folder} does not exist; create it first")
