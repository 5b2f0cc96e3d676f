"""``heron kill``: stop a running paper or live run now, from another terminal.

Exit codes: 0 the run took the command (its control file was read); 1 the run is not
running, or did not answer within ``--wait`` seconds; 2 bad input (no such state
directory, contradictory options).
"""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import Annotated

import typer

from heron.errors import InputError, VenueUnavailable
from heron.risk.kill import CONTROL_FILE, Control, record_intervention, running_pid, send_control


def kill_command(
    run: Annotated[Path, typer.Option("--run", help="the run's state directory (--state)")],
    flatten: Annotated[bool, typer.Option(
        help="flatten every position first (REDUCING), then halt")] = False,
    resume: Annotated[bool, typer.Option(
        help="an operator's resume: back to READY from DEGRADED or HALTED")] = False,
    reason: Annotated[str, typer.Option(help="why, for the journal and the audit log")] = "",
    wait: Annotated[float, typer.Option(help="seconds to wait for the run to answer")] = 10.0,
) -> None:
    """Halt a paper or live run within one turn of its event loop (or resume it)."""
    if flatten and resume:
        raise InputError("--flatten and --resume contradict each other; pass one")
    if not run.is_dir():
        raise InputError(f"no run state at {run}; pass the --state directory of a paper or "
                         "live run")
    pid = running_pid(run)
    if pid is None:
        raise VenueUnavailable(f"no process is running {run}; nothing to kill (a stopped run "
                               "sends nothing)")
    action = "resume" if resume else "flatten" if flatten else "halt"
    actor = f"{getpass.getuser()}@cli"
    control = Control(action=action, reason=reason or f"heron kill ({action})", actor=actor)
    send_control(run, control, pid)
    deadline = time.monotonic() + wait
    while (run / CONTROL_FILE).exists():
        if time.monotonic() > deadline:
            raise VenueUnavailable(f"the run (pid {pid}) did not take the command within "
                                   f"{wait:g} s; {run / CONTROL_FILE} is left for it")
        time.sleep(0.02)
    try:
        record_intervention(run / "journal.sqlite", run.name, actor, f"kill.{action}",
                            {"reason": control.reason, "pid": pid})
    except Exception as exc:  # the kill is done; a failing audit sink is reported, not fatal
        typer.echo(f"warning: the audit log did not record this: {exc}", err=True)
    typer.echo(f"{action}: sent to pid {pid} ({run})")
