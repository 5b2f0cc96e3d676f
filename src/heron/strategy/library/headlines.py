"""Timestamped headlines for ``news_sentiment``: a file read as it grows, released by time.

A headline file is CSV (a header naming ``timestamp`` and ``headline``, optionally
``symbol`` and ``source``; other columns are ignored) or JSON Lines (``.jsonl`` or
``.ndjson``: one object per line with the same keys). Timestamps are ISO 8601 text:
``2022-01-20 14:11:00`` or ``2022-01-20T14:11:00Z``; a time without an offset is UTC,
as in heron's bar files.

:class:`HeadlineFile` is both the backtest source and the seam for a live feed. Each
:meth:`~HeadlineFile.poll` first reads whatever complete lines were appended since the
last call (a collector that appends to the file is a feed: nothing else is needed), then
hands back, in time order, the headlines whose timestamp is at or before ``now`` and not
yet handed back. A headline stamped later waits in a heap until the clock reaches it, so
in a backtest over a finished file nothing is seen before it was published, whatever
the order of the lines. Any other source (an HTTP endpoint, a message queue) plugs in
by implementing :class:`HeadlineSource` and returning it from
``NewsSentiment.open_source``.

Bad input in the file as it is at the start of a run is refused with
``InvalidConfiguration`` naming the file, the line and the fix. A bad line appended
while a run is going is logged and skipped instead: one malformed line from a collector
must not stop a live strategy.
"""

from __future__ import annotations

import csv
import heapq
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from heron.errors import InvalidConfiguration

__all__ = ["Headline", "HeadlineFile", "HeadlineSource", "parse_time"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_JSON_SUFFIXES = (".jsonl", ".ndjson")
_TIME_FIX = "write ISO 8601 such as 2022-01-20 14:11:00 (UTC) or 2022-01-20T14:11:00+00:00"


@dataclass(frozen=True, slots=True, order=True)
class Headline:
    """One headline: when it was published (ns since the epoch, UTC) and its text."""

    ts: int
    text: str = field(compare=False)
    symbol: str = field(default="", compare=False)
    source: str = field(default="", compare=False)


class HeadlineSource(Protocol):
    """Where ``news_sentiment`` gets headlines: those published at or before ``now``."""

    def poll(self, now: int) -> list[Headline]: ...
    def close(self) -> None: ...


def parse_time(text: str) -> int:
    """ISO 8601 text to ns since the epoch; no offset means UTC. ValueError if not a time."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


class HeadlineFile:
    """A CSV or JSON Lines headline file, re-read as it grows (see the module doc)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InvalidConfiguration(
                f"headlines file {self.path} not found; give the path of a CSV or JSON Lines "
                "file of timestamped headlines (relative to where heron is started)")
        self.json = self.path.suffix.lower() in _JSON_SUFFIXES
        self.columns: dict[str, int] | None = None  # CSV: column positions, from the header
        self.width = 0  # CSV: fields in the header
        self.offset = 0  # bytes read so far (complete lines only)
        self.line = 0  # lines read so far, for messages
        self.strict = True  # refuse bad lines read at the start; skip later ones
        self.pending: list[Headline] = []  # a heap: headlines not yet due
        self.read()
        self.strict = False

    def poll(self, now: int) -> list[Headline]:
        """New lines in, then every headline stamped at or before ``now``, oldest first."""
        self.read()
        due: list[Headline] = []
        while self.pending and self.pending[0].ts <= now:
            due.append(heapq.heappop(self.pending))
        return due

    def close(self) -> None:
        """Nothing is held open between polls; here for :class:`HeadlineSource`."""

    def read(self) -> None:
        """Parse the complete lines appended since the last read (a partial last line
        waits for its newline: a collector may be writing it right now)."""
        if self.path.stat().st_size <= self.offset:
            return  # nothing new: the common case on every bar, one stat call
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        end = chunk.rfind(b"\n") + 1
        if end == 0:
            return
        self.offset += end
        for raw in chunk[:end].split(b"\n")[:-1]:
            self.line += 1
            try:
                headline = self.parse(raw.decode("utf-8").rstrip("\r"))
            except (InvalidConfiguration, UnicodeDecodeError) as exc:
                if self.strict:
                    raise InvalidConfiguration(str(exc)) from None
                log.warning("skipped a headline: %s", exc)
                continue
            if headline is not None:
                heapq.heappush(self.pending, headline)

    def parse(self, text: str) -> Headline | None:
        """One line to a headline; None for blank lines and the CSV header."""
        if not text.strip():
            return None
        if self.json:
            return self.build(self.json_fields(text))
        cells = next(csv.reader([text]))
        if self.columns is None:
            self.columns = self.header(cells)
            return None
        if len(cells) != self.width:
            raise self.error(f"has {len(cells)} fields, the header {self.width}; quote a "
                             "headline that holds a comma (\"...\") and keep one per line")
        return self.build({name: cells[i] for name, i in self.columns.items()})

    def header(self, cells: list[str]) -> dict[str, int]:
        names = [cell.strip().lower() for cell in cells]
        self.width = len(cells)
        missing = [name for name in ("timestamp", "headline") if name not in names]
        if missing:
            raise self.error(f"header {','.join(cells)!r} has no {' or '.join(missing)} "
                             "column; start the file with a header such as "
                             "timestamp,symbol,source,headline")
        return {name: names.index(name) for name in ("timestamp", "headline", "symbol",
                                                     "source") if name in names}

    def json_fields(self, text: str) -> dict[str, object]:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error(f"is not JSON ({exc.msg}); write one object per line such as "
                             '{"timestamp": "2022-01-20T14:11:00Z", "headline": "..."}') from None
        if not isinstance(value, dict):
            raise self.error("is not a JSON object; write one object per line with "
                             "timestamp and headline keys")
        for key in ("timestamp", "headline"):
            if key not in value:
                raise self.error(f"has no {key!r} key; every object needs timestamp and "
                                 "headline")
        return {key: value[key] for key in ("timestamp", "headline", "symbol", "source")
                if key in value}

    def build(self, fields: Mapping[str, object]) -> Headline:
        stamp, text = fields.get("timestamp"), fields.get("headline")
        if not isinstance(stamp, str):
            raise self.error(f"timestamp {stamp!r} is not text; {_TIME_FIX}")
        try:
            ts = parse_time(stamp)
        except ValueError:
            raise self.error(f"timestamp {stamp!r} is not a time; {_TIME_FIX}") from None
        if not isinstance(text, str) or not text.strip():
            raise self.error("has an empty headline; give its text or remove the line")
        symbol, source = fields.get("symbol", ""), fields.get("source", "")
        return Headline(ts, text.strip(), str(symbol or "").strip(), str(source or "").strip())

    def error(self, what: str) -> InvalidConfiguration:
        return InvalidConfiguration(f"headlines {self.path} line {self.line}: {what}")
