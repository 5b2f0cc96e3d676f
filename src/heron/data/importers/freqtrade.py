"""freqtrade's downloaded data: public trades and candles (spot, futures, mark, funding).

Layouts, told apart by content:

``trades-json``
    a JSON array (gzip as freqtrade writes it) of ccxt trade objects (``timestamp`` ms,
    ``price``, ``amount``, ``side``, ``id``, ``symbol``) or of freqtrade's
    ``[timestamp, id, type, side, price, amount, cost]`` rows -> trades. JSON numbers are
    decoded straight to :class:`~decimal.Decimal`, so prices keep their exact digits.
``trades-csv``
    ``[,]timestamp,id,type,side,price,amount,cost[,date]`` (a pandas export) -> trades.
``trades-frame``
    Feather/Parquet with those columns -> trades (floats at the fewest decimals that
    hold the column within float noise: the exchange's decimals).
``candles-json`` / ``candles-frame``
    ``[[ts_ms, o, h, l, c, v], ...]`` or Feather/Parquet ``date,open,...`` candles,
    through :func:`heron.data.bars.read_bars`, as one of three kinds:

    * funding, when high, low, close and volume are 0 on every row: that is how
      freqtrade stores funding-rate history, the rate in ``open`` (read at the fewest
      decimals that hold the column within float noise: freqtrade's arithmetic leaves
      -0.0021933400000000002 for -0.00219334), stamped at the funding time recorded;
    * mark, when the file name says ``mark`` (freqtrade's ``-mark`` candle type; nothing
      in the content tells mark candles from trade candles): each candle's ``close`` at
      the candle's close time, so no price shows before it existed;
    * bars otherwise; ``index``/``premiumIndex`` candles are refused (no catalog kind).

freqtrade does not record the exchange in its files, so ``venue`` must be given. The
symbol comes from the argument, the trades' ``symbol`` field, or freqtrade's file names
(``XRP_USDT_USDT-1h-futures.feather`` -> ``XRP/USDT:USDT``). A symbol with a settle
currency, or a file named futures/mark/funding/perp, is a perpetual.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import msgspec
import polars as pl

from heron.data.bar_columns import BarSource, to_ns
from heron.data.bar_formats import RawTable, read_feather, read_freqtrade_json, read_parquet
from heron.data.bars import read_bars
from heron.data.importers.batch import ImportBatch
from heron.data.importers.instruments import (
    bars_batch,
    bars_instrument,
    make_instrument,
    mark_batch,
)
from heron.data.importers.text_columns import (
    Hints,
    Source,
    choose,
    first_fields,
    float_text,
    frame_of,
    funding_rates,
    id_sequence,
    load_source,
    number_text,
    one_value,
    places,
    read_table,
    taker_side,
    text_source,
    to_units,
)
from heron.data.schemas import DataKind
from heron.errors import DataError

__all__ = ["LOOKS_LIKE", "read_freqtrade", "read_source", "sniff"]

_TRADE_COLUMNS = ("timestamp", "id", "type", "side", "price", "amount", "cost")
_TRADE_EXTRAS = ("", "date")  # the pandas index and freqtrade's datetime column
_CANDLE_COLUMNS = {"date", "open", "high", "low", "close"}
_PAIR = r"([A-Za-z0-9]+)_([A-Za-z0-9]+)(?:_([A-Za-z0-9]+))?"
_CANDLE_NAME = re.compile(_PAIR + r"-\d+[smhdwMy](?:-(futures|mark|index|premiumIndex"
                          r"|funding_rate|spot))?\.(?:json|feather|parquet)(?:\.gz)?")
_TRADES_NAME = re.compile(_PAIR + r"-trades\.(?:json|feather|parquet|csv)(?:\.gz)?")
_DERIVATIVE_WORDS = {"futures", "mark", "funding", "perp", "swap"}

LOOKS_LIKE = {
    "trades-json": "a freqtrade/ccxt trades JSON array",
    "trades-csv": "a freqtrade trades CSV (timestamp,id,type,side,price,amount,cost)",
    "trades-frame": "a freqtrade trades Feather/Parquet file",
    "candles-json": "a freqtrade candle JSON array",
    "candles-frame": "a freqtrade candle Feather/Parquet file (date,open,high,low,close,...)",
}
"""What each layout is, for messages."""


class _CcxtTrade(msgspec.Struct):
    """The fields heron uses of a ccxt trade; the others are ignored."""

    timestamp: int
    price: Decimal
    amount: Decimal
    side: str | None = None
    id: str | int | None = None
    symbol: str | None = None


_T = TypeVar("_T")
_TradeRow = tuple[int, str | int | None, str | None, str | None, Decimal, Decimal,
                  Decimal | None]


def _frame_columns(data: bytes) -> set[str]:
    try:
        if data.startswith(b"PAR1"):
            return set(pl.read_parquet_schema(io.BytesIO(data)))
        return set(pl.read_ipc_schema(io.BytesIO(data)))
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return set()


def _sniff_json(head: bytes) -> str | None:
    inner = head[1:].lstrip()
    if inner.startswith(b"{"):  # ccxt trades; other venues' JSON arrays lack these keys
        keys = (b'"timestamp"', b'"price"', b'"amount"')
        return "trades-json" if all(key in head for key in keys) else None
    if inner.startswith(b"["):
        row = inner[: inner.find(b"]") + 1]
        return "trades-json" if row.count(b",") == len(_TRADE_COLUMNS) - 1 else "candles-json"
    return None


def sniff(data: bytes) -> str | None:
    """The freqtrade layout of (unpacked) ``data``, or ``None``."""
    head = data[:4096].lstrip()
    if head.startswith(b"["):
        return _sniff_json(head)
    if data.startswith((b"ARROW1", b"PAR1")):
        columns = _frame_columns(data)
        if {"timestamp", "id", "side", "price", "amount"} <= columns:
            return "trades-frame"
        return "candles-frame" if columns >= _CANDLE_COLUMNS else None
    fields = [field.lower() for field in first_fields(data)]
    if fields[:1] == [""]:
        fields = fields[1:]
    return "trades-csv" if tuple(fields[:7]) == _TRADE_COLUMNS else None


def read_freqtrade(path: str | Path, *, venue: str | None = None, symbol: str | None = None,
                   tick_size: Decimal | None = None,
                   lot_size: Decimal | None = None) -> list[ImportBatch]:
    """Read one freqtrade data file (see the module doc for layouts and kinds)."""
    hints = Hints(venue=venue, symbol=symbol, tick_size=tick_size, lot_size=lot_size)
    return read_source(load_source(path), hints)


def read_source(source: Source, hints: Hints) -> list[ImportBatch]:
    """:func:`read_freqtrade` on loaded bytes."""
    layout = sniff(source.data)
    if layout == "trades-json":
        return [_trades_json(source, hints)]
    if layout == "trades-csv":
        return [_trades_csv(source, hints)]
    if layout == "trades-frame":
        return [_trades_frame(source, hints)]
    if layout in ("candles-json", "candles-frame"):
        return [_candles(source, hints)]
    raise DataError(f"{source.name}: not a freqtrade data file; expected one of: "
                    f"{'; '.join(LOOKS_LIKE.values())}")


# -- names --------------------------------------------------------------------------------------
def _name_symbol(source: Source) -> str | None:
    name = source.path.name
    match = _CANDLE_NAME.fullmatch(name) or _TRADES_NAME.fullmatch(name)
    if match is None:
        return None
    base, quote, settle = match.group(1, 2, 3)
    return f"{base}/{quote}:{settle}" if settle else f"{base}/{quote}"


def _name_words(source: Source) -> set[str]:
    return set(re.split(r"[-_.]", source.path.name.lower()))


def _instrument_hints(source: Source, hints: Hints, found: str | None,
                      src: BarSource) -> tuple[str, str, bool]:
    """Symbol, venue and whether the market is a derivative."""
    symbol = choose(hints.symbol, found or _name_symbol(source), "symbol", src)
    venue = choose(hints.venue, None, "venue", src)
    derivative = ":" in symbol or bool(_name_words(source) & _DERIVATIVE_WORDS)
    return symbol, venue, derivative


# -- trades -------------------------------------------------------------------------------------
def _trades_batch(source: Source, hints: Hints, columns: dict[str, pl.Series],
                  found: str | None, src: BarSource) -> ImportBatch:
    """Trades from text-like ``timestamp``, ``id``, ``side``, ``price``, ``amount`` columns."""
    symbol, venue, derivative = _instrument_hints(source, hints, found, src)
    price = number_text(columns["price"], "price", src)
    size = number_text(columns["amount"], "amount", src)
    instrument = make_instrument(hints, symbol=symbol, venue=venue, derivative=derivative,
                                 price_places=places(price), size_places=places(size))
    ts = to_ns(columns["timestamp"], src)
    ids = columns["id"].cast(pl.String).fill_null("").str.strip_chars()
    trades = frame_of(DataKind.TRADES, {
        "ts_event": ts, "ts_recv": ts,
        "price": to_units(price, instrument.price_increment, "price", src),
        "size": to_units(size, instrument.size_increment, "amount", src),
        "aggressor": taker_side(columns["side"], src),
        "trade_id": ids, "sequence": id_sequence(ids, ts)})
    return ImportBatch(instrument, DataKind.TRADES, trades, source.name)


def _decode(data: bytes, kind: type[_T], name: str) -> _T:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise DataError(f"{name}: not freqtrade trades ({exc}); expected a JSON array of "
                        "ccxt trades or of [timestamp, id, type, side, price, amount, cost]"
                        ) from None
    except msgspec.DecodeError as exc:
        raise DataError(f"{name}: malformed JSON ({exc}); the file may be truncated: "
                        "download it again") from None


def _text(values: list[Decimal]) -> pl.Series:
    return pl.Series([format(value, "f") for value in values], dtype=pl.String)


def _trades_json(source: Source, hints: Hints) -> ImportBatch:
    src = BarSource(source.name, "trade", 1)
    if source.data.lstrip()[1:].lstrip().startswith(b"{"):
        trades = _decode(source.data, list[_CcxtTrade], source.name)
        rows = [(t.timestamp, t.id, t.side, t.price, t.amount) for t in trades]
        symbols = pl.Series([t.symbol for t in trades], dtype=pl.String).drop_nulls()
        found = one_value(symbols, "symbol", src) if symbols.len() else None
    else:
        table = _decode(source.data, list[_TradeRow], source.name)
        rows = [(r[0], r[1], r[3], r[4], r[5]) for r in table]
        found = None
    if not rows:
        raise DataError(f"{source.name}: no trades in the file; pass a file with trades")
    stamps, ids, sides, prices, amounts = zip(*rows, strict=True)
    columns = {
        "timestamp": pl.Series(stamps, dtype=pl.Int64),
        "id": pl.Series([None if i is None else str(i) for i in ids], dtype=pl.String),
        "side": pl.Series(sides, dtype=pl.String),
        "price": _text(list(prices)), "amount": _text(list(amounts))}
    return _trades_batch(source, hints, columns, found, src)


def _trades_csv(source: Source, hints: Hints) -> ImportBatch:
    frame = read_table(source, header=True)
    src = text_source(source, header=True)
    found = [c.strip().lower() for c in frame.columns]
    unexpected = [c for c in found if c not in _TRADE_COLUMNS + _TRADE_EXTRAS]
    missing = [c for c in _TRADE_COLUMNS if c not in found]
    if unexpected or missing:
        raise src.error(f"unexpected column(s) {', '.join(unexpected) or 'none'}, missing "
                        f"{', '.join(missing) or 'none'}",
                        f"freqtrade trades CSVs have {','.join(_TRADE_COLUMNS)}")
    frame.columns = found
    return _trades_batch(source, hints, {c: frame[c] for c in frame.columns}, None, src)


def _trades_frame(source: Source, hints: Hints) -> ImportBatch:
    reader = pl.read_parquet if source.data.startswith(b"PAR1") else pl.read_ipc
    try:
        frame = reader(io.BytesIO(source.data))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"{source.name}: cannot read ({str(exc).splitlines()[0]}); "
                        "check the file is complete") from None
    if frame.height == 0:
        raise DataError(f"{source.name}: no trades in the file; pass a file with trades")
    src = BarSource(source.name, "row", 1)
    columns = {name: frame[name] for name in ("timestamp", "id", "side")}
    for name in ("price", "amount"):
        columns[name] = float_text(frame[name])
    return _trades_batch(source, hints, columns, None, src)


# -- candles ------------------------------------------------------------------------------------
def _raw_candles(source: Source) -> RawTable:
    readers: dict[bytes, Callable[[bytes, str], RawTable]] = {
        b"PAR1": read_parquet, b"ARROW1": read_feather}
    for magic, reader in readers.items():
        if source.data.startswith(magic):
            return reader(source.data, source.name)
    return read_freqtrade_json(source.data, source.name)


def _is_funding(table: RawTable) -> bool:
    """freqtrade's funding-rate candles: only ``open`` (the rate) is ever non-zero."""
    frame, columns = table.frame, table.columns
    others = [columns.high, columns.low, columns.close]
    if columns.volume is not None:
        others.append(columns.volume)
    return all(bool((frame[name].cast(pl.Float64) == 0).all()) for name in others)


