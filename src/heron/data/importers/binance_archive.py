"""data.binance.vision archives, as downloaded: CSV, gzip or the zip Binance ships.

Layouts, told apart by the header or, for header-less files, by the shape of the first
line (the file name is read only for the symbol, ``BTCUSDT-trades-2024-01-01.zip``):

``trades``
    ``id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]`` -> trades.
``aggTrades``
    ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
    is_buyer_maker[,is_best_match]`` -> trades, one row per aggregate trade.
``klines``
    12 columns (``open_time,...``) -> bars, through :func:`heron.data.bars.read_bars`;
    the bar length is the median spacing of the opens.
``bookTicker``
    ``update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,
    transaction_time,event_time`` -> quotes.
``fundingRate``
    ``calc_time,funding_interval_hours,last_funding_rate`` -> funding.
``depth``
    ``symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu``:
    ``snap`` rows -> book_snapshots, ``set`` rows -> book_deltas; the sequence is
    ``last_update_id`` and a delta ends its message where that id changes.

Spot trade dumps carry ``is_best_match``, futures dumps do not: a file without it is a
futures file (venue ``BINANCE_USDM``, or ``BINANCE_COINM`` for ``BTCUSD_PERP``-style
symbols; ``bookTicker``, ``fundingRate`` and ``depth`` exist only for futures). Spot and
kline files default to ``BINANCE``: klines look the same for both markets, so pass
``venue`` for futures klines. Times may be ms or, since 2025, us; both are detected.
``is_buyer_maker`` true means the seller took the bid, so the aggressor is -1.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import polars as pl

from heron.data.bar_columns import BarSource, to_ns
from heron.data.bars import read_bars
from heron.data.importers.batch import ImportBatch
from heron.data.importers.instruments import (
    bars_batch,
    bars_instrument,
    make_instrument,
)
from heron.data.importers.text_columns import (
    Hints,
    Source,
    book_sides,
    booleans,
    check_columns,
    choose,
    delta_rows,
    first_fields,
    frame_of,
    funding_rates,
    integers,
    load_source,
    number_text,
    one_value,
    places,
    present,
    read_table,
    snapshot_rows,
    starts_numeric,
    text_source,
    to_units,
)
from heron.data.schemas import DataKind
from heron.errors import DataError

__all__ = ["LOOKS_LIKE", "read_binance_archive", "sniff"]

_TRADES = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker")
_AGG_TRADES = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
               "transact_time", "is_buyer_maker")
_BEST_MATCH = "is_best_match"
_DEPTH = ("symbol", "timestamp", "first_update_id", "last_update_id", "side", "update_type",
          "price", "qty", "pu")
_BOOK_TICKER = ("update_id", "best_bid_price", "best_bid_qty", "best_ask_price",
                "best_ask_qty", "transaction_time", "event_time")
_FUNDING = ("calc_time", "funding_interval_hours", "last_funding_rate")
_KLINE_FIELDS = 12
_BOOLS = ("true", "false")
_NAME = re.compile(r"([A-Z0-9]+(?:_[A-Z0-9]+)?)-(?:trades|aggTrades|bookTicker|bookDepth"
                   r"|fundingRate|\d+[smhdwM]|1mo)-\d{4}-\d{2}(?:-\d{2})?\.(?:csv|zip)(?:\.gz)?")

LOOKS_LIKE = {
    "trades": "a Binance archive trades CSV",
    "aggTrades": "a Binance archive aggTrades CSV",
    "klines": "a Binance archive klines CSV",
    "bookTicker": "a Binance archive bookTicker CSV",
    "fundingRate": "a Binance archive fundingRate CSV",
    "depth": "Binance diff-depth rows (symbol,timestamp,first_update_id,...)",
}
"""What each layout is, for messages."""


def _sniff_headerless(fields: list[str]) -> str | None:
    count = len(fields)
    if count == _KLINE_FIELDS:
        return "klines"
    if count in (6, 7) and all(f in _BOOLS for f in fields[5:]):
        return "trades"
    if count in (7, 8) and fields[5].isdigit() and all(f in _BOOLS for f in fields[6:]):
        return "aggTrades"
    return None


def sniff(data: bytes) -> str | None:
    """The archive layout of (unpacked) ``data`` from its first line, or ``None``."""
    fields = [field.lower() for field in first_fields(data)]
    if not fields or not fields[0]:
        return None
    if starts_numeric(fields[0]):
        return _sniff_headerless(fields)
    if fields[:3] == ["id", "price", "qty"]:
        return "trades"
    if fields[0] == "symbol" and "first_update_id" in fields:
        return "depth"
    by_first = {"agg_trade_id": "aggTrades", "update_id": "bookTicker",
                "calc_time": "fundingRate", "open_time": "klines"}
    return by_first.get(fields[0])


def read_binance_archive(path: str | Path, *, venue: str | None = None,
                         symbol: str | None = None, tick_size: Decimal | None = None,
                         lot_size: Decimal | None = None) -> list[ImportBatch]:
    """Read one data.binance.vision file (see the module doc for layouts and defaults)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return read_source(load_source(path), hints)


