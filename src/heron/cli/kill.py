"""``heron kill``: stop a running paper or live run now, from another terminal.

Exit codes: 0 the run took the command (its control file was read); 1 the run is not
running, or did not answer within ``--wait`` seconds; 2 bad input (no such state
directory, contradictory options).
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from heron.errors import InputError
from heron.risk.intervention import intervene


def kill_command(
    run: Annotated[Path, typer.Option("--run", help="the run's state directory (--state)")],
    flatten: Annotated[bool, typer.Option(
        help="flatten every position first (REDUCING), then halt")] = False,
    resume: Annotated[bool, typer.Option(
        help="an operator's resume: back to READY from DEGRADED or HALTED")] = False,
    reason: Annotated[str, typer.Option(help="why, for the journal and the audit log")] = "",
    wait: Annotated[float, typer.Option(help="seconds to wait for the run to answer")] = 10.0,
    db: Annotated[str | None, typer.Option(envvar="HERON_DB", help="the database a --db run "
                                           "journals to, for its audit entry")] = None,
) -> None:
    """Halt a paper or live run within one turn of its event loop (or resume it)."""
    if flatten and resume:
        raise InputError("--flatten and --resume contradict each other; pass one")
    if not run.is_dir():
        raise InputError(f"no run state at {run}; pass the --state directory of a paper or "
                         "live run")
    action = "resume" if resume else "flatten" if flatten else "halt"
    done = intervene(run, action, actor=f"{getpass.getuser()}@cli", reason=reason,
                     wait_s=wait, db=db)
    if done.audit_error is not None:
        typer.echo(f"warning: the audit log did not record this: {done.audit_error}",
                   err=True)
    typer.echo(f"{action}: sent to pid {done.pid} ({run})")
