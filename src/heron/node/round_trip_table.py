"""Round trips of a run, from its journal alone: prices, costs, PnL and slippage.

One row per round trip (flat to flat, per instrument; see
:mod:`heron.model.round_trips`), built by replaying the journal through the same
order manager every mode uses, so a backtest, a paper run and a live run give the same
table for the same records. Slippage is measured against the **decision price** each
``SubmitOrder`` carries (the price the strategy saw when it decided), per side::

    slippage = sign * (fill-weighted average fill price - lot-weighted decision price)

with ``sign`` +1 for the buying side and -1 for the selling side, so a positive number
is a cost to the trader; in price units and in basis points of the decision price. A
side with any fill from an order without a decision price (a liquidation, an order
placed by hand, a journal written before decision prices) has no slippage (null):
a figure over part of the side would look complete and not be.

Money, prices and sizes are exact polars ``Decimal`` columns; averages are quotients,
rounded half-even at 18 decimals, basis points at 6.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from heron.core.files import write_bytes_atomic, write_text_atomic
from heron.errors import InvalidConfiguration
from heron.model.events import Record, SubmitOrder
from heron.model.fixed import round_raw
from heron.model.instrument import Instrument
from heron.model.portfolio import Portfolio
from heron.model.round_trips import RoundTrip
from heron.node.frames import PRICE_SCALE, decimal_column
from heron.node.replay import replay_journal

BPS_SCALE = 6
_BPS = 10_000 * 10**BPS_SCALE
_SIDES = ("entry", "exit")


@dataclass(frozen=True)
class _Scales:
    money: int      # decimals of the money columns
    cut: int        # run money raw -> column raw
    size: int       # decimals of the size columns


@dataclass(frozen=True)
class SideCost:
    """One side of a trip against its orders' decision prices (raw at the column scales)."""

    decision: int   # lot-weighted decision price, PRICE_SCALE decimals
    slippage: int   # signed, + is a cost, PRICE_SCALE decimals
    bps: int | None  # BPS_SCALE decimals; None when the decision price is 0


def decision_prices() -> tuple[dict[str, int], Callable[[Record], None]]:
    """A map client order id -> decision ticks, and the observer that fills it."""
    found: dict[str, int] = {}

    def observe(record: Record) -> None:
        if type(record) is SubmitOrder and record.decision_price is not None:
            found[record.client_order_id] = record.decision_price

    return found, observe


def side_cost(cost: int, qty: int, orders: dict[str, int], decisions: dict[str, int],
              sign: int, inst: Instrument) -> SideCost | None:
    """Slippage of one side: ``cost`` is sum(ticks * lots) of its fills, ``qty`` their lots,
    ``orders`` the lots each order gave; ``sign`` +1 when this side bought."""
    if qty == 0:
        return None
    decided = 0
    for coid, lots in orders.items():
        ticks = decisions.get(coid)
        if ticks is None:
            return None
        decided += lots * ticks
    excess = sign * (cost - decided)      # ticks * lots paid above the decisions
    to_price = inst.tick_raw * 10 ** (PRICE_SCALE - inst.price_precision)
    return SideCost(round_raw(decided * to_price, qty), round_raw(excess * to_price, qty),
                    round_raw(excess * _BPS, decided) if decided else None)


def round_trips_frame(portfolio: Portfolio, trips: list[RoundTrip],
                      decisions: dict[str, int]) -> pl.DataFrame:
    """One row per trip in ``trips`` (closed or open), money and prices exact."""
    money = min(portfolio.money_precision, 24)
    scales = _Scales(money, 10 ** (portfolio.money_precision - money),
                     max((i.size_precision for i in portfolio.instruments.values()), default=0))
    rows = [_row(t, portfolio.instruments[t.instrument_id], scales, decisions) for t in trips]
    cols: dict[str, list[Any]] = {k: [row[k] for row in rows] for k in _SCHEMA}
    return pl.DataFrame([_column(name, cols[name], kind, scales)
                         for name, kind in _SCHEMA.items()])


