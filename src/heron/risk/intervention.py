"""An operator's intervention on a running paper or live run: kill, flatten or resume.

``heron kill`` and the API server (:class:`heron.node.runs.RunManager`) do the same three
steps, so they live here once: send the command to the process that holds the run's state
lock (:func:`heron.risk.kill.send_control`: the run's command inbox), wait until the run
has answered it (one turn of its event loop), then append it to the run's audit log. The
audit comes last because only a command the run took is an intervention that happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from heron.errors import InputError, VenueUnavailable
from heron.risk.kill import (
    CONTROL_INBOX,
    Control,
    record_intervention,
    running_pid,
    send_control,
    wait_control,
)

ACTIONS = ("halt", "flatten", "resume")


@dataclass(frozen=True)
class Intervention:
    """What was done: to which process, and why the audit log may lack it."""

    action: str
    pid: int
    audit_error: str | None  # the audit sink failed; the command itself was taken


def intervene(state_dir: Path, action: str, *, actor: str, reason: str,
              wait_s: float = 10.0, audit_run: str | None = None,
              db: str | None = None) -> Intervention:
    """Deliver ``action`` to the run of ``state_dir`` and record it once taken.

    Raises :class:`~heron.errors.InputError` when ``state_dir`` is no run's state, and
    :class:`~heron.errors.VenueUnavailable` when no process runs it or it did not take the
    command within ``wait_s`` (the command then waits in its inbox). ``audit_run`` names
    the run in the audit log (default: the state directory's name). A run that journals
    to a database (``--db``) is audited there, under its journal run id, when ``db`` is
    that database's URL (the state keeps it without its password).
    """
    pid = running_pid(state_dir)
    if pid is None:
        raise VenueUnavailable(f"no process is running {state_dir}; nothing to kill (a "
                               "stopped run sends nothing)")
    control = Control(action=action, reason=reason or f"heron kill ({action})", actor=actor)
    entry = send_control(state_dir, control, pid)
    if not wait_control(state_dir, entry, wait_s):
        raise VenueUnavailable(f"the run (pid {pid}) did not take the command within "
                               f"{wait_s:g} s; it waits in {state_dir / CONTROL_INBOX}")
    try:
        location, run = _audit_target(state_dir, audit_run or state_dir.name, db)
        record_intervention(location, run, actor, f"kill.{action}",
                            {"reason": control.reason, "pid": pid})
    except Exception as exc:  # the command was taken; a failing audit sink is reported
        return Intervention(action, pid, str(exc))
    return Intervention(action, pid, None)


def _audit_target(state_dir: Path, run: str, db: str | None) -> tuple[str | Path, str]:
    """Where the audit entry goes: the database the run journals to, or its state file."""
    from heron.core.db import display
    from heron.node.paper_state import stored_journal

    run_id, journaled_to = stored_journal(state_dir)
    if not journaled_to:
        return state_dir / "journal.sqlite", run
    if db is None or display(db) != journaled_to:
        raise InputError(f"the run journals to {journaled_to}; pass its URL with --db (or "
                         "HERON_DB) so the audit log is kept beside its journal")
    return db, run_id


__all__ = ["ACTIONS", "Intervention", "intervene"]
