"""Rebuild a run's orders, positions and balances from its journal alone.

Replay feeds the journaled records, in sequence order, through the same
:class:`~heron.execution.order_manager.OrderManager` the engine used, on a portfolio
built from the journal's header. Since every state change is an event, the result is
the run's final state, exactly; a mismatch means the journal or the engine is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from heron.core.journal_store import JournalReader
from heron.execution.order_manager import OrderManager
from heron.model.events import Record
from heron.model.instrument import Instrument
from heron.model.portfolio import Portfolio


@dataclass(frozen=True)
class ReplayedRun:
    portfolio: Portfolio
    orders: OrderManager
    records: int
    sha256: str


def replay_journal(path: str | Path,
                   observe: Callable[[Record], None] | None = None, *,
                   run_id: str | None = None) -> ReplayedRun:
    """Open, verify and replay the journal at ``path`` (a file or a database URL; ``run_id``
    where it holds several runs); ``observe`` sees every record before it is applied
    (what the state alone forgets, e.g. decision prices)."""
    reader = JournalReader(path, run_id)
    header = reader.header
    instruments = [Instrument.from_dict(d) for d in header["instruments"]]
    precision = int(header["money_precision"])
    cash = Decimal(header["starting_cash"])
    portfolio = Portfolio(instruments, int(cash.scaleb(precision)), precision)
    om = OrderManager(portfolio)
    count = 0
    for record in reader.records():
        if observe is not None:
            observe(record)
        om.apply(record)
        count += 1
    return ReplayedRun(portfolio, om, count, reader.sha256)
