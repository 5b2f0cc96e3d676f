"""Read bar files of the formats heron knows into a table with named column roles.

Formats are told apart by content, never by file name: gzip and zip by their
magic bytes, Parquet by ``PAR1``, Arrow IPC (Feather v2) by ``ARROW1``, a
freqtrade candle array by its opening ``[``, a Binance kline dump by a
header-less first line of 12 fields or by its ``open_time,...,close_time``
header, and anything else with a header line as generic CSV. The result is a
:class:`RawTable`; converting and checking the values is left to
:mod:`heron.data.bars`, which does it the same way for every format.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import polars as pl

from heron.data.bar_columns import BarSource, ColumnMap, resolve_columns
from heron.errors import DataError

BAR_FORMATS: tuple[str, ...] = ("csv", "binance-kline", "freqtrade-json", "feather", "parquet")

_HEADERLESS = "headerless"
_BINANCE_HEADER = ("open_time", "open", "high", "low", "close", "volume", "close_time")
_BINANCE_FIELDS = 12
_TEXT_FORMATS = ("csv", "binance-kline", _HEADERLESS)
_HEADERLESS_FIX = (
    "add a header line such as timestamp,open,high,low,close,volume "
    "(12-column Binance klines are read without one)"
)
_LOOKS_LIKE = {
    "csv": "CSV with a header of named columns",
    "binance-kline": "a Binance kline CSV",
    _HEADERLESS: "CSV without a header",
    "freqtrade-json": "a JSON array",
    "feather": "an Arrow IPC (Feather) file",
    "parquet": "a Parquet file",
}
_IDENTITY = ColumnMap(ts="ts", open="open", high="high", low="low", close="close", volume="volume")

# data.binance.vision names dumps SYMBOL-INTERVAL-YYYY-MM[-DD].{zip,csv}
_BINANCE_NAME = re.compile(
    r"([A-Z0-9]{2,})-(?:\d+[smhdwM]|1mo)-\d{4}-\d{2}(?:-\d{2})?\.(?:csv|zip)(?:\.gz)?"
)
# freqtrade names candle files BASE_QUOTE[_SETTLE]-TIMEFRAME[-CANDLETYPE].{json,feather,parquet}
_FREQTRADE_NAME = re.compile(
    r"([A-Za-z0-9]+)_([A-Za-z0-9]+)(?:_([A-Za-z0-9]+))?-\d+[smhdwMy]"
    r"(?:-(?:futures|mark|index|premiumIndex|spot))?\.(?:json|feather|parquet)(?:\.gz)?"
)

Candle = tuple[int | float, float | None, float | None, float | None, float | None, float | None]


class RawTable(msgspec.Struct, frozen=True):
    """A parsed bar table before conversion: source columns, their roles, where it came from."""

    frame: pl.DataFrame
    columns: ColumnMap
    source: BarSource
    symbol: str | None = None


def read_file_bytes(path: Path) -> bytes:
    """The raw bytes of ``path``; a one-line DataError when it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory; pass the path of a bar file") from None
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read ({exc.strerror}); check the file's permissions"
        ) from None


def _gunzip(data: bytes, name: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{name}: corrupt gzip data ({exc}); download or compress the file again"
        ) from None


def _unzip(data: bytes, name: str) -> bytes:
    """Read the one member of a zip, as data.binance.vision ships its kline dumps."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) != 1:
                raise DataError(
                    f"{name}: the zip holds {len(members)} files, not one; "
                    "extract the bar file and read that"
                )
            return archive.read(members[0])
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: corrupt zip data ({exc}); download the file again") from None


def unpack(data: bytes, name: str) -> bytes:
    """Undo gzip or zip compression (detected by magic bytes) and a UTF-8 byte-order mark."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, name)
    elif data[:4] == b"PK\x03\x04":
        data = _unzip(data, name)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data or data.isspace():
        raise DataError(f"{name}: the file is empty; pass a file with bars in it")
    return data


def _first_line_fields(data: bytes) -> list[str]:
    line = data[: data.find(b"\n") if b"\n" in data[:65536] else 65536]
    text = line.decode("utf-8", errors="replace").strip()
    return [field.strip().strip("\"'").strip().lower() for field in text.split(",")]


def sniff_format(data: bytes) -> str:
    """Name the format of (uncompressed) ``data`` from its first bytes.

    Returns one of :data:`BAR_FORMATS`, or ``"headerless"`` for a CSV whose
    first line is data but which is not a 12-column Binance kline dump.
    """
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith((b"ARROW1", b"\xff\xff\xff\xff")):
        return "feather"
    if data[:4096].lstrip().startswith(b"["):
        return "freqtrade-json"
    fields = _first_line_fields(data)
    # a column name never starts with a digit or a sign; a time or price does
    if fields[0][:1] and fields[0][0] in "0123456789+-":
        return "binance-kline" if len(fields) == _BINANCE_FIELDS else _HEADERLESS
    if tuple(fields[: len(_BINANCE_HEADER)]) == _BINANCE_HEADER:
        return "binance-kline"
    return "csv"


def _family(fmt: str) -> str:
    return "text" if fmt in _TEXT_FORMATS else fmt


def choose_format(sniffed: str, fmt: str | None, name: str) -> str:
    """Reconcile the sniffed format with the one asked for; refuse a mismatch."""
    if fmt is None:
        if sniffed == _HEADERLESS:
            raise DataError(f"{name}: the first line is data, not column names; {_HEADERLESS_FIX}")
        return sniffed
    if _family(fmt) != _family(sniffed) or (fmt == "binance-kline" and sniffed == "csv"):
        raise DataError(
            f"{name}: fmt={fmt!r} but the file looks like {_LOOKS_LIKE[sniffed]}; "
            "leave fmt out to auto-detect"
        )
    return fmt


