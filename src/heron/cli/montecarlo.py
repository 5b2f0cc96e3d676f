"""``heron montecarlo RESULT``: resample a backtest's returns into many equity paths.

RESULT is the ``--json`` document of ``heron backtest``. Prints the percentiles of final
equity, max drawdown and time under water and the probability of ruin; ``--json`` and
``--report`` write them (the report with a fan chart). Exit codes: 0 done; 2 a missing
or foreign result file, a result without the trades or days asked for, an impossible
``--paths``/``--block``/``--ruin``, with the fix.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from heron.core.files import write_text_atomic
from heron.errors import InvalidConfiguration
from heron.research.montecarlo import (
    METHODS,
    PERCENTILES,
    SCHEMES,
    load_result,
    returns_from_result,
    simulate,
)

out = Console()
Opt = typer.Option


def montecarlo_command(
    result: Annotated[Path, typer.Argument(help="backtest result: the file written by "
                                           "`heron backtest ... --json FILE`")],
    paths: Annotated[int, Opt(help="number of simulated paths")] = 10_000,
    method: Annotated[str, Opt(help="resample the round-trip returns (trades) or the "
                               "daily returns of the equity curve (daily)")] = "trades",
    block: Annotated[int | None, Opt(help="block length for a block bootstrap (mean "
                                     "length for stationary); omit for iid")] = None,
    scheme: Annotated[str, Opt(help="block bootstrap: stationary or moving (used with "
                               "--block)")] = "stationary",
    steps: Annotated[int | None, Opt(help="steps per path (default: as many as the "
                                     "backtest had)")] = None,
    seed: Annotated[int | None, Opt(help="random seed (default: fresh, printed and "
                                    "saved)")] = None,
    ruin: Annotated[float, Opt(help="ruin = losing this fraction of the start equity "
                               "at any point")] = 0.5,
    json: Annotated[Path | None, Opt("--json", help="write the results as JSON here")] = None,
    report: Annotated[Path | None, Opt(help="write a self-contained HTML report (fan "
                                       "chart) here")] = None,
) -> None:
    """Bootstrap a backtest's trade or daily returns: equity, drawdown and ruin odds."""
    if method not in METHODS:
        raise InvalidConfiguration(f"--method {method!r} is unknown; use trades or daily")
    if block is not None and scheme not in SCHEMES[1:]:
        raise InvalidConfiguration(f"--scheme {scheme!r} is unknown; use stationary or moving")
    doc = load_result(result)
    series = returns_from_result(doc, method)
    mc = simulate(series, paths=paths, scheme="iid" if block is None else scheme,
                  block=1 if block is None else block, seed=seed, ruin=ruin, steps=steps)
    summary = {"source": str(result), **mc.to_dict()}
    if json is not None:
        write_text_atomic(json, jsonlib.dumps(summary, indent=1, allow_nan=False) + "\n")
    if report is not None:
        from heron.research.montecarlo_report import write_montecarlo_report

        write_montecarlo_report(mc, report, title=f"heron Monte Carlo: {result.name}",
                                source=result.name)
    _print(summary)
    for target in (json, report):
        if target is not None:
            out.print(f"written: {target}")


def _print(doc: dict[str, Any]) -> None:
    unit = "days" if doc["method"] == "daily" else "trades"
    table = Table(title=f"{doc['paths']:,} paths x {doc['steps']:,} {unit} "
                        f"({doc['scheme']}, seed {doc['seed']})")
    table.add_column("", justify="left")
    for q in PERCENTILES:
        table.add_column(f"{q}%", justify="right")
    for label, key, fmt in (("final equity", "final_equity", "{:,.2f}"),
                            ("max drawdown %", "max_drawdown_pct", "{:.2f}"),
                            (f"under water [{unit}]", "longest_under_water", "{:.0f}")):
        table.add_row(label, *(fmt.format(doc[key][f"p{q}"]) for q in PERCENTILES))
    out.print(table)
    out.print(f"probability of ruin (equity <= {doc['ruin_equity']:,.2f}): "
              f"{doc['probability_of_ruin']:.2%}", highlight=False)
