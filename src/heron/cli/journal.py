"""``heron journal verify|list``: check a journal and rebuild a run's final state; list the
runs a journal database holds (a SQLite file holds one; a PostgreSQL database many)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from heron.node.replay import replay_journal

journal_app = typer.Typer(no_args_is_help=True, help="Inspect run journals.")
out = Console()
Where = Annotated[str, typer.Argument(help="journal file written with --journal, or a "
                                      "database URL given to --db (postgresql://...)")]


@journal_app.command("verify")
def verify(path: Where,
           run: Annotated[str | None, typer.Option(
               help="the run to verify, where the database holds several")] = None) -> None:
    """Verify a journal (format, schema, sequence, hash) and replay it to its final state."""
    replayed = replay_journal(path, run_id=run)
    pf = replayed.portfolio
    table = Table(title=f"journal {_shown(path)}", show_header=False)
    table.add_row("records", f"{replayed.records:,}")
    table.add_row("orders", f"{len(replayed.orders.orders):,}")
    table.add_row("fills", f"{pf.fill_count:,}")
    table.add_row("balance", f"{pf.money(pf.balance)}")
    table.add_row("fees", f"{pf.money(pf.fees)}")
    table.add_row("realised pnl", f"{pf.money(pf.realised)}")
    for iid, pos in sorted(pf.positions.items()):
        if pos.qty:
            table.add_row(f"position {iid}", f"{pos.quantity} @ {pos.avg_entry}")
    out.print(table)
    out.print(f"sha256: {replayed.sha256}", soft_wrap=True)
    out.print("ok: the journal is whole and replays to the state above")


@journal_app.command("list")
def list_runs(path: Where) -> None:
    """The runs in a journal database: id, kind, records, sealed, hash."""
    from heron.core.journal_store import list_runs as runs_in

    table = Table(title=f"runs in {_shown(path)}")
    for name in ("run", "kind", "records", "sealed", "sha256"):
        table.add_column(name)
    for run in runs_in(path):
        table.add_row(run.run_id, run.kind,
                      "" if run.record_count is None else f"{run.record_count:,}",
                      "yes" if run.sealed else "no", (run.sha256 or "")[:16])
    Console(width=max(out.width, 120)).print(table)


def _shown(path: str) -> str:
    from heron.core.db import display

    return display(path)