def read_source(source: Source, hints: Hints) -> list[ImportBatch]:
    """:func:`read_binance_archive` on loaded bytes."""
    layout = sniff(source.data)
    if layout in ("trades", "aggTrades"):
        return [_trades(source, layout, hints)]
    if layout == "klines":
        return [_klines(source, hints)]
    if layout == "depth":
        return _depth(source, hints)
    if layout == "bookTicker":
        return [_book_ticker(source, hints)]
    if layout == "fundingRate":
        return [_funding(source, hints)]
    first = ",".join(first_fields(source.data))[:120]
    raise DataError(f"{source.name}: not a Binance archive layout (first line {first!r}); "
                    f"expected one of {', '.join(LOOKS_LIKE)}")


def _name_symbol(source: Source) -> str | None:
    match = _NAME.fullmatch(source.path.name)
    return match[1] if match else None


def _venue(hints: Hints, symbol: str, *, futures: bool) -> str:
    if hints.venue:
        return hints.venue
    if not futures:
        return "BINANCE"
    return "BINANCE_COINM" if "_" in symbol else "BINANCE_USDM"


def _table(source: Source, columns: tuple[str, ...], what: str,
           *, optional: str | None = None) -> tuple[pl.DataFrame, BarSource]:
    """The file's rows under ``columns`` (plus ``optional`` when present), header or not."""
    header = not starts_numeric(first_fields(source.data)[0])
    frame = read_table(source, header=header)
    src = text_source(source, header)
    names = (*columns, optional) if optional and frame.width == len(columns) + 1 else columns
    if header:
        check_columns([c.strip().lower() for c in frame.columns], names, src, what)
    elif frame.width != len(names):
        raise src.error(f"{frame.width} fields per line, expected {len(names)} for {what}",
                        "check that the file is the archive you meant")
    return frame.rename(dict(zip(frame.columns, names, strict=True))), src


def _trades(source: Source, layout: str, hints: Hints) -> ImportBatch:
    names, id_col, qty_col, time_col = (
        (_TRADES, "id", "qty", "time") if layout == "trades" else
        (_AGG_TRADES, "agg_trade_id", "quantity", "transact_time"))
    frame, src = _table(source, names, f"Binance {layout}", optional=_BEST_MATCH)
    futures = _BEST_MATCH not in frame.columns
    symbol = choose(hints.symbol, _name_symbol(source), "symbol", src)
    price = number_text(frame["price"], "price", src)
    size = number_text(frame[qty_col], qty_col, src)
    instrument = make_instrument(hints, symbol=symbol, venue=_venue(hints, symbol,
                                                                    futures=futures),
                                 derivative=futures, price_places=places(price),
                                 size_places=places(size))
    ts = to_ns(frame[time_col], src)
    seller_took = booleans(frame["is_buyer_maker"], "is_buyer_maker", src)
    trades = frame_of(DataKind.TRADES, {
        "ts_event": ts, "ts_recv": ts,
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, qty_col, src),
        "aggressor": 1 - 2 * seller_took.cast(pl.Int8),
        "trade_id": present(frame[id_col], id_col, src),
        "sequence": integers(frame[id_col], id_col, src)})
    return ImportBatch(instrument, DataKind.TRADES, trades, source.name)


