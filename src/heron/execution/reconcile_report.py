"""What reconciliation found: the catch-up records, the differences left, and the fixes.

:func:`heron.execution.reconcile.reconcile` returns a :class:`ReconcileReport`. Its
``records`` are journal records that bring heron's state to the venue's (journal and
apply them; they describe what already happened at the venue, so none is ever sent).
Its ``mismatches`` are what the venue's history could not explain; while a *blocking*
one remains the run stays reduce-only. :meth:`ReconcileReport.remediation` turns them
into fixes, only those the operator's :class:`Remediate` policy enables, and
:func:`save_evidence` writes both sides and the venue's raw replies under the run's
directory, so a person can check heron's reading against the venue's own words.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import msgspec

from heron.core.files import write_bytes_atomic
from heron.model.account import AccountSnapshot
from heron.model.events import CancelOrder, OrderFilled, Record, SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import VENUE_ORIGIN, OrderSide, OrderType

#: ``SubmitOrder.tag`` of an order heron adopted from the venue: the order already rests
#: there, so the record is journaled and applied, and live execution must never send it
ADOPTED = "adopted"
#: ``SubmitOrder.tag`` of a remediation's flattening order
FLATTEN_TAG = "reconcile-flatten"
#: client-id prefix of the synthetic fill that adopts a position difference
ADOPT_PREFIX = "reconcile-"


class MismatchKind(enum.StrEnum):
    """What differs; every kind but ``balance`` keeps the run reduce-only."""

    POSITION = "position"   # net quantity per instrument
    ORDER = "order"         # an open order on one side only, or different fields
    FILL = "fill"           # a venue fill heron cannot book (its order is closed in heron)
    BALANCE = "balance"     # wallet jump the journal does not explain (adopted, reported)

    @property
    def blocking(self) -> bool:
        return self is not MismatchKind.BALANCE


class Mismatch(msgspec.Struct, frozen=True, kw_only=True):
    """One difference, with both sides in words and the venue's raw replies."""

    kind: MismatchKind
    instrument_id: str
    heron: str
    venue: str
    evidence: dict[str, Any] = msgspec.field(default_factory=dict)
    delta: int = 0   # position: venue minus heron, lots (what ADOPT books)

    @property
    def blocking(self) -> bool:
        return self.kind.blocking


class Remediate(enum.Flag):
    """The gated fixes an operator may enable; ``NONE`` (report only) by default."""

    NONE = 0
    ADOPT = enum.auto()           # book a position difference as a synthetic fill
    CANCEL_ORPHANS = enum.auto()  # cancel the venue orders heron adopted
    FLATTEN = enum.auto()         # close the venue's position with a reduce-only market order


class Remediation(msgspec.Struct, frozen=True, kw_only=True):
    """Fixes split by how they travel: ``records`` are journaled and applied (never
    sent); ``commands`` go through risk and execution to the venue."""

    records: list[Record]
    commands: list[Record]
    skipped: list[str]   # fixes the policy asked for that heron could not build, and why


