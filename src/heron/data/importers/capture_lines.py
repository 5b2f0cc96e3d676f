"""The two capture file formats, line by line: what every venue's capture reader shares.

* hftbacktest (``*.txt.gz``, and what ``heron record --raw`` writes): each line
  ``<local receive ns> <raw WebSocket text>``.
* cryptofeed (``*.jsonl.gz``): each line ``{"ts": receive seconds, "dir", "url", "raw"}``;
  ``dir`` ``recv`` lines are WebSocket messages, ``http_response`` lines REST bodies.

Both become :class:`Record` values: the file and line a message came from, its receive
time, its text, and whether its line was whole. Damage to the *file* is a
:class:`~heron.errors.DataError` naming the line (a gzip stream that fails its CRC, a
line without the recorder's framing); what a recorder killed mid-write leaves at the end
(an unterminated last line, a gzip stream without its end marker) is reported by the
caller as truncated instead (:attr:`LineReader.cut_after`, the ``truncated`` lists).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias
from urllib.parse import parse_qs, urlsplit

import msgspec

from heron.errors import DataError
from heron.model.instrument import Instrument

__all__ = ["CaptureFormat", "CryptofeedSession", "InstrumentLookup", "Line", "LineReader", "Record",
           "cryptofeed_records", "hftbacktest_records"]

CaptureFormat: TypeAlias = Literal["hftbacktest", "cryptofeed"]

InstrumentLookup: TypeAlias = Callable[[str, str], "Instrument | None"]
"""``(venue, symbol)`` -> the instrument a catalog already stores, or ``None``."""


class Line(NamedTuple):
    number: int
    text: bytes
    complete: bool  # ended with a newline: only a file's last line may not


@dataclass(slots=True)
class LineReader:
    """Numbered lines of a text file, gzipped or not; notes a gzip stream cut short."""

    path: Path
    cut_after: int | None = None

    def __iter__(self) -> Iterator[Line]:
        number = 0
        try:
            with (gzip.open(self.path, "rb") if self.path.suffix == ".gz"
                  else self.path.open("rb")) as f:
                for number, line in enumerate(f, 1):
                    yield Line(number, line.rstrip(b"\r\n"), line.endswith(b"\n"))
        except EOFError:  # no end marker: the recorder stopped mid-stream
            self.cut_after = number
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(f"{self.path}: corrupt gzip data after line {number} ({exc}); "
                            "the file is damaged: fetch or copy it again") from None


class Record(NamedTuple):
    file: str
    line: int
    ts_recv: int
    raw: bytes | str
    complete: bool
    symbol: str | None = None  # a REST snapshot's symbol, from its URL


def framing_error(path: Path, line: Line, what: str) -> DataError:
    return DataError(f"{path}: line {line.number} is not a {what} line "
                     f"({line.text[:60]!r}); the file is damaged or of another format")


def hftbacktest_records(path: Path, reader: LineReader,
                        truncated: list[str]) -> Iterator[Record]:
    """The messages of an hftbacktest capture; an unreadable last line goes to
    ``truncated``, an unframed line anywhere else is a :class:`DataError`."""
    for line in reader:
        if not line.text:
            continue
        stamp, _, raw = line.text.partition(b" ")
        if not (stamp.isdigit() and raw):
            if not line.complete:
                truncated.append(f"line {line.number}: unterminated and unreadable, skipped")
                continue
            raise framing_error(path, line, "'<receive ns> <message>'")
        yield Record(path.name, line.number, int(stamp), raw, line.complete)


class _CryptofeedLine(msgspec.Struct, frozen=True):
    dir: str
    ts: Decimal | None = None
    url: str | None = None
    raw: str | None = None


_CRYPTOFEED_LINE = msgspec.json.Decoder(_CryptofeedLine)


@dataclass(slots=True)
class CryptofeedSession:
    """What the lines of a cryptofeed session hold besides market messages."""

    urls: list[str] = field(default_factory=list)
    exchange_infos: list[str] = field(default_factory=list)  # Binance /exchangeInfo bodies
    truncated: list[str] = field(default_factory=list)


def cryptofeed_records(path: Path, reader: LineReader,
                       session: CryptofeedSession) -> Iterator[Record]:
    """WebSocket messages (``recv``) and REST ``/depth`` bodies of a cryptofeed session;
    URLs and ``/exchangeInfo`` bodies are noted in ``session``."""
    for line in reader:
        if not line.text:
            continue
        try:
            entry = _CRYPTOFEED_LINE.decode(line.text)
        except msgspec.DecodeError:
            if not line.complete:
                session.truncated.append(f"{path.name} line {line.number}: unterminated and "
                                         "unreadable, skipped")
                continue
            raise framing_error(path, line, "cryptofeed JSON") from None
        if entry.raw is None or entry.ts is None or entry.dir not in ("recv", "http_response"):
            continue  # open/send/config lines: no market data
        ts_recv = int(entry.ts.scaleb(9))
        url = urlsplit(entry.url or "")
        if entry.url and (not session.urls or session.urls[-1] != entry.url):
            session.urls.append(entry.url)
        if entry.dir == "http_response" and url.path.endswith("/exchangeInfo"):
            session.exchange_infos.append(entry.raw)
        elif entry.dir == "recv" or url.path.endswith("/depth"):
            symbol = parse_qs(url.query).get("symbol", [None])[0]
            yield Record(path.name, line.number, ts_recv, entry.raw, line.complete, symbol)
