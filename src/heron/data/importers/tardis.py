"""Tardis.dev normalized CSV files (``datasets`` downloads), plain or gzip.

Every layout starts ``exchange,symbol,timestamp,local_timestamp`` (microseconds; the
unit is still detected, like every epoch column); ``timestamp`` is the venue's time
(``ts_event``) and ``local_timestamp`` Tardis's receive time (``ts_recv``). The rest of
the header names the layout, and any other header is refused as schema drift:

``trades`` (``id,side,price,amount``)
    -> trades; ``side`` is the taker side. Numeric ids are the sequence; other ids
    (BitMEX UUIDs) keep their text in ``trade_id`` and are sequenced by their order
    within one timestamp. Tardis ``liquidations`` files have the same header and would
    be read as trades: import them as trades only knowingly.
``incremental_book_L2`` (``is_snapshot,side,price,amount``)
    -> ``is_snapshot`` rows to book_snapshots, the others to book_deltas (amount 0
    deletes a level). Tardis has no update id, so the sequence is the receive time,
    which the rows of one message share; a delta ends its message where it changes.
``quotes`` / ``book_ticker`` (``ask_amount,ask_price,bid_price,bid_amount``) -> quotes.
``book_snapshot_N`` (``asks[0].price,asks[0].amount,bids[0].price,...``)
    -> book_snapshots, one row per level present (levels Tardis left empty are skipped),
    sequence the receive time.
``derivative_ticker`` (``funding_timestamp,funding_rate,predicted_funding_rate,
open_interest,last_price,index_price,mark_price``)
    -> mark rows from ``mark_price``, and funding: for each ``funding_timestamp`` the
    file saw pass, the last ``funding_rate`` published before it, stamped at the funding
    time (the rate that was applied, as far as a ticker shows it). Venues that fund
    continuously (Deribit) give no ``funding_timestamp`` and so no funding rows. Open
    interest, index and last price have no catalog kind and are not kept.

The venue is Tardis's exchange id in heron's spelling (``binance-futures`` ->
``BINANCE_USDM``, ``bitmex`` -> ``BITMEX``) unless given; a file must hold one exchange
and one symbol.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl

from heron.data.bar_columns import BarSource, to_ns
from heron.data.importers.batch import ImportBatch
from heron.data.importers.instruments import (
    make_instrument,
)
from heron.data.importers.text_columns import (
    Hints,
    Source,
    book_sides,
    booleans,
    check_columns,
    delta_rows,
    first_fields,
    frame_of,
    funding_rates,
    id_sequence,
    load_source,
    number_text,
    one_value,
    places,
    read_table,
    snapshot_rows,
    taker_side,
    text_source,
    to_units,
)
from heron.data.schemas import DataKind
from heron.model.instrument import Instrument

__all__ = ["LOOKS_LIKE", "read_source", "read_tardis", "sniff"]

_PREFIX = ("exchange", "symbol", "timestamp", "local_timestamp")
_LAYOUTS: dict[str, tuple[str, ...]] = {
    "trades": ("id", "side", "price", "amount"),
    "incremental_book_L2": ("is_snapshot", "side", "price", "amount"),
    "quotes": ("ask_amount", "ask_price", "bid_price", "bid_amount"),
    "derivative_ticker": ("funding_timestamp", "funding_rate", "predicted_funding_rate",
                          "open_interest", "last_price", "index_price", "mark_price"),
}
_VENUES = {"binance": "BINANCE", "binance-futures": "BINANCE_USDM",
           "binance-delivery": "BINANCE_COINM"}
_DERIVATIVE_EXCHANGES = ("bitmex", "deribit", "bybit", "binance-futures", "binance-delivery",
                         "okex-futures", "okex-swap", "huobi-dm", "huobi-dm-swap",
                         "huobi-dm-linear-swap", "cryptofacilities", "kraken-futures",
                         "bitfinex-derivatives", "dydx")

LOOKS_LIKE = {"tardis": "a Tardis.dev CSV (exchange,symbol,timestamp,local_timestamp,...)"}
"""What the format is, for messages."""


def _wide_columns(depth: int) -> tuple[str, ...]:
    return tuple(f"{side}[{level}].{field}" for level in range(depth)
                 for side in ("asks", "bids") for field in ("price", "amount"))


def sniff(data: bytes) -> str | None:
    """The Tardis layout of ``data`` (``"unknown"`` for an unknown rest of header)."""
    fields = [field.lower() for field in first_fields(data)]
    if tuple(fields[:4]) != _PREFIX:
        return None
    rest = tuple(fields[4:])
    for layout, columns in _LAYOUTS.items():
        if rest == columns:
            return layout
    depth = len(rest) // 4
    if depth and rest == _wide_columns(depth):
        return f"book_snapshot_{depth}"
    return "unknown"


def read_tardis(path: str | Path, *, venue: str | None = None, symbol: str | None = None,
                tick_size: Decimal | None = None,
                lot_size: Decimal | None = None) -> list[ImportBatch]:
    """Read one Tardis.dev CSV (see the module doc for layouts)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return read_source(load_source(path), hints)


