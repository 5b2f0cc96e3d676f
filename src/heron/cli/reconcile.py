"""``heron reconcile``: compare a live run (or nothing) with the venue account; fix on request.

Two paths:

* **report** (the default, read-only): the run's journal in ``--state`` is replayed in
  memory, the account is read, and the differences are printed and saved as evidence
  under ``STATE/reconcile/``; nothing is journaled, nothing is sent. Without ``--state``
  heron holds nothing, so the report is an inventory of what the account holds on
  ``--symbol`` (every open order and position shows as the venue's alone).
* **remediation** (``--remediate adopt,cancel-orphans,flatten``, needs ``--state``): the
  run's journal takes the catch-up records and the chosen fixes' records, and the fixes'
  commands are sent (cancel the adopted orders, flatten the venue's position with a
  reduce-only market order). It holds the state's lock, so it cannot run beside
  ``heron live`` on the same state.

Exit codes: 0 in step with the venue (or every difference fixed); 1 differences remain,
or the venue could not be reached; 2 bad input (bad keys, unknown state, venue or
option); 3 a bug.
"""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from heron.errors import InputError

if TYPE_CHECKING:
    from heron.execution.reconcile_report import ReconcileReport, Remediate
    from heron.model.events import Record
    from heron.node.live_run import LiveState
    from heron.venues.ccxt.client import CcxtClient

out = Console()
err = Console(stderr=True)
Opt = typer.Option
_POLICY = {"adopt": "ADOPT", "cancel-orphans": "CANCEL_ORPHANS", "flatten": "FLATTEN"}


def reconcile_command(
    state: Annotated[Path | None, Opt(help="a live run's state directory")] = None,
    venue: Annotated[str | None, Opt(help="without --state: the venue to inventory")] = None,
    symbol: Annotated[list[str] | None, Opt(help="without --state: symbol (repeatable)")
                      ] = None,
    testnet: Annotated[bool, Opt(help="without --state: the venue's testnet")] = False,
    endpoint: Annotated[str | None, Opt(help="another host for the venue (emulator, proxy)")
                        ] = None,
    key_file: Annotated[Path | None, Opt(help="API keys file (chmod 600)")] = None,
    remediate: Annotated[str | None, Opt(help="fixes to apply: adopt, cancel-orphans, "
                                         "flatten (comma-separated; needs --state)")] = None,
    json_out: Annotated[bool, Opt("--json", help="the evidence document on stdout")] = False,
) -> None:
    """Compare heron's view of an account with the venue's; report, or fix on request."""
    from heron.execution.reconcile_report import Remediate

    policy = Remediate.NONE
    for name in filter(None, (remediate or "").split(",")):
        if name.strip() not in _POLICY:
            raise InputError(f"--remediate {name!r} is unknown; use any of "
                             f"{', '.join(_POLICY)}")
        policy |= Remediate[_POLICY[name.strip()]]
    if policy and state is None:
        raise InputError("--remediate changes a run's journal: pass the run's --state")
    if state is None and (venue is None or not symbol):
        raise InputError("pass a live run's --state, or --venue and --symbol to inventory")
    report = asyncio.run(_reconcile(state, venue, symbol or [], testnet, endpoint, key_file,
                                    policy))
    if json_out:
        sys.stdout.write(report.to_json().decode() + "\n")
    else:
        for line in report.lines():
            out.print(line, highlight=False, soft_wrap=True)
    if not report.clean:
        raise typer.Exit(1)


async def _reconcile(state_dir: Path | None, venue: str | None, symbols: list[str],
                     testnet: bool, endpoint: str | None, key_file: Path | None,
                     policy: Remediate) -> ReconcileReport:
    from heron.node.live_run import LiveState

    if state_dir is None:
        assert venue is not None
        return await _inventory(venue, symbols, testnet, endpoint, key_file)
    if not (state_dir / "run.json").exists():
        raise InputError(f"{state_dir} is not a heron live run (no run.json); pass the "
                         "--state of a `heron live` run")
    from heron.node.paper_state import stored_journal

    database = stored_journal(state_dir)[1]
    if database:  # its journal is not in the state directory
        raise InputError(f"{state_dir} journals to {database} (--db), which heron reconcile "
                         "does not read yet; start the run again (`heron live`), its start "
                         "reconciles")
    state = LiveState(state_dir)
    try:
        return await _on_state(state, endpoint, key_file, policy)
    finally:
        state.close()


async def _on_state(state: LiveState, endpoint: str | None, key_file: Path | None,
                    policy: Remediate) -> ReconcileReport:
    from heron.execution.reconcile_report import Remediate
    from heron.execution.reconcile_run import reconcile_pass
    from heron.node.live_run import build_engine, previous_records, restore

    stored = state.stored()
    assert stored is not None
    cfg, instruments = stored
    client = _client(cfg.venue, cfg.symbols, cfg.testnet, endpoint, key_file)
    await client.open()
    try:
        fixing = policy is not Remediate.NONE
        records = previous_records(state) if fixing else _committed(state)
        engine = build_engine(cfg, client, instruments, state.journal if fixing else None,
                              {})
        try:
            if fixing:
                restore(engine, state, records)
            else:
                engine.restore(records)
            report = await reconcile_pass(engine, state.dir, policy=policy)
            await engine.execution.drain()
        finally:
            engine.journal.close()
        return report
    finally:
        await client.close()


def _committed(state: LiveState) -> list[Record]:
    """The run's records, read without touching its files."""
    from heron.core.journal import decode_record
    from heron.core.journal_store import committed_payloads

    if not state.journal.exists():
        return []
    return [decode_record(p) for p in committed_payloads(state.journal)]


async def _inventory(venue: str, symbols: list[str], testnet: bool, endpoint: str | None,
                     key_file: Path | None) -> ReconcileReport:
    """What the account holds on ``symbols``, as differences from an empty run."""
    from heron.execution.order_manager import OrderManager
    from heron.execution.reconcile import reconcile, snapshot
    from heron.model.portfolio import Portfolio

    client = _client(venue, symbols, testnet, endpoint, key_file)
    await client.open()
    try:
        instruments = list(client.instruments.values())
        now = time.time_ns()
        snap = await snapshot(client, instruments, now - 24 * 3_600_000_000_000, ts=now)
        wallet = snap.balance(instruments[0].quote_currency)
        precision = max([8, *(i.notional_precision for i in instruments)])
        cash = wallet.total if wallet is not None else Decimal(0)
        om = OrderManager(Portfolio(instruments, int(cash.scaleb(precision)), precision))
        return reconcile(om, snap, currency=instruments[0].quote_currency, ts=now)
    finally:
        await client.close()


def _client(venue: str, symbols: list[str], testnet: bool, endpoint: str | None,
            key_file: Path | None) -> CcxtClient:
    from heron.venues.ccxt.client import CcxtClient
    from heron.venues.ccxt.dialect import dialect_for
    from heron.venues.credentials import load_credentials

    dialect = dialect_for(venue)
    return CcxtClient(dialect, load_credentials(venue, key_file=key_file), symbols,
                      endpoint=endpoint, testnet=testnet)


__all__ = ["reconcile_command"]
