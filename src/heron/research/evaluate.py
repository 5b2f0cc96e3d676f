"""One trial: a backtest config, strategy parameters and a time window -> metrics.

This is the unit of work that executors ship to workers, so a :class:`TrialSpec` is
small (the config names the data *path*; bars never travel) and :func:`evaluate` is a
module-level function. Each worker process reads and checks a data file once and
keeps it (keyed by path, size and modification time) for the trials that follow.

**No look-ahead.** A window ``[start_ns, end_ns)`` narrower than the data is cut out
of the bars *before* the engine is built, so the strategy's indicators (computed in
bulk over the series the engine is given) never see a bar outside the window. Each
window starts flat, with the configured cash, and its indicators warm up inside it.
A config with ``[data_files]`` (several instruments, e.g. ``pairs``) has *every* file
cut to the same window, so the second instrument cannot leak future bars either; such
runs always take the event engine (the fast path models one instrument).

By default the trial runs on the exact event engine (:func:`heron.node.api.backtest`).
When the vectorised fast path (:mod:`heron.research.vector`) is installed, supports
the strategy (it declares its signals) and models every option of the config (its
``check_costs`` refuses funding, volume caps, custom ticks, perpetual liquidation),
``engine="auto"`` uses it instead: the same trades, with equity in float64 that agrees
with the engine's exact money to about 1e-12 relative. ``engine="event"`` always runs
the event engine; ``engine="vector"`` refuses a config the fast path cannot model.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
from numpy.typing import NDArray

from heron.analytics.metrics import PerformanceMetrics
from heron.cli.config import BacktestConfig
from heron.data.bars import BarFrame, read_bars
from heron.errors import InvalidConfiguration
from heron.research.pruning import Checkpoints, PruneSpec
from heron.strategy.base import Strategy
from heron.strategy.registry import strategy_class

__all__ = ["ENGINES", "TrialOutcome", "TrialSpec", "check_data", "data_span", "evaluate",
           "metrics_dict", "resolve_strategy"]

ENGINES = ("auto", "event", "vector")
Metrics = dict[str, float | int | None]


class TrialSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What one trial runs: small enough to pickle to any worker."""

    config: BacktestConfig
    params: dict[str, Any]
    start_ns: int | None = None
    end_ns: int | None = None
    engine: str = "auto"
    keep_equity: bool = False
    prune: PruneSpec | None = None  # checkpoints and the pruner's snapshot (optimize)


@dataclass(frozen=True)
class TrialOutcome:
    """A trial's metrics (float64), bars run, the engine used and, if asked, its equity.

    A pruned trial (``pruned_at``: the checkpoint it stopped at) has the metrics of the
    bars it ran; ``intermediate`` holds the objective at each checkpoint reported.
    """

    metrics: Metrics
    bars: int
    engine: str
    intermediate: dict[int, float] = field(default_factory=dict)
    pruned_at: int | None = None
    equity_ts: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    equity: NDArray[np.float64] = field(default_factory=lambda: np.empty(0, np.float64))


def resolve_strategy(config: BacktestConfig) -> type[Strategy]:
    """The config's strategy class (built-in, entry point, strategy_path file, module:Class)."""
    return strategy_class(config.strategy,
                          paths=[config.strategy_path] if config.strategy_path else [])


def evaluate(spec: TrialSpec) -> TrialOutcome:
    """Run one trial and return its metrics; bad input raises ``InvalidConfiguration``."""
    if spec.engine not in ENGINES:
        raise InvalidConfiguration(f"unknown engine {spec.engine!r}; use one of: "
                                   f"{', '.join(ENGINES)}")
    cfg = spec.config
    check_data(cfg)
    cls = resolve_strategy(cfg)
    if cfg.data_files:
        if spec.engine == "vector":
            raise InvalidConfiguration("the vectorised path runs one instrument, not "
                                       "[data_files]; use engine = \"auto\" or \"event\"")
        return _run_event(spec, cls)
    vector = _vector_module() if spec.engine != "event" else None
    if vector is None or not vector.supports(cls):
        if spec.engine == "vector":
            raise InvalidConfiguration(f"the vectorised path does not support {cls.name}; use "
                                       "engine = \"auto\" or \"event\"")
        return _run_event(spec, cls)
    costs = vector.Costs.from_config(cfg)
    try:
        vector.check_costs(costs)  # what the fast path does not model, it names
    except InvalidConfiguration:
        if spec.engine == "vector":
            raise
        return _run_event(spec, cls)
    return _run_vector(vector, spec, cls, costs)


def _run_event(spec: TrialSpec, cls: type[Strategy]) -> TrialOutcome:
    from heron.node.api import backtest
    from heron.node.result import BacktestResult

    cfg = spec.config
    bars: BarFrame | dict[str, BarFrame]
    if cfg.data_files:  # every instrument cut to the same window: no look-ahead on any
        bars = {sym: _window(_bars(path), spec.start_ns, spec.end_ns)
                for sym, path in cfg.data_files.items()}
        main = next(iter(bars.values()))
    else:
        assert cfg.data is not None
        bars = main = _window(_bars(cfg.data), spec.start_ns, spec.end_ns)
    marks = Checkpoints(spec.prune, main.frame.height) if spec.prune else None
    main_ts = main.frame["ts"]

    def keep_going(so_far: BacktestResult) -> bool:
        assert marks is not None
        return marks.keep_going(metrics_dict(so_far.metrics))

    result = backtest(
        bars, strategy=cls, params=spec.params, symbol=cfg.symbol, cash=cfg.cash,
        fee_bps=cfg.fee_bps, slippage_bps=cfg.slippage_bps, fill=cfg.fill,
        tick_size=cfg.tick_size, lot_size=cfg.lot_size, kind=cfg.kind, leverage=cfg.leverage,
        volume_share=cfg.volume_share, funding=cfg.funding,
        checkpoints=[int(main_ts[p]) for p in marks.positions] if marks else (),
        at_checkpoint=keep_going if marks else None)
    ts = result.equity["ts"].to_numpy() if spec.keep_equity else np.empty(0, np.int64)
    eq = result.equity["equity"].to_numpy() if spec.keep_equity else np.empty(0, np.float64)
    return TrialOutcome(metrics=metrics_dict(result.metrics), bars=result.bars, engine="event",
                        equity_ts=ts.astype(np.int64), equity=eq.astype(np.float64),
                        intermediate=dict(marks.judge.values) if marks else {},
                        pruned_at=marks.pruned_at if marks else None)