def read_source(source: Source, hints: Hints) -> list[ImportBatch]:
    """:func:`read_tardis` on loaded bytes."""
    layout = sniff(source.data) or "unknown"
    frame = read_table(source, header=True)
    src = text_source(source, header=True)
    found = [c.strip().lower() for c in frame.columns]
    frame.columns = found
    if layout == "unknown":
        known = ", ".join([*_LAYOUTS, "book_snapshot_N"])
        check_columns(found, _PREFIX + _LAYOUTS["trades"], src,
                      f"Tardis trades (or other known: {known})")
    table = _Table(source, frame, src, hints)
    if layout == "trades":
        return [_trades(table)]
    if layout == "incremental_book_L2":
        return _incremental(table)
    if layout == "quotes":
        return [_quotes(table)]
    if layout == "derivative_ticker":
        return _derivative_ticker(table)
    return [_wide_snapshots(table, int(layout.rsplit("_", 1)[1]))]


class _Table:
    """A Tardis file's rows with its times, exchange and symbol resolved."""

    def __init__(self, source: Source, frame: pl.DataFrame, src: BarSource,
                 hints: Hints) -> None:
        self.source, self.frame, self.src, self.hints = source, frame, src, hints
        exchange = one_value(frame["exchange"], "exchange", src)
        self.symbol = hints.symbol or one_value(frame["symbol"], "symbol", src)
        self.venue = hints.venue or _VENUES.get(exchange, exchange.upper().replace("-", "_"))
        self.derivative = exchange in _DERIVATIVE_EXCHANGES
        self.ts = to_ns(frame["timestamp"], src)
        self.recv = to_ns(frame["local_timestamp"], src)

    def instrument(self, price_places: int | None, size_places: int | None) -> Instrument:
        return make_instrument(self.hints, symbol=self.symbol, venue=self.venue,
                               derivative=self.derivative, price_places=price_places,
                               size_places=size_places)

    def batch(self, instrument: Instrument, kind: DataKind, frame: pl.DataFrame) -> ImportBatch:
        return ImportBatch(instrument, kind, frame, self.source.name)


def _trades(table: _Table) -> ImportBatch:
    frame, src = table.frame, table.src
    price = number_text(frame["price"], "price", src)
    size = number_text(frame["amount"], "amount", src)
    instrument = table.instrument(places(price), places(size))
    ids = frame["id"].fill_null("")
    trades = frame_of(DataKind.TRADES, {
        "ts_event": table.ts, "ts_recv": table.recv,
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, "amount", src),
        "aggressor": taker_side(frame["side"], src),
        "trade_id": ids.str.strip_chars(), "sequence": id_sequence(ids, table.ts)})
    return table.batch(instrument, DataKind.TRADES, trades)


def _incremental(table: _Table) -> list[ImportBatch]:
    frame, src = table.frame, table.src
    price = number_text(frame["price"], "price", src)
    size = number_text(frame["amount"], "amount", src)
    instrument = table.instrument(places(price), places(size))
    rows = pl.DataFrame({
        "ts_event": table.ts, "ts_recv": table.recv, "sequence": table.recv,
        "side": book_sides(frame["side"], src),
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, "amount", src),
        "snap": booleans(frame["is_snapshot"], "is_snapshot", src)})
    batches = []
    snaps = rows.filter(pl.col("snap"))
    if snaps.height:
        batches.append(table.batch(instrument, DataKind.BOOK_SNAPSHOTS, snapshot_rows(snaps)))
    deltas = rows.filter(~pl.col("snap"))
    if deltas.height:
        batches.append(table.batch(instrument, DataKind.BOOK_DELTAS, delta_rows(deltas)))
    return batches