def _klines(source: Source, hints: Hints) -> ImportBatch:
    bars = read_bars(source.path, fmt="binance-kline")
    src = BarSource(source.name)
    symbol = choose(hints.symbol, _name_symbol(source) or bars.symbol, "symbol", src)
    instrument = bars_instrument(bars, hints, symbol=symbol,
                                 venue=_venue(hints, symbol, futures=False), derivative=False)
    return bars_batch(bars, instrument)


def _depth(source: Source, hints: Hints) -> list[ImportBatch]:
    frame, src = _table(source, _DEPTH, "Binance diff-depth")
    symbol = choose(hints.symbol, one_value(frame["symbol"], "symbol", src), "symbol", src)
    update_type = present(frame["update_type"], "update_type", src).str.to_lowercase()
    unknown = update_type.filter(~update_type.is_in(["snap", "set"])).unique()
    if unknown.len():
        raise src.error(f"update_type {', '.join(unknown.to_list())} (only snap and set "
                        "are known)", "drop those rows or check the file's layout")
    price = number_text(frame["price"], "price", src)
    size = number_text(frame["qty"], "qty", src)
    instrument = make_instrument(hints, symbol=symbol,
                                 venue=_venue(hints, symbol, futures=True), derivative=True,
                                 price_places=places(price), size_places=places(size))
    ts = to_ns(frame["timestamp"], src)
    table = pl.DataFrame({
        "ts_event": ts, "ts_recv": ts, "side": book_sides(frame["side"], src),
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, "qty", src),
        "sequence": integers(frame["last_update_id"], "last_update_id", src),
        "snap": update_type == "snap"})
    batches = []
    snaps = table.filter(pl.col("snap"))
    if snaps.height:
        batches.append(ImportBatch(instrument, DataKind.BOOK_SNAPSHOTS,
                                   snapshot_rows(snaps), source.name))
    deltas = table.filter(~pl.col("snap"))
    if deltas.height:
        batches.append(ImportBatch(instrument, DataKind.BOOK_DELTAS, delta_rows(deltas),
                                   source.name))
    return batches


def _book_ticker(source: Source, hints: Hints) -> ImportBatch:
    frame, src = _table(source, _BOOK_TICKER, "Binance bookTicker")
    symbol = choose(hints.symbol, _name_symbol(source), "symbol", src)
    text = {name: number_text(frame[name], name, src) for name in _BOOK_TICKER[1:5]}
    instrument = make_instrument(
        hints, symbol=symbol, venue=_venue(hints, symbol, futures=True), derivative=True,
        price_places=max(places(text["best_bid_price"]), places(text["best_ask_price"])),
        size_places=max(places(text["best_bid_qty"]), places(text["best_ask_qty"])))
    ts = to_ns(frame["transaction_time"], src)
    tick, lot = instrument.price_increment, instrument.size_increment
    quotes = frame_of(DataKind.QUOTES, {
        "ts_event": ts, "ts_recv": ts,
        "bid": to_units(text["best_bid_price"], tick, "best_bid_price", src),
        "ask": to_units(text["best_ask_price"], tick, "best_ask_price", src),
        "bid_size": to_units(text["best_bid_qty"], lot, "best_bid_qty", src),
        "ask_size": to_units(text["best_ask_qty"], lot, "best_ask_qty", src),
        "sequence": integers(frame["update_id"], "update_id", src)})
    return ImportBatch(instrument, DataKind.QUOTES, quotes, source.name)


def _funding(source: Source, hints: Hints) -> ImportBatch:
    frame, src = _table(source, _FUNDING, "Binance fundingRate")
    symbol = choose(hints.symbol, _name_symbol(source), "symbol", src)
    instrument = make_instrument(hints, symbol=symbol,
                                 venue=_venue(hints, symbol, futures=True), derivative=True,
                                 price_places=None, size_places=None)
    ts = to_ns(frame["calc_time"], src)
    funding = frame_of(DataKind.FUNDING, {
        "ts_event": ts, "ts_recv": ts,
        "rate": funding_rates(frame["last_funding_rate"], src)})
    return ImportBatch(instrument, DataKind.FUNDING, funding, source.name)
