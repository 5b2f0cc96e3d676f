"""``heron backtest``: run a strategy over bars, print a summary, write the outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from heron.cli.config import BacktestConfig, load_config
from heron.errors import InvalidConfiguration
from heron.node.api import backtest
from heron.node.result import BacktestResult
from heron.risk.config import RiskConfig, load_risk
from heron.strategy.base import Strategy
from heron.strategy.registry import strategy_class

out = Console()
err = Console(stderr=True)

Opt = typer.Option


def backtest_command(
    config: Annotated[Path | None, typer.Argument(help="TOML config (flags override it)")] = None,
    strategy: Annotated[str | None, Opt(help="strategy name or module:Class")] = None,
    strategy_path: Annotated[Path | None, Opt(help="folder of your strategy files (also "
                                              "HERON_STRATEGY_PATH); docs/strategies.md")
                             ] = None,
    data: Annotated[str | None, Opt(help="bar file: CSV(.gz), freqtrade JSON/feather, Parquet")
                    ] = None,
    symbol: Annotated[str | None, Opt(help="instrument symbol (default: from the file)")] = None,
    param: Annotated[list[str] | None, Opt(help="strategy parameter k=v (repeatable)")] = None,
    cash: Annotated[str | None, Opt(help="starting cash")] = None,
    fee_bps: Annotated[str | None, Opt(help="fee per fill in basis points")] = None,
    slippage_bps: Annotated[str | None, Opt(help="slippage on taker fills, bps")] = None,
    fill: Annotated[str | None, Opt(help="market fills at next-open or close")] = None,
    tick_size: Annotated[str | None, Opt(help="price increment (default: from the data)")
                         ] = None,
    lot_size: Annotated[str | None, Opt(help="size increment (default 0.00000001)")] = None,
    kind: Annotated[str | None, Opt(help="spot or perp")] = None,
    leverage: Annotated[str | None, Opt(help="leverage for perp")] = None,
    volume_share: Annotated[str | None, Opt(help="max share of bar volume filled")] = None,
    funding: Annotated[str | None, Opt(help="funding-rate file (perp): CSV/Parquet/Feather")
                       ] = None,
    json: Annotated[str | None, Opt("--json", help="write the results as JSON here")] = None,
    report: Annotated[str | None, Opt(help="write a self-contained HTML report here")] = None,
    journal: Annotated[str | None, Opt(help="write the SQLite journal here")] = None,
    db: Annotated[str | None, Opt(envvar="HERON_DB",
                                  help="write the journal to this database instead: "
                                  "postgresql://user@host:port/dbname (a new run id, "
                                  "printed) or sqlite:///PATH; HERON_DB keeps a password "
                                  "out of the process list")] = None,
    run_id: Annotated[str | None, Opt(help="the journal's run id in a --db database "
                                      "(default: a new one, printed)")] = None,
    quiet: Annotated[bool, Opt(help="no progress bar or summary table")] = False,
    risk: Annotated[Path | None, Opt(help="risk file: [limits], [state], [portfolio] "
                                     "(TOML, docs/risk.md)")] = None,
    log_json: Annotated[bool, Opt(help="JSON log lines on stderr (run, strategy, order "
                                  "id)")] = False,
) -> None:
    """Backtest a strategy on bars; flags override the optional TOML config."""
    base = load_config(config) if config is not None else BacktestConfig()
    flags = {"strategy": strategy, "strategy_path": strategy_path and str(strategy_path),
             "data": data, "symbol": symbol, "cash": cash,
             "fee_bps": fee_bps, "slippage_bps": slippage_bps, "fill": fill,
             "tick_size": tick_size, "lot_size": lot_size, "kind": kind, "leverage": leverage,
             "volume_share": volume_share, "funding": funding, "json": json, "report": report,
             "journal": _journal_target(journal, db)}
    if data is not None:  # --data replaces the config's data, one file or several
        base = msgspec.structs.replace(base, data_files=None)
    merged = msgspec.structs.replace(base, **{k: v for k, v in flags.items() if v is not None})
    params = {**merged.params, **_parse_params(param or [])}
    limits = load_risk(risk) if risk is not None else None  # refused before any work
    if log_json:
        from heron.observe.logs import bind_run, configure_logging

        configure_logging(json=True)
        bind_run(run="backtest", strategy=merged.strategy or "", venue="SIM")
    if merged.data is None and not merged.data_files:
        raise InvalidConfiguration("no data given; pass --data PATH or set data in the config")
    if merged.data is not None and merged.data_files:
        raise InvalidConfiguration("the config sets both data and [data_files]; keep one "
                                   "(data_files for several instruments)")
    for target in (merged.json, merged.report, merged.journal):
        if target is not None and "://" not in target:
            _check_writable(Path(target))
    result = _run(merged, params, quiet, limits, run_id)
    _write_outputs(result, merged)
    if not quiet:
        _summary(result, merged)
    elif merged.journal and "://" in merged.journal:  # the run id is the way back to it
        out.print(f"journal run: {result.engine.journal.run_id}")


def _run(cfg: BacktestConfig, params: dict[str, Any], quiet: bool,
         limits: RiskConfig | None = None, run_id: str | None = None) -> BacktestResult:
    kwargs: dict[str, Any] = {
        "strategy": _strategy(cfg), "params": params, "symbol": cfg.symbol, "cash": cfg.cash,
        "fee_bps": cfg.fee_bps, "slippage_bps": cfg.slippage_bps, "fill": cfg.fill,
        "tick_size": cfg.tick_size, "lot_size": cfg.lot_size, "kind": cfg.kind,
        "leverage": cfg.leverage, "volume_share": cfg.volume_share, "journal": cfg.journal,
        "funding": cfg.funding, "risk": limits, "journal_run_id": run_id,
    }
    source: str | dict[str, str] | None = cfg.data_files or cfg.data
    assert source is not None
    if quiet or not err.is_terminal:
        return backtest(source, **kwargs)
    with Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.completed:,} bars"),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
        task = bar.add_task("run", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return backtest(source, progress=tick, **kwargs)


def _strategy(cfg: BacktestConfig) -> type[Strategy]:
    """The strategy's class: built-in, entry point, strategy-path file or module:Class."""
    return strategy_class(cfg.strategy, paths=[cfg.strategy_path] if cfg.strategy_path else [])