def _quotes(table: _Table) -> ImportBatch:
    frame, src = table.frame, table.src
    text = {name: number_text(frame[name], name, src) for name in _LAYOUTS["quotes"]}
    instrument = table.instrument(max(places(text["bid_price"]), places(text["ask_price"])),
                                  max(places(text["bid_amount"]), places(text["ask_amount"])))
    tick, lot = instrument.price_increment, instrument.size_increment
    quotes = frame_of(DataKind.QUOTES, {
        "ts_event": table.ts, "ts_recv": table.recv,
        "bid": to_units(text["bid_price"], tick, "bid_price", src),
        "ask": to_units(text["ask_price"], tick, "ask_price", src),
        "bid_size": to_units(text["bid_amount"], lot, "bid_amount", src),
        "ask_size": to_units(text["ask_amount"], lot, "ask_amount", src),
        "sequence": table.recv})
    return table.batch(instrument, DataKind.QUOTES, quotes)


def _wide_snapshots(table: _Table, depth: int) -> ImportBatch:
    frame, src = table.frame, table.src
    parts = []
    for level in range(depth):
        for side_name, side in (("bids", 1), ("asks", -1)):
            price, size = (f"{side_name}[{level}].price", f"{side_name}[{level}].amount")
            parts.append(pl.DataFrame({
                "ts_event": table.ts, "ts_recv": table.recv, "sequence": table.recv,
                "side": pl.repeat(side, frame.height, dtype=pl.Int8, eager=True),
                "level": pl.repeat(level, frame.height, dtype=pl.Int32, eager=True),
                "price": number_text(frame[price], price, src, optional=True),
                "size": number_text(frame[size], size, src, optional=True)}))
    levels = pl.concat(parts).filter(pl.col("price").is_not_null())
    unsized = levels.filter(pl.col("size").is_null())
    if unsized.height:
        raise src.error(f"a level at {unsized['ts_event'][0]} ns has a price but no amount",
                        "the file is damaged there: fix or delete that line")
    instrument = table.instrument(places(levels["price"]), places(levels["size"]))
    levels = levels.with_columns(
        price=to_units(levels["price"], instrument.price_increment, "price", src),
        size=to_units(levels["size"], instrument.size_increment, "amount", src))
    return table.batch(instrument, DataKind.BOOK_SNAPSHOTS, snapshot_rows(levels.drop("level")))


def _derivative_ticker(table: _Table) -> list[ImportBatch]:
    frame, src = table.frame, table.src
    mark = number_text(frame["mark_price"], "mark_price", src, optional=True)
    rate = number_text(frame["funding_rate"], "funding_rate", src, optional=True)
    stamp = frame["funding_timestamp"].str.strip_chars()
    due = stamp.is_not_null() & (stamp != "") & rate.is_not_null()
    funding_ts = to_ns(pl.select(pl.when(due).then(stamp).otherwise(frame["timestamp"]))
                         .to_series(), src)
    marks = mark.drop_nulls()
    instrument = table.instrument(places(marks) if marks.len() else None, None)
    batches = []
    marked = mark.is_not_null()
    if marked.any():
        prices = to_units(mark.filter(marked), instrument.price_increment, "mark_price", src)
        batches.append(table.batch(instrument, DataKind.MARK, frame_of(DataKind.MARK, {
            "ts_event": table.ts.filter(marked), "ts_recv": table.recv.filter(marked),
            "price": prices})))
    rows = pl.DataFrame({"funding_ts": funding_ts, "ts_recv": table.recv, "rate": rate,
                         "ts": table.ts}).filter(due & (table.ts < funding_ts))
    settled = (rows.group_by("funding_ts", maintain_order=True).last()
               .filter(pl.col("funding_ts") <= table.ts.max()))
    if settled.height:
        batches.append(table.batch(instrument, DataKind.FUNDING, frame_of(DataKind.FUNDING, {
            "ts_event": settled["funding_ts"], "ts_recv": settled["ts_recv"],
            "rate": funding_rates(settled["rate"], BarSource(src.name, "funding row"))})))
    return batches