def _candles(source: Source, hints: Hints) -> ImportBatch:
    table = _raw_candles(source)
    src = BarSource(source.name, "candle", 1)
    if _is_funding(table):
        return _funding(source, hints, table, src)
    words = _name_words(source)
    if words & {"index", "premiumindex"}:
        raise src.error("index/premium-index candles have no catalog kind",
                        "import the trade-price, mark or funding-rate candles instead")
    bars = read_bars(source.path)
    symbol, venue, derivative = _instrument_hints(source, hints, bars.symbol, src)
    instrument = bars_instrument(bars, hints, symbol=symbol, venue=venue,
                                 derivative=derivative)
    return mark_batch(bars, instrument) if "mark" in words else bars_batch(bars, instrument)


def _funding(source: Source, hints: Hints, table: RawTable, src: BarSource) -> ImportBatch:
    symbol, venue, _ = _instrument_hints(source, hints, None, src)
    instrument = make_instrument(hints, symbol=symbol, venue=venue, derivative=True,
                                 price_places=None, size_places=None)
    ts = to_ns(table.frame[table.columns.ts], src)
    rates = funding_rates(float_text(table.frame[table.columns.open]), src)
    frame = frame_of(DataKind.FUNDING, {"ts_event": ts, "ts_recv": ts, "rate": rates})
    return ImportBatch(instrument, DataKind.FUNDING, frame, source.name)