def _run_vector(vector: Any, spec: TrialSpec, cls: type[Strategy], costs: Any) -> TrialOutcome:
    cfg = spec.config
    arrays = _vector_bars(vector, str(cfg.data), cfg.symbol).window(spec.start_ns, spec.end_ns)
    params = cls(**spec.params).param_values  # coerced and checked as the engine would
    marks = Checkpoints(spec.prune, len(arrays)) if spec.prune else None
    run = vector.run_vectorised(
        arrays, cls, params, costs, checkpoints=marks.positions if marks else (),
        at_checkpoint=(lambda so_far: marks.keep_going(metrics_dict(so_far.metrics)))
        if marks else None)
    keep = spec.keep_equity
    return TrialOutcome(
        metrics=metrics_dict(run.metrics), bars=len(run.ts), engine="vector",
        equity_ts=np.asarray(run.ts if keep else (), np.int64),
        equity=np.asarray(run.equity if keep else (), np.float64),
        intermediate=dict(marks.judge.values) if marks else {},
        pruned_at=marks.pruned_at if marks else None)


def metrics_dict(m: PerformanceMetrics) -> Metrics:
    """The figures objectives and reports read, by short name."""
    return {"sharpe": m.sharpe_ratio, "sortino": m.sortino_ratio, "calmar": m.calmar_ratio,
            "return_pct": m.total_return_pct, "annual_return_pct": m.annual_return_pct,
            "max_drawdown_pct": m.max_drawdown_pct, "trades": m.num_trades,
            "win_rate_pct": m.win_rate_pct, "profit_factor": m.profit_factor,
            "start_equity": m.start_equity, "end_equity": m.end_equity,
            "fees_paid": m.fees_paid}


def _vector_module() -> Any:
    """``heron.research.vector`` if it is installed, else None (then the event engine runs)."""
    if importlib.util.find_spec("heron.research.vector") is None:
        return None
    from heron.research import vector

    return vector


@functools.lru_cache(maxsize=4)
def _cached_bars(path: str, size: int, mtime_ns: int) -> BarFrame:
    return read_bars(path)


def _bars(path: str) -> BarFrame:
    """Bars of ``path``, read once per process (a changed file is read again)."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise InvalidConfiguration(f"{path}: data file not found; check data in the config "
                                   "(on Ray every node must see it at this path)") from None
    return _cached_bars(path, stat.st_size, stat.st_mtime_ns)


def _vector_bars(vector: Any, path: str, symbol: str | None) -> Any:
    """The vectorised path's arrays of ``path``, from the same per-process cache."""
    return vector.BarArrays.from_frame(_bars(path), symbol=symbol)


def _window(bars: BarFrame, start_ns: int | None, end_ns: int | None) -> BarFrame:
    """The bars with ``start_ns <= ts < end_ns``, cut before any indicator sees them."""
    if start_ns is None and end_ns is None:
        return bars
    ts = pl.col("ts")
    keep = (ts >= (start_ns if start_ns is not None else np.iinfo(np.int64).min)) & (
        ts < (end_ns if end_ns is not None else np.iinfo(np.int64).max))
    frame = bars.frame.filter(keep)
    if frame.height < 2:
        raise InvalidConfiguration(f"the window [{start_ns}, {end_ns}) holds {frame.height} "
                                   "bars; widen it or check the data's time range")
    return msgspec.structs.replace(bars, frame=frame)


def check_data(config: BacktestConfig) -> None:
    """Refuse a config without bars, or with both ``data`` and ``[data_files]``."""
    if config.data is None and not config.data_files:
        raise InvalidConfiguration("no data given; set data (or [data_files]) in the config "
                                   "or pass --data")
    if config.data is not None and config.data_files:
        raise InvalidConfiguration("the config sets both data and [data_files]; keep one "
                                   "(data_files for several instruments)")


def data_span(config: BacktestConfig) -> tuple[int, int]:
    """First and last bar time (ns) that *every* data file covers, for laying out windows."""
    check_data(config)
    paths = list(config.data_files.values()) if config.data_files else [str(config.data)]
    spans = [(int(ts[0]), int(ts[-1])) for ts in (_bars(p).frame["ts"] for p in paths)]
    first, last = max(s[0] for s in spans), min(s[1] for s in spans)
    if first >= last:
        raise InvalidConfiguration(f"the data files {', '.join(paths)} share no time range; "
                                   "give files that overlap in time")
    return first, last


def trial_params(config: BacktestConfig, searched: Mapping[str, Any]) -> dict[str, Any]:
    """The config's fixed ``[params]`` overlaid with the searched values."""
    return {**config.params, **searched}
