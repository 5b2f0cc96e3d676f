"""Journal records as JSON: prices, sizes and money as exact decimal strings.

Inside a journal a price is an ``int`` of ticks, a size an ``int`` of lots of the
record's instrument and money an ``int`` at the run's money precision (the journal
header says which). Over HTTP they travel as decimal text (``"47123.5"``), converted
here with integer arithmetic only: no float ever holds a price. One encoder per run;
the conversions needed by each record type are worked out once per type.
"""

from __future__ import annotations

from typing import Any

import msgspec

from heron.model.events import Record
from heron.model.instrument import Instrument

PRICE_FIELDS = frozenset({"price", "trigger_price", "decision_price", "last_px", "mark_px"})
LOT_FIELDS = frozenset({"quantity", "last_qty", "order_qty", "position"})
MONEY_FIELDS = frozenset({"fee", "amount", "equity", "maintenance", "total", "free"})

_json = msgspec.json.Encoder()


def fixed_text(raw: int, precision: int) -> str:
    """``raw * 10**-precision`` as plain decimal text without trailing zeros."""
    if precision <= 0:
        return str(raw * 10 ** -precision)
    whole, frac = divmod(abs(raw), 10**precision)
    sign = "-" if raw < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(precision, '0').rstrip('0')}"


class Grid:
    """One instrument's integers -> text."""

    __slots__ = ("lot_prec", "lot_raw", "tick_prec", "tick_raw")

    def __init__(self, inst: Instrument) -> None:
        self.tick_raw, self.tick_prec = inst.tick_raw, inst.price_precision
        self.lot_raw, self.lot_prec = inst.lot_raw, inst.size_precision

    def price(self, ticks: int) -> str:
        return fixed_text(ticks * self.tick_raw, self.tick_prec)

    def size(self, lots: int) -> str:
        return fixed_text(lots * self.lot_raw, self.lot_prec)


def instruments_of(header: dict[str, Any]) -> list[Instrument]:
    return [Instrument.from_dict(d) for d in header.get("instruments", [])]


class RecordEncoder:
    """Records of one run -> plain dicts and JSON bytes (the SSE ``data`` of an event)."""

    def __init__(self, run_id: str, header: dict[str, Any]) -> None:
        self.run_id = run_id
        self.instruments = {i.id: i for i in instruments_of(header)}
        self.grids = {iid: Grid(inst) for iid, inst in self.instruments.items()}
        self.money_precision = int(header.get("money_precision", 0))
        self._plans: dict[type, tuple[tuple[str, str], ...]] = {}

    def money(self, raw: int) -> str:
        return fixed_text(raw, self.money_precision)

    def _plan(self, kind: type) -> tuple[tuple[str, str], ...]:
        plan = self._plans.get(kind)
        if plan is None:
            names: tuple[str, ...] = getattr(kind, "__struct_fields__", ())
            plan = tuple((name, _field_kind(name)) for name in names if _field_kind(name))
            self._plans[kind] = plan
        return plan

    def fields(self, record: Record) -> dict[str, Any]:
        """The record's fields, numbers on a grid as decimal text."""
        out: dict[str, Any] = msgspec.structs.asdict(record)
        grid = self.grids.get(out.get("instrument_id", ""))
        for name, kind in self._plan(type(record)):
            value = out[name]
            if value is None:
                continue
            if kind == "money":
                out[name] = fixed_text(value, self.money_precision)
            elif grid is None:  # an instrument the header does not list: keep it raw
                out[name] = str(value)
            else:
                out[name] = grid.price(value) if kind == "price" else grid.size(value)
        return out

    def event(self, seq: int, record: Record) -> dict[str, Any]:
        return {"run_id": self.run_id, "seq": seq, "type": type(record).__name__,
                "ts": record.ts_event, "record": self.fields(record)}

    def event_json(self, seq: int, record: Record) -> bytes:
        return _json.encode(self.event(seq, record))


def _field_kind(name: str) -> str:
    if name in PRICE_FIELDS:
        return "price"
    if name in LOT_FIELDS:
        return "size"
    if name in MONEY_FIELDS:
        return "money"
    return ""
