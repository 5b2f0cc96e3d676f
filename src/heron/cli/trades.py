"""``heron trades JOURNAL``: the round trips of a run, from its journal alone.

Works on any heron journal (backtest ``--journal``, a paper or live run's state
directory or its ``journal.sqlite``): entry and exit, average prices, fees, funding,
realised and net PnL, and slippage against the strategy's decision price. ``--out``
writes every column exactly (Parquet or CSV); the terminal table shows the last
``--limit`` trips, rounded for reading. Exit codes: 0 done; 2 a missing, foreign or
damaged journal, an unknown instrument or output format, with the fix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from heron.core.db import display
from heron.node.round_trip_table import journal_round_trips, table_format, write_round_trips

out = Console()
Opt = typer.Option
_SHOWN = Decimal("1e-8")  # the terminal rounds to 8 decimals; --out keeps every digit
_WIDE = Context(prec=80)   # room for a Decimal(38, s) column value and its 8 decimals


def trades_command(
    journal: Annotated[str, typer.Argument(
        help="journal (--journal of a backtest), a paper/live state directory, or a "
             "database URL given to --db (postgresql://...)")],
    out_path: Annotated[Path | None, Opt("--out", help="write the table here: .parquet or "
                                         ".csv (exact decimals)")] = None,
    include_open: Annotated[bool, Opt("--open", help="include round trips still open")
                            ] = False,
    instrument: Annotated[str | None, Opt(help="only this instrument (id or symbol)")] = None,
    limit: Annotated[int, Opt(help="rows shown in the terminal (the last ones); 0 = all")
                     ] = 50,
    run: Annotated[str | None, Opt(help="the run, where the database holds several")] = None,
) -> None:
    """Round trips of a run: prices, fees, funding, PnL and slippage vs decision price."""
    if out_path is not None:
        table_format(out_path)
    path: str | Path = journal
    if "://" not in journal:
        path = Path(journal) / "journal.sqlite" if Path(journal).is_dir() else Path(journal)
    frame = journal_round_trips(path, include_open=include_open, instrument=instrument,
                                run_id=run)
    if out_path is not None:
        write_round_trips(frame, out_path)
    _print(frame, path, limit)
    out.print(totals_line(frame), highlight=False, soft_wrap=True)
    if out_path is not None:
        out.print(f"written: {out_path}")


def _print(frame: pl.DataFrame, path: str | Path, limit: int) -> None:
    if frame.is_empty():
        out.print(f"{display(path)}: no round trips")
        return
    shown = frame.tail(limit) if limit > 0 else frame
    table = Table(title=f"round trips: {display(path)}")  # a database URL: no password
    for name in ("instrument", "side", "entry (UTC)", "exit (UTC)", "qty", "entry px",
                 "exit px", "fees", "funding", "net pnl", "slip in bps", "slip out bps"):
        table.add_column(name, justify="left" if name in ("instrument", "side") else "right")
    for row in shown.iter_rows(named=True):
        table.add_row(row["instrument"], row["direction"], _time(row["entry_ts"]),
                      _time(row["exit_ts"]) if row["closed"] else "open",
                      *(_dec(row[k]) for k in ("qty", "entry_price", "exit_price", "fees",
                                                "funding", "net_pnl")),
                      *(_bps(row[k]) for k in ("entry_slippage_bps", "exit_slippage_bps")))
    # piped output is not squeezed to 80 columns: a file or pager takes the full rows
    wide = out if out.is_terminal else Console(width=max(out.width, 180))
    wide.print(table)
    if shown.height < frame.height:
        out.print(f"… {frame.height - shown.height} earlier round trips not shown "
                  "(--limit 0 shows all, --out writes all)")


def totals_line(frame: pl.DataFrame) -> str:
    """One line of totals: trips, winners, net, realised, fees, funding, mean slippage."""
    if frame.is_empty():
        return "0 round trips"
    sums = frame.select(pl.col("net_pnl", "realised_pnl", "fees", "funding").sum()).row(
        0, named=True)
    won = frame.filter(pl.col("net_pnl") > 0).height
    still_open = frame.filter(~pl.col("closed")).height
    slips = [f"{side} {_mean_bps(frame[f'{side}_slippage_bps'])}" for side in ("entry", "exit")]
    return (f"{frame.height} round trips ({still_open} open), {won} won; net "
            f"{_dec(sums['net_pnl'])}, realised {_dec(sums['realised_pnl'])}, fees "
            f"{_dec(sums['fees'])}, funding {_dec(sums['funding'])}; slippage bps (mean per trip): "
            + ", ".join(slips))


def _mean_bps(column: pl.Series) -> str:
    values = [v for v in column.to_list() if v is not None]
    if not values:
        return "n/a"
    return _bps(sum(values, Decimal(0)) / len(values))


def _dec(value: Any) -> str:
    if value is None:
        return "-"
    rounded = Decimal(value).quantize(_SHOWN, ROUND_HALF_EVEN, _WIDE).normalize(_WIDE)
    return f"{rounded:f}" if rounded else "0"


def _bps(value: Any) -> str:
    return "-" if value is None else f"{Decimal(value):.2f}"


def _time(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
