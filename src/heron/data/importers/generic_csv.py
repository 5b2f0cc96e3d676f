"""Any CSV whose columns a mapping names, and HistData tick quotes.

Generic CSV: ``mapping`` maps roles to columns, by header name or by 0-based position
(``{"ts": 0, "price": 1, "size": 2}`` for Kraken's header-less trade exports). Roles for
trades: ``ts``, ``price``, ``size`` and optionally ``side`` (taker side: buy/sell/b/s),
``id``, ``ts_recv``, ``symbol``; for quotes: ``ts``, ``bid``, ``ask`` and optionally
``bid_size``, ``ask_size`` (0, meaning unknown, when absent), ``ts_recv``, ``symbol``.

HistData.com ASCII ticks (``YYYYMMDD HHMMSSmmm,bid,ask,volume``, no header) are quotes
stamped in EST *without* daylight saving, as HistData documents: UTC is the stamp plus
five hours all year. Their ``volume`` is always 0 and is not a quote size, so sizes are
stored as 0 (unknown).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import polars as pl

from heron.data.bar_columns import BarSource, to_ns
from heron.data.importers.batch import ImportBatch
from heron.data.importers.instruments import (
    make_instrument,
)
from heron.data.importers.text_columns import (
    QUOTE_ROLES,
    TRADE_ROLES,
    Hints,
    Source,
    choose,
    first_fields,
    first_true,
    frame_of,
    id_sequence,
    load_source,
    number_text,
    one_value,
    ordinal_within,
    places,
    present,
    read_table,
    starts_numeric,
    taker_side,
    text_source,
    to_units,
)
from heron.data.schemas import DataKind
from heron.errors import InvalidConfiguration

__all__ = ["read_generic_csv", "read_histdata"]

EST_OFFSET_NS = 5 * 3600 * 10**9  # HistData's EST, fixed UTC-5 all year
_HISTDATA_TIME = re.compile(r"\d{8} \d{9}")
_HISTDATA_NAME = re.compile(r"DAT_ASCII_([A-Z0-9]+)_T_\d{6}\.csv", re.IGNORECASE)

def check_mapping(mapping: Mapping[str, str | int]) -> DataKind:
    """The kind a mapping describes (trades or quotes), or why it describes none."""
    roles = set(mapping)
    if {"price", "bid"} <= roles or not roles & {"price", "bid"}:
        raise InvalidConfiguration(
            "a mapping names either price and size (trades) or bid and ask (quotes); trades "
            f"roles: {', '.join(TRADE_ROLES)}; quotes roles: {', '.join(QUOTE_ROLES)}")
    kind, allowed, required = ((DataKind.TRADES, TRADE_ROLES, ("ts", "price", "size"))
                               if "price" in roles else
                               (DataKind.QUOTES, QUOTE_ROLES, ("ts", "bid", "ask")))
    unknown = sorted(roles - set(allowed))
    missing = [role for role in required if role not in roles]
    if unknown or missing:
        raise InvalidConfiguration(
            f"mapping for {kind}: " + "; ".join(part for part in (
                f"unknown role(s) {', '.join(unknown)}" if unknown else "",
                f"missing role(s) {', '.join(missing)}" if missing else "") if part)
            + f"; {kind} roles are {', '.join(allowed)}")
    for role, ref in mapping.items():
        if isinstance(ref, bool) or not isinstance(ref, str | int) or (
                isinstance(ref, int) and ref < 0):
            raise InvalidConfiguration(f"mapping role {role!r}: give a column name or a "
                                       f"0-based position, not {ref!r}")
    return kind


def _mapped(frame: pl.DataFrame, mapping: Mapping[str, str | int],
            src: BarSource) -> dict[str, pl.Series]:
    """The column of each role, by name or by position."""
    columns: dict[str, pl.Series] = {}
    for role, ref in mapping.items():
        if isinstance(ref, int):
            if ref >= frame.width:
                raise src.error(f"mapping {role}={ref} but lines have {frame.width} fields",
                                "count positions from 0")
            columns[role] = frame.to_series(ref)
        elif ref in frame.columns:
            columns[role] = frame[ref]
        else:
            raise src.error(f"no column {ref!r} for {role} (columns: {', '.join(frame.columns)})",
                            "fix the mapping, or use positions for a file without a header")
    return columns


def read_generic_csv(path: str | Path, mapping: Mapping[str, str | int], *,
                     has_header: bool | None = None, venue: str | None = None,
                     symbol: str | None = None, tick_size: Decimal | None = None,
                     lot_size: Decimal | None = None) -> list[ImportBatch]:
    """Trades or quotes from any CSV, columns named by ``mapping`` (see the module doc)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return read_csv_source(load_source(path), hints, mapping, has_header=has_header)