def _polars_error(name: str, what: str, exc: Exception) -> DataError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{name}: cannot read as {what} ({reason}); check the file is a valid {what}")


def _no_rows(name: str) -> DataError:
    return DataError(
        f"{name}: no bars in the file (only a header or an empty table); pass a file with bars"
    )


def _ragged_line(data: bytes, name: str) -> DataError | None:
    """Name the first line whose field count differs from the first line's.

    Only runs after polars has refused the file (it does not say where), so the
    slow pure-Python scan costs nothing on good files.
    """
    lines = csv.reader(io.StringIO(data.decode("utf-8", errors="replace")))
    expected = len(next(lines, []))
    for number, fields in enumerate(lines, start=2):
        if fields and len(fields) != expected:
            return DataError(
                f"{name}: line {number} has {len(fields)} fields but the first line has "
                f"{expected}; fix that line, or quote fields that contain commas"
            )
    return None


def _read_text_table(data: bytes, name: str, *, header: bool) -> pl.DataFrame:
    if b"\x00" in data[:4096]:
        raise DataError(f"{name}: binary data, not CSV text; pass a CSV, Parquet or Feather file")
    try:
        frame = pl.read_csv(data, has_header=header, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise _ragged_line(data, name) or _polars_error(name, "CSV", exc) from None
    if frame.height == 0:
        raise _no_rows(name)
    return frame


def read_csv(data: bytes, name: str) -> RawTable:
    """Generic CSV with a header; column names are matched by :func:`resolve_columns`."""
    frame = _read_text_table(data, name, header=True)
    source = BarSource(name, "line", 2)
    return RawTable(frame, resolve_columns(frame.columns, source), source)


def read_binance_kline(data: bytes, name: str) -> RawTable:
    """Binance kline dump: 12 positional columns, with or without the 2025-style header."""
    first = _first_line_fields(data)[0]
    header = not (first[:1] and first[0] in "0123456789+-")
    frame = _read_text_table(data, name, header=header)
    if frame.width < 6:
        raise DataError(
            f"{name}: {frame.width} columns, but Binance klines have open_time,open,high,low,"
            "close,volume first; pass a kline file from data.binance.vision"
        )
    roles = ["ts", "open", "high", "low", "close", "volume"]
    frame = frame.select(pl.nth(range(6))).rename(dict(zip(frame.columns[:6], roles, strict=True)))
    return RawTable(frame, _IDENTITY, BarSource(name, "line", 2 if header else 1))


def read_freqtrade_json(data: bytes, name: str) -> RawTable:
    """freqtrade candles: a JSON array of ``[ts_ms, open, high, low, close, volume]``."""
    try:
        rows = msgspec.json.decode(data, type=list[Candle])
    except msgspec.ValidationError as exc:
        raise DataError(
            f"{name}: not freqtrade candles ({exc}); expected a JSON array of "
            "[ts_ms, open, high, low, close, volume] arrays"
        ) from None
    except msgspec.DecodeError as exc:
        raise DataError(f"{name}: malformed JSON ({exc}); check the file is complete") from None
    if not rows:
        raise _no_rows(name)
    columns = list(zip(*rows, strict=True))
    frame = pl.DataFrame(
        [pl.Series("ts", columns[0], strict=False)]
        + [
            pl.Series(role, values, dtype=pl.Float64, strict=False)
            for role, values in zip(
                ("open", "high", "low", "close", "volume"), columns[1:], strict=True
            )
        ]
    )
    return RawTable(frame, _IDENTITY, BarSource(name, "candle", 1))


def _read_binary(
    data: bytes, name: str, what: str, reader: Callable[[io.BytesIO], pl.DataFrame]
) -> RawTable:
    try:
        frame = reader(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise _polars_error(name, what, exc) from None
    if frame.height == 0:
        raise _no_rows(name)
    source = BarSource(name, "row", 1)
    return RawTable(frame, resolve_columns(frame.columns, source), source)


def read_feather(data: bytes, name: str) -> RawTable:
    """Arrow IPC file (Feather v2, as freqtrade writes) or Arrow IPC stream."""
    if data.startswith(b"ARROW1"):
        return _read_binary(data, name, "Feather", pl.read_ipc)
    return _read_binary(data, name, "Arrow IPC stream", pl.read_ipc_stream)


def read_parquet(data: bytes, name: str) -> RawTable:
    """Parquet with the same column-name variants as CSV."""
    return _read_binary(data, name, "Parquet", pl.read_parquet)


READERS: dict[str, Callable[[bytes, str], RawTable]] = {
    "csv": read_csv,
    "binance-kline": read_binance_kline,
    "freqtrade-json": read_freqtrade_json,
    "feather": read_feather,
    "parquet": read_parquet,
}


def symbol_from_name(fmt: str, file_name: str) -> str | None:
    """The symbol that Binance's or freqtrade's file-naming convention puts in the name."""
    if fmt == "binance-kline" and (match := _BINANCE_NAME.fullmatch(file_name)):
        return match[1]
    if fmt in ("freqtrade-json", "feather", "parquet") and (
        match := _FREQTRADE_NAME.fullmatch(file_name)
    ):
        base, quote, settle = match.groups()
        return f"{base}/{quote}:{settle}" if settle else f"{base}/{quote}"
    return None


def load_table(path: Path, fmt: str | None) -> RawTable:
    """Read, unpack, sniff and parse the bar file at ``path``."""
    name = str(path)
    data = unpack(read_file_bytes(path), name)
    chosen = choose_format(sniff_format(data), fmt, name)
    table = READERS[chosen](data, name)
    symbol = symbol_from_name(chosen, path.name)
    return table if symbol is None else msgspec.structs.replace(table, symbol=symbol)