class ReconcileReport(msgspec.Struct, kw_only=True):
    """The outcome of one reconciliation pass (see the module docstring)."""

    venue: str
    ts: int
    records: list[Record]
    mismatches: list[Mismatch]
    snapshot: AccountSnapshot
    instruments: dict[str, Instrument]
    orphans: list[tuple[str, str]]   # (client id, instrument id) of adopted open orders

    @property
    def blocking(self) -> list[Mismatch]:
        return [m for m in self.mismatches if m.blocking]

    @property
    def clean(self) -> bool:
        """True when nothing blocks: the run may leave reduce-only."""
        return not self.blocking

    def remediation(self, policy: Remediate, new_id: Callable[[], str]) -> Remediation:
        """The fixes ``policy`` enables; ``new_id`` gives client ids for new orders."""
        records: list[Record] = []
        commands: list[Record] = []
        skipped: list[str] = []
        for m in self.mismatches:
            if m.kind is not MismatchKind.POSITION:
                continue
            if Remediate.ADOPT in policy:
                fill = self._adopt_fill(m)
                if fill is None:
                    skipped.append(f"adopt {m.instrument_id}: the venue gave no entry price")
                else:
                    records.append(fill)
            if Remediate.FLATTEN in policy and self.snapshot.position(m.instrument_id):
                commands.append(self._flatten(m.instrument_id, new_id()))
        if Remediate.CANCEL_ORPHANS in policy:
            commands += [CancelOrder(self.ts, self.ts, cid, VENUE_ORIGIN, iid)
                         for cid, iid in self.orphans]
        return Remediation(records=records, commands=commands, skipped=skipped)

    def _adopt_fill(self, m: Mismatch) -> OrderFilled | None:
        """A fill of ``delta`` at the venue's entry price, so the quantities agree."""
        entry = next((p.entry_price for p in self.snapshot.positions
                      if p.instrument_id == m.instrument_id and p.entry_price), None)
        if entry is None:
            return None
        inst = self.instruments[m.instrument_id]
        ticks = int((entry / inst.price_increment).to_integral_value(ROUND_HALF_EVEN))
        lots = abs(m.delta)
        return OrderFilled(
            ts_event=self.ts, ts_init=self.ts,
            client_order_id=f"{ADOPT_PREFIX}{m.instrument_id}-{self.ts}",
            instrument_id=m.instrument_id, venue_order_id="",
            trade_id=f"{ADOPT_PREFIX}{self.ts}", strategy_id=VENUE_ORIGIN,
            side=OrderSide.BUY if m.delta > 0 else OrderSide.SELL, last_qty=lots,
            last_px=ticks, fee=0, liquidity="reconciliation", order_qty=lots)

    def _flatten(self, iid: str, client_order_id: str) -> SubmitOrder:
        qty = self.snapshot.position(iid)
        return SubmitOrder(
            self.ts, self.ts, client_order_id, VENUE_ORIGIN, iid,
            OrderSide.SELL if qty > 0 else OrderSide.BUY, OrderType.MARKET, abs(qty),
            reduce_only=True, tag=FLATTEN_TAG)

    def lines(self) -> list[str]:
        """A human summary for ``heron reconcile`` and the live log."""
        when = datetime.fromtimestamp(self.ts / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")
        n_block = len(self.blocking)
        verdict = "in step with the venue" if self.clean else \
            f"{n_block} blocking: the run stays reduce-only until resolved"
        out = [f"reconcile {self.venue} at {when} UTC: {len(self.records)} records, "
               f"{len(self.mismatches)} mismatches; {verdict}"]
        kinds = Counter(_record_label(r) for r in self.records)
        if kinds:
            out.append("  catch-up: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
        for m in self.mismatches:
            flag = "!" if m.blocking else " "
            out.append(f" {flag}{m.kind.value:<8} {m.instrument_id}: heron {m.heron}; "
                       f"venue {m.venue}")
        return out

    def to_json(self) -> bytes:
        """The evidence file's bytes: every record and mismatch with both sides."""
        doc = {
            "venue": self.venue, "ts": self.ts, "clean": self.clean,
            "records": [{"type": type(r).__name__, **msgspec.structs.asdict(r)}
                        for r in self.records],
            "mismatches": [msgspec.to_builtins(m) for m in self.mismatches],
            "orphans": [list(o) for o in self.orphans],
            "snapshot": self.snapshot,
        }
        return msgspec.json.format(msgspec.json.encode(doc, enc_hook=str), indent=2)


def _record_label(record: Record) -> str:
    if isinstance(record, SubmitOrder):
        return "adopted orders"
    return type(record).__name__


def save_evidence(run_dir: str | Path, report: ReconcileReport) -> Path | None:
    """Write ``run_dir/reconcile/<ts>.json`` atomically when the pass found anything.

    A clean pass with nothing to catch up writes nothing (a periodic check would
    otherwise fill the directory); the path written, or ``None``.
    """
    if not report.records and not report.mismatches:
        return None
    folder = Path(run_dir) / "reconcile"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report.ts}.json"
    write_bytes_atomic(path, report.to_json())
    return path


def money_raw(amount: Decimal, precision: int) -> int:
    """``amount`` as money raw at ``precision`` (half-even past it: a venue balance with
    more decimals than the run keeps cannot be held exactly; the raw reply is evidence)."""
    return int(amount.scaleb(precision).to_integral_value(ROUND_HALF_EVEN))


__all__ = ["ADOPTED", "ADOPT_PREFIX", "FLATTEN_TAG", "Mismatch", "MismatchKind",
           "ReconcileReport", "Remediate", "Remediation", "money_raw", "save_evidence"]