def _row(t: RoundTrip, inst: Instrument, scales: _Scales,
         decisions: dict[str, int]) -> dict[str, Any]:
    to_price = inst.tick_raw * 10 ** (PRICE_SCALE - inst.price_precision)
    row: dict[str, Any] = {
        "instrument": t.instrument_id, "direction": "long" if t.direction > 0 else "short",
        "closed": t.closed, "entry_ts": t.entry_ts, "exit_ts": t.exit_ts if t.closed else None,
        "qty": _size(t.entry_qty, inst, scales), "exit_qty": _size(t.exit_qty, inst, scales),
        "entry_price": round_raw(t.entry_cost * to_price, t.entry_qty),
        "exit_price": round_raw(t.exit_cost * to_price, t.exit_qty) if t.exit_qty else None,
        "fees": round_raw(t.fees, scales.cut), "funding": round_raw(t.funding, scales.cut),
        "realised_pnl": round_raw(t.realised, scales.cut),
        "net_pnl": round_raw(t.net, scales.cut), "fills": t.fills}
    sides = (side_cost(t.entry_cost, t.entry_qty, t.entry_orders, decisions, t.direction, inst),
             side_cost(t.exit_cost, t.exit_qty, t.exit_orders, decisions, -t.direction, inst))
    for name, side in zip(_SIDES, sides, strict=True):
        row[f"{name}_decision_price"] = side.decision if side else None
        row[f"{name}_slippage"] = side.slippage if side else None
        row[f"{name}_slippage_bps"] = side.bps if side else None
    return row


def _size(lots: int, inst: Instrument, scales: _Scales) -> int:
    shift: int = 10 ** (scales.size - inst.size_precision)  # scales.size is the largest
    return lots * inst.lot_raw * shift


# column -> kind: str, bool, int, or the scale of a Decimal column
_SCHEMA: dict[str, str] = {
    "instrument": "str", "direction": "str", "closed": "bool", "entry_ts": "int",
    "exit_ts": "int", "qty": "size", "exit_qty": "size", "entry_price": "price",
    "exit_price": "price", "fees": "money", "funding": "money", "realised_pnl": "money",
    "net_pnl": "money", "entry_decision_price": "price", "exit_decision_price": "price",
    "entry_slippage": "price", "exit_slippage": "price", "entry_slippage_bps": "bps",
    "exit_slippage_bps": "bps", "fills": "int"}
_PLAIN = {"str": pl.String, "bool": pl.Boolean, "int": pl.Int64}


def _column(name: str, values: list[Any], kind: str, scales: _Scales) -> pl.Series:
    """A typed column; a decimal one exact and null where the value is ``None``."""
    if kind in _PLAIN:
        return pl.Series(name, values, dtype=_PLAIN[kind])
    scale = {"size": scales.size, "price": PRICE_SCALE, "money": scales.money,
             "bps": BPS_SCALE}[kind]
    column = decimal_column(name, [0 if v is None else v for v in values], scale)
    if all(v is not None for v in values):
        return column
    present = pl.Series([v is not None for v in values], dtype=pl.Boolean)
    return pl.select(pl.when(present).then(column)).to_series().alias(name)


def journal_round_trips(path: str | Path, *, include_open: bool = False,
                        instrument: str | None = None,
                        run_id: str | None = None) -> pl.DataFrame:
    """The round trips of the run journaled at ``path`` (closed first, in closing order,
    then the still open ones by entry time), optionally of one instrument (id or symbol)."""
    decisions, observe = decision_prices()
    run = replay_journal(path, observe, run_id=run_id)
    book = run.orders.trips
    trips = list(book.closed)
    if include_open:
        trips += sorted(book.open.values(), key=lambda t: t.entry_ts)
    if instrument is not None:
        iid = _instrument_id(run.portfolio, instrument, path)
        trips = [t for t in trips if t.instrument_id == iid]
    return round_trips_frame(run.portfolio, trips, decisions)


def _instrument_id(portfolio: Portfolio, ref: str, path: str | Path) -> str:
    for inst in portfolio.instruments.values():
        if ref in (inst.id, inst.symbol):
            return inst.id
    known = ", ".join(sorted(portfolio.instruments)) or "none"
    raise InvalidConfiguration(f"{path}: no instrument {ref!r} in this journal "
                               f"(it has {known}); pass one of those to --instrument")


def table_format(path: str | Path) -> str:
    """``"parquet"`` or ``"csv"`` from the name of a table to write (checked before a long
    replay, so a typo costs nothing)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InvalidConfiguration(f"{target}: unknown table format {suffix or '(none)'!r}; "
                                   "name the file .parquet or .csv")
    if not target.parent.is_dir():
        raise InvalidConfiguration(f"{target}: folder {target.parent} does not exist; "
                                   "create it first")
    return suffix[1:]


def write_round_trips(frame: pl.DataFrame, path: str | Path) -> None:
    """Write ``frame`` atomically as Parquet (``.parquet``) or CSV (``.csv``)."""
    target = Path(path)
    if table_format(target) == "csv":
        write_text_atomic(target, frame.write_csv())
        return
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    write_bytes_atomic(target, buffer.getvalue())
