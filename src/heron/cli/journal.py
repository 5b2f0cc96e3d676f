"""``heron journal verify PATH``: check a journal and rebuild the run's final state."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from heron.node.replay import replay_journal

journal_app = typer.Typer(no_args_is_help=True, help="Inspect run journals.")
out = Console()


@journal_app.command("verify")
def verify(path: Annotated[Path, typer.Argument(help="journal written with --journal")]) -> None:
    """Verify a journal (format, schema, sequence, hash) and replay it to its final state."""
    run = replay_journal(path)
    pf = run.portfolio
    table = Table(title=f"journal {path}", show_header=False)
    table.add_row("records", f"{run.records:,}")
    table.add_row("orders", f"{len(run.orders.orders):,}")
    table.add_row("fills", f"{pf.fill_count:,}")
    table.add_row("balance", f"{pf.money(pf.balance)}")
    table.add_row("fees", f"{pf.money(pf.fees)}")
    table.add_row("realised pnl", f"{pf.money(pf.realised)}")
    for iid, pos in sorted(pf.positions.items()):
        if pos.qty:
            table.add_row(f"position {iid}", f"{pos.quantity} @ {pos.avg_entry}")
    out.print(table)
    out.print(f"sha256: {run.sha256}", soft_wrap=True)
    out.print("ok: the journal is whole and replays to the state above")