def read_csv_source(source: Source, hints: Hints, mapping: Mapping[str, str | int], *,
                    has_header: bool | None = None) -> list[ImportBatch]:
    """:func:`read_generic_csv` on loaded bytes; the header is detected when not given."""
    kind = check_mapping(mapping)
    header = (not starts_numeric(first_fields(source.data)[0]) if has_header is None
              else has_header)
    named = [role for role, ref in mapping.items() if isinstance(ref, str)]
    if named and not header:
        raise InvalidConfiguration(f"{source.name}: the file has no header, so map "
                                   f"{', '.join(named)} by 0-based position")
    src = text_source(source, header)
    columns = _mapped(read_table(source, header=header), mapping, src)
    found = one_value(columns["symbol"], "symbol", src) if "symbol" in columns else None
    ts = to_ns(columns["ts"], src)
    recv = to_ns(columns["ts_recv"], src) if "ts_recv" in columns else ts
    if kind is DataKind.TRADES:
        return [_generic_trades(source, hints, columns, found, ts, recv, src)]
    return [_generic_quotes(source, hints, columns, found, ts, recv, src)]


def _generic_trades(source: Source, hints: Hints, columns: dict[str, pl.Series],
                    found: str | None, ts: pl.Series, recv: pl.Series,
                    src: BarSource) -> ImportBatch:
    price = number_text(columns["price"], "price", src)
    size = number_text(columns["size"], "size", src)
    instrument = make_instrument(
        hints, symbol=choose(hints.symbol, found, "symbol", src),
        venue=choose(hints.venue, None, "venue", src), derivative=False,
        price_places=places(price), size_places=places(size))
    ids = columns.get("id")
    frame = frame_of(DataKind.TRADES, {
        "ts_event": ts, "ts_recv": recv,
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, "size", src),
        "aggressor": taker_side(columns["side"], src) if "side" in columns else 0,
        "trade_id": (ids.cast(pl.String).fill_null("").str.strip_chars() if ids is not None
                     else pl.repeat("", ts.len(), eager=True)),
        "sequence": id_sequence(ids, ts) if ids is not None else ordinal_within(ts)})
    return ImportBatch(instrument, DataKind.TRADES, frame, source.name)


def _generic_quotes(source: Source, hints: Hints, columns: dict[str, pl.Series],
                    found: str | None, ts: pl.Series, recv: pl.Series,
                    src: BarSource) -> ImportBatch:
    prices = {role: number_text(columns[role], role, src) for role in ("bid", "ask")}
    sizes = {role: number_text(columns[role], role, src)
             for role in ("bid_size", "ask_size") if role in columns}
    instrument = make_instrument(
        hints, symbol=choose(hints.symbol, found, "symbol", src),
        venue=choose(hints.venue, None, "venue", src), derivative=False,
        price_places=max(places(t) for t in prices.values()),
        size_places=max((places(t) for t in sizes.values()), default=None))
    data: dict[str, pl.Series | int] = {"ts_event": ts, "ts_recv": recv,
                                        "sequence": ordinal_within(ts)}
    for role, text in prices.items():
        data[role] = to_units(text, instrument.price_increment, role, src)
    for role in ("bid_size", "ask_size"):
        data[role] = (to_units(sizes[role], instrument.size_increment, role, src)
                      if role in sizes else 0)
    return ImportBatch(instrument, DataKind.QUOTES, frame_of(DataKind.QUOTES, data),
                       source.name)


# -- HistData ---------------------------------------------------------------------------------
def sniff_csv(data: bytes) -> str | None:
    """``"histdata"`` for HistData ASCII ticks; other CSVs need a mapping."""
    fields = first_fields(data)
    if len(fields) == 4 and _HISTDATA_TIME.fullmatch(fields[0]):
        return "histdata"
    return None


def read_histdata(path: str | Path, *, venue: str | None = None, symbol: str | None = None,
                  tick_size: Decimal | None = None,
                  lot_size: Decimal | None = None) -> list[ImportBatch]:
    """HistData.com tick quotes (see the module doc for the time zone)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return histdata_source(load_source(path), hints)


def histdata_source(source: Source, hints: Hints) -> list[ImportBatch]:
    """:func:`read_histdata` on loaded bytes."""
    src = text_source(source, header=False)
    frame = read_table(source, header=False, width=4)
    stamps = present(frame.to_series(0), "time", src)
    parsed = stamps.str.to_datetime("%Y%m%d %H%M%S%3f", time_unit="ns", time_zone="UTC",
                                    strict=False)
    bad = first_true(parsed.is_null())
    if bad is not None:
        raise src.error(f"time {stamps[bad]!r} at {src.at(bad)} is not YYYYMMDD HHMMSSmmm",
                        "check that the file is HistData ASCII tick data")
    ts = parsed.dt.epoch("ns") + EST_OFFSET_NS
    bid = number_text(frame.to_series(1), "bid", src)
    ask = number_text(frame.to_series(2), "ask", src)
    named = _HISTDATA_NAME.fullmatch(source.path.name)
    instrument = make_instrument(
        hints, symbol=choose(hints.symbol, named[1].upper() if named else None, "symbol", src),
        venue=hints.venue or "HISTDATA", derivative=False,
        price_places=max(places(bid), places(ask)), size_places=None)
    quotes = frame_of(DataKind.QUOTES, {
        "ts_event": ts, "ts_recv": ts,
        "bid": to_units(bid, instrument.price_increment, "bid", src),
        "ask": to_units(ask, instrument.price_increment, "ask", src),
        "bid_size": 0, "ask_size": 0, "sequence": ordinal_within(ts)})
    return [ImportBatch(instrument, DataKind.QUOTES, quotes, source.name)]
