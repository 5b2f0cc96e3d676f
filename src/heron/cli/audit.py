"""``heron audit verify|list --db URL``: the hash-chained log of manual interventions.

Exit codes: 0 the chain is intact; 4 the chain is broken (the first broken row is named,
every problem listed); 2 the database is missing, foreign or unreachable.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

#: ``heron audit verify`` found the chain broken (edited, deleted or reordered rows)
EXIT_TAMPERED = 4

audit_app = typer.Typer(no_args_is_help=True, help="The audit log of manual interventions.")
out = Console()
err = Console(stderr=True)
Opt = typer.Option
DbOpt = Annotated[str, Opt("--db", help="journal database: a SQLite path, sqlite:///PATH or "
                           "postgresql://user@host:port/dbname")]


@audit_app.command("verify")
def verify(db: DbOpt,
           head: Annotated[str | None, Opt(help="the head hash seen before (audit list): "
                                           "also catches rows cut from the end")] = None,
           count: Annotated[int | None, Opt(min=0, help="the row count seen before")] = None,
           ) -> None:
    """Check the audit chain row by row; exit 0 intact, 4 broken (naming the first row)."""
    from heron.core.audit import AuditLog

    log = AuditLog(db, create=False)
    try:
        problems = log.verify(head=head, count=count)
        rows = len(log.entries())
    finally:
        log.close()
    if problems:
        err.print(f"audit chain broken at {problems[0]}", highlight=False, soft_wrap=True)
        for problem in problems[1:]:
            err.print(f"  also: {problem}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_TAMPERED)
    out.print(f"ok: {rows} audit rows, chain intact", highlight=False)


@audit_app.command("list")
def list_entries(db: DbOpt,
                 run: Annotated[str | None, Opt(help="only this run's rows")] = None) -> None:
    """The audit rows in chain order, and the head hash to check against later."""
    from heron.core.audit import AuditLog

    log = AuditLog(db, create=False)
    try:
        entries = log.entries(run)
        every = log.entries()
    finally:
        log.close()
    table = Table(title="audit")
    for name in ("seq", "time (UTC)", "run", "actor", "action", "details", "hash"):
        table.add_column(name)
    for e in entries:
        when = datetime.fromtimestamp(e.ts_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(e.seq), when, e.run_id, e.actor, e.action,
                      ", ".join(f"{k}={v}" for k, v in sorted(e.details.items())),
                      e.hash[:12])
    Console(width=max(out.width, 160)).print(table)
    head = every[-1].hash if every else "none"
    out.print(f"rows: {len(every)}  head: {head}", highlight=False, soft_wrap=True)
