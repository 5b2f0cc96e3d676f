"""``STATE/status.json``: what a running paper or live run is doing, for other processes.

The API server shows every run at a glance without opening each journal: equity,
positions, trading state and feed health come from the run itself, rewritten atomically
about once a second (and at start and stop), so a reader sees one whole snapshot. Money,
prices and quantities are exact decimal strings (never floats); an open position whose
instrument has no mark yet is valued at its cost (no unrealised PnL) rather than left
out of the equity.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from heron.core.files import write_bytes_atomic
from heron.model.feed import FeedHealth
from heron.model.portfolio import Portfolio
from heron.model.position import Position
from heron.node.control import STATUS_FILE

if TYPE_CHECKING:
    from heron.node.paper import PaperEngine

_EXTRA_ENTRY_DECIMALS = 4  # an average entry between ticks: shown to 1/10,000 of a tick


def decimal_text(value: Decimal) -> str:
    """``value`` in plain notation, no exponent and no trailing zeros (``"10000"``,
    ``"0.5"``, ``"0"``)."""
    if not value:
        return "0"
    return format(value.normalize(), "f")


def run_status(engine: PaperEngine, health: Mapping[Any, FeedHealth], *, kind: str,
               running: bool, now_ns: int | None = None) -> dict[str, Any]:
    """The run's status as ``status.json`` holds it."""
    now = time.time_ns() if now_ns is None else now_ns
    pf = engine.portfolio
    equity = equity_at_cost(pf)
    return {
        "updated_at": now, "kind": kind, "pid": os.getpid(), "running": running,
        "trading_state": engine.machine.state.value,
        "equity": decimal_text(pf.money(equity)),
        # what `heron status` shows without replaying the journal (months of it, for a
        # run left trading)
        "pnl": decimal_text(pf.money(equity - pf.starting_balance)),
        "balance": decimal_text(pf.money(pf.balance)),
        "currency": engine.instruments[0].quote_currency if engine.instruments else "",
        "events": engine.consumed, "journal_seq": engine.journal.seq,
        "open_orders": len(engine.om.open_orders),
        "marks": {pf.instruments[iid].symbol: decimal_text(pf.instruments[iid].price(ticks))
                  for iid, ticks in sorted(pf.marks.items())},
        "positions": [_position(pf, pos) for _, pos in sorted(pf.positions.items()) if pos.qty],
        "feeds": [_feed(h, now) for _, h in sorted(health.items(), key=lambda kv: str(kv[0]))],
    }


def equity_at_cost(pf: Portfolio) -> int:
    """Equity (money raw) with unmarked positions at their cost."""
    total = pf.balance
    for iid, pos in pf.positions.items():
        if not pos.qty:
            continue
        mark = pf.marks.get(iid)
        if mark is not None:
            total += pf.position_value(pos, mark)
        elif not pos.instrument.is_perpetual:
            total += pos.money(pos.entry_cost) * (1 if pos.qty > 0 else -1)
    return total


def _position(pf: Portfolio, pos: Position) -> dict[str, Any]:
    inst = pos.instrument
    mark = pf.marks.get(inst.id)
    ticks = Decimal(pos.entry_cost) / Decimal(abs(pos.qty))
    places = Decimal(1).scaleb(-(inst.price_precision + _EXTRA_ENTRY_DECIMALS))
    entry = (ticks * inst.price_increment).quantize(places, ROUND_HALF_EVEN)
    return {"symbol": inst.symbol, "quantity": decimal_text(inst.quantity(pos.qty)),
            "entry_price": decimal_text(entry),
            "unrealized_pnl": None if mark is None else decimal_text(
                pf.money(pos.unrealised(mark)))}


def _feed(health: FeedHealth, now: int) -> dict[str, Any]:
    age = health.last_message_age_ns
    lag = None if age < 0 else (age + max(now - health.ts, 0)) // 1_000_000
    return {"venue": health.venue, "symbol": health.symbol, "stream": health.stream,
            "state": health.state.value, "lag_ms": lag, "reconnects": health.reconnects}


def write_status(state_dir: Path, status: dict[str, Any]) -> None:
    """Replace ``STATE/status.json`` with ``status`` (atomically)."""
    write_bytes_atomic(state_dir / STATUS_FILE, msgspec.json.encode(status))


__all__ = ["decimal_text", "equity_at_cost", "run_status", "write_status"]