def _journal_target(journal: str | None, db: str | None) -> str | None:
    """``--journal PATH`` or ``--db URL`` (a plain path or sqlite:/// is the same file)."""
    if db is None:
        return journal
    if journal is not None:
        raise InvalidConfiguration("pass --journal PATH or --db URL, not both")
    if db.startswith("sqlite:///"):
        return db[len("sqlite:///"):]
    return db


def _parse_params(items: list[str]) -> dict[str, str]:
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidConfiguration(f"--param {item!r} is not key=value; e.g. --param fast=10")
        parsed[key.strip()] = value.strip()
    return parsed


def _check_writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidConfiguration(f"{path}: folder {folder} does not exist; create it first")


def _write_outputs(result: BacktestResult, cfg: BacktestConfig) -> None:
    if cfg.json:
        result.write_json(cfg.json)
    if cfg.report:
        result.write_report(cfg.report, title=f"{cfg.strategy} on "
                            f"{cfg.symbol or cfg.data or ', '.join(cfg.data_files or {})}")


def _summary(result: BacktestResult, cfg: BacktestConfig) -> None:
    m = result.metrics
    table = Table(title=f"heron backtest: {cfg.strategy}", show_header=False, min_width=48)
    rows: list[tuple[str, str]] = [
        ("bars", f"{result.bars:,}"), ("orders", f"{result.orders:,}"),
        ("fills", f"{result.fills.height:,}"), ("round trips", f"{result.trades.height:,}"),
        ("starting cash", f"{result.starting_cash:,}"),
        ("final equity", f"{result.final_equity:,.2f}"),
        ("return", f"{result.return_pct:.2f} %"),
        ("sharpe", _num(m.sharpe_ratio)), ("sortino", _num(m.sortino_ratio)),
        ("max drawdown", f"{m.max_drawdown_pct:.2f} %"),
        ("win rate", _num(m.win_rate_pct, " %")), ("profit factor", _num(m.profit_factor)),
        ("exposure", _num(m.exposure_pct, " %")), ("fees paid", f"{m.fees_paid:,.2f}"),
        ("funding", f"{result.funding:,.2f}"),
        ("journal sha256", result.journal_sha256[:16] + "…"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    for label, path in (("json", cfg.json), ("report", cfg.report), ("journal", cfg.journal)):
        if path and "://" in path:
            from heron.core.db import display

            out.print(f"{label}: {display(path)} run {result.engine.journal.run_id}")
        elif path:
            out.print(f"{label}: {path}")


def _num(value: float | None, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:,.2f}{suffix}"
