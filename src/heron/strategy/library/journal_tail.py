"""Reading another run's fills as they are journaled: the source of the mirror strategy.

A run being followed may still be running (a paper or live journal is unsealed and grows),
so this does not use :class:`~heron.core.journal_store.JournalReader`, which verifies a
sealed run from its first record. It asks for the records after the last sequence number
it has seen, fills only, and stops asking once the run is sealed: a finished run (every
backtest) is read once.
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from heron.core.db import records_table, runs_table
from heron.core.journal import decode_record
from heron.core.journal_store import list_runs, open_engine
from heron.errors import InvalidConfiguration, JournalError
from heron.model.events import OrderFilled
from heron.model.instrument import Instrument


class JournalTail:
    """The fills of one run in a journal database, read incrementally."""

    def __init__(self, location: str | Path, run_id: str = "") -> None:
        self.location = location
        self.run_id = run_id or _only_run(location)
        self.last_seq = 0
        self.sealed = False
        self._engine = open_engine(location)
        with self._engine.connect() as conn:
            header = conn.execute(sa.select(runs_table.c.header).where(
                runs_table.c.run_id == self.run_id)).scalar_one_or_none()
        if header is None:
            self._engine.dispose()
            raise InvalidConfiguration(f"mirror: no run {self.run_id!r} in {location}; "
                                       "`heron journal list` shows the runs it holds")
        self.instruments = {inst.id: inst for inst in (
            Instrument.from_dict(d) for d in json.loads(header).get("instruments", []))}

    def new_fills(self) -> list[OrderFilled]:
        """Fills journaled since the last call, in journal order."""
        if self.sealed:
            return []
        with self._engine.connect() as conn:
            # sealed is read first: sealed then means every record is already in
            sealed = bool(conn.execute(sa.select(runs_table.c.sealed).where(
                runs_table.c.run_id == self.run_id)).scalar_one())
            rows = conn.execute(
                sa.select(records_table.c.seq, records_table.c.payload)
                .where(records_table.c.run_id == self.run_id,
                       records_table.c.seq > self.last_seq,
                       records_table.c.type == "OrderFilled")
                .order_by(records_table.c.seq)).all()
        self.sealed = sealed
        fills = []
        for seq, payload in rows:
            self.last_seq = int(seq)
            record = decode_record(bytes(payload))
            if isinstance(record, OrderFilled):
                fills.append(record)
        return fills

    def close(self) -> None:
        self._engine.dispose()


def _only_run(location: str | Path) -> str:
    try:
        runs = list_runs(location)
    except JournalError as exc:
        raise InvalidConfiguration(f"mirror: {exc}") from None
    if len(runs) != 1:
        raise InvalidConfiguration(f"mirror: {location} holds {len(runs)} runs; set source_run "
                                   "to the one to follow (`heron journal list` shows them)")
    return runs[0].run_id
