"""A reconciliation pass of a running live engine: read, compare, catch up, gate.

:mod:`heron.execution.reconcile` is the pure comparison; this is the pass a live run
makes at start and every few minutes: read the account through the venue client, fetch
the final state of heron's orders the venue no longer lists, reconcile, then

* journal and apply the report's records (what already happened at the venue: missed
  fills, closes, adopted orders, the wallet balance) -- never sent anywhere;
* with a remediation policy, journal its records and *send* its commands (cancel the
  adopted orphans, flatten) through the engine, i.e. through the trading-state gate;
* save the evidence (both sides and the venue's raw replies) under the run's directory;
  the records and commands are applied in a copy of the caller's context, so the order
  each one binds for the log (:mod:`heron.observe.logs`) names its own lines and tasks,
  never the pass's summary nor the run's later lines;
* feed the trading-state machine (:mod:`heron.risk.state`): blocking differences fire
  the ``reconcile`` trigger (``DEGRADED``: reduce-only), a pass that finds none clears
  it (back to ``READY`` when nothing else restricts the run).
"""

from __future__ import annotations

import contextvars
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from heron.execution.reconcile import client_id_map, fetch_missing, reconcile, snapshot
from heron.execution.reconcile_report import ReconcileReport, Remediate, save_evidence

if TYPE_CHECKING:
    from heron.node.live import LiveEngine

log = logging.getLogger(__name__)


async def reconcile_pass(engine: LiveEngine, run_dir: Path | None, *,
                         policy: Remediate = Remediate.NONE) -> ReconcileReport:
    """One pass (see the module docstring); returns the report."""
    execution = engine.execution
    client = execution.client
    om = engine.om
    since = max(execution.last_fill_ns - 5_000_000_000, execution.since_ns)
    now = time.time_ns()
    # since >= the run's start: the venue returns no fill from before the run
    snap = await snapshot(client, engine.instruments, since or None, ts=now)
    closed = await fetch_missing(client, om, snap)
    report = reconcile(om, snap, currency=engine.instruments[0].quote_currency, ts=now,
                       client_ids=client_id_map(om, client.venue_client_id), closed=closed)
    contextvars.copy_context().run(_apply, engine, report, policy)
    if run_dir is not None:
        path = save_evidence(run_dir, report)
        if path is not None:
            log.warning("reconcile: %d records caught up, %d differences; evidence in %s",
                        len(report.records), len(report.mismatches), path)
    _gate(engine, report)
    return report


def _apply(engine: LiveEngine, report: ReconcileReport, policy: Remediate) -> None:
    """Journal and apply what already happened; with a policy, remediate."""
    execution = engine.execution
    for record in report.records:
        engine.emit(record)
        execution.learn(record)
    if policy is not Remediate.NONE:
        fix = report.remediation(policy, lambda: engine.ids.client_order_id("reconcile"))
        for record in fix.records:
            engine.emit(record)
            execution.learn(record)
        for command in fix.commands:
            engine.send(command)
        for why in fix.skipped:
            log.warning("reconcile: %s", why)


def _gate(engine: LiveEngine, report: ReconcileReport) -> None:
    blocking = report.blocking
    if blocking:
        for m in blocking:
            log.error("reconcile: %s %s: heron %s, venue %s; reduce-only until resolved",
                      m.kind.value, m.instrument_id, m.heron, m.venue)
        first = blocking[0]
        engine.machine.fire("reconcile", f"{len(blocking)} blocking reconciliation "
                            "differences", {"count": str(len(blocking)),
                                            "first": f"{first.kind.value} {first.instrument_id}",
                                            "heron": str(first.heron),
                                            "venue": str(first.venue)})
    else:
        engine.machine.clear("reconcile", "a reconciliation pass found no difference")


async def reconcile_at_start(engine: LiveEngine, run_dir: Path, *,
                             policy: Remediate = Remediate.NONE) -> int:
    """The start-up pass; the number of blocking differences left."""
    report = await reconcile_pass(engine, run_dir, policy=policy)
    return len(report.blocking)


__all__ = ["reconcile_at_start", "reconcile_pass"]
