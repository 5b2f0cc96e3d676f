"""``heron record``: live market data into the catalog, an hour at a time.

Venues, symbols, streams and endpoints group as in ``heron feed`` (the first ``--venue``
with the first ``--symbol``, ...). Events go to the catalog (``--catalog``, as in
``heron data``) through :class:`heron.data.recording.Recorder`: flushed at every UTC hour
of receive time, when a series buffers ``--row-limit`` rows, and on exit; a killed run
keeps every flush before it. ``--raw DIR`` also keeps every frame as received, gzip, one
file per venue per hour (:class:`heron.data.recording.RawCapture`), which ``heron data
import`` reads back. A status line on stderr shows the events per stream and the last
flush (on a terminal; elsewhere one line per flush).

Exit codes: 0 stopped by ``--count``, ``--duration`` or a signal (Ctrl-C, SIGTERM), after
the last flush; 1 a venue could not be reached at start (after retries), or writing
failed (disk full, permissions: the message says what was kept); 2 bad input (unknown
venue, symbol or stream, a stream the venue does not publish, a malformed endpoint, a
catalog that holds an instrument on another tick or lot, a ``--raw`` folder in use).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from heron.cli.data import CatalogOpt
from heron.cli.feed import EndpointOpt, StreamsOpt, SymbolOpt, VenueOpt, requests_from
from heron.data.catalog import Catalog
from heron.data.recording.recorder import DEFAULT_ROW_LIMIT, Recorder

if TYPE_CHECKING:
    from heron.data.feeds.live import FeedRequest
    from heron.data.feeds.session import FeedOptions
    from heron.data.recording.raw import RawCapture

err = Console(stderr=True, highlight=False, soft_wrap=True)
_TICK_S = 0.5  # status refresh, hour check, raw flush


def record_command(
    venue: VenueOpt,
    symbol: SymbolOpt,
    streams: StreamsOpt = None,
    endpoint: EndpointOpt = None,
    catalog: CatalogOpt = None,
    raw: Annotated[Path | None, typer.Option(
        "--raw", help="also keep every frame here (gzip, one file per venue per hour)")] = None,
    count: Annotated[int | None, typer.Option(min=0, help="stop after N market events")] = None,
    duration: Annotated[float | None, typer.Option(min=0, help="stop after S seconds")] = None,
    stale: Annotated[float, typer.Option(help="seconds without data before a stream is "
                                         "reconnected")] = 30.0,
    row_limit: Annotated[int, typer.Option(min=1, help="flush a series early once it buffers "
                                           "this many rows")] = DEFAULT_ROW_LIMIT,
) -> None:
    """Record live trades, books, quotes, funding, marks and liquidations to the catalog."""
    from heron.data.feeds.session import FeedOptions
    from heron.data.recording.raw import RawCapture

    requests = requests_from(venue, symbol, streams, endpoint)
    _check_streams(requests)  # bad input fails before any folder is made
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    capture = RawCapture(raw) if raw is not None else None  # locks and recovers the folder
    recorder = Recorder(Catalog(catalog), row_limit=row_limit)
    ran = False
    try:
        if capture is not None:
            _say_recovered(capture)
        options = FeedOptions(stale_after_s=stale, raw=capture)
        asyncio.run(_record(requests, recorder, capture, options, count, duration))
        ran = True
    finally:  # a failed start (bad symbol, venue down) has nothing to sum up
        _finish(recorder, capture, summary=ran or bool(recorder.events))


def _check_streams(requests: list[FeedRequest]) -> None:
    """Unknown venues and streams a venue lacks, refused as ``run_feeds`` would, but early."""
    from heron.data.feeds.adapter import adapter_for

    for request in requests:
        adapter = adapter_for(request.venue)
        for stream in request.streams:
            adapter.check_stream(stream)


async def _record(requests: list[FeedRequest], recorder: Recorder, capture: RawCapture | None,
                  options: FeedOptions, count: int | None, duration: float | None) -> None:
    """Run the feeds into the recorder until they stop, or until a flush fails."""
    from heron.data.feeds.live import run_feeds

    feeds = asyncio.create_task(run_feeds(requests, recorder.emit, options=options,
                                          count=count, duration_s=duration))
    status = _Status(recorder, capture)
    with status:
        while not feeds.done():
            await asyncio.wait({feeds}, timeout=_TICK_S)
            recorder.tick()
            if capture is not None:
                capture.tick()
            status.update()
            if recorder.error is not None:  # stop reading what cannot be written
                feeds.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await feeds
                return
    feeds.result()


def _finish(recorder: Recorder, capture: RawCapture | None, *, summary: bool) -> None:
    """The last flush and the raw files' close; a signal now only says to wait."""
    def waiting(signum: int, frame: object) -> None:
        err.print("finishing the last flush; it stops by itself")

    previous = {sig: signal.signal(sig, waiting) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            recorder.close()
        finally:
            if capture is not None:
                capture.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if summary:
        err.print(_summary(recorder, capture))


class _Status:
    """The status line: a live line on a terminal, one line per flush elsewhere."""

    def __init__(self, recorder: Recorder, capture: RawCapture | None) -> None:
        self.recorder = recorder
        self.capture = capture
        self.live = Live(Text(""), console=err, auto_refresh=False, transient=True) \
            if err.is_terminal else None
        self._flushes = 0

    def __enter__(self) -> _Status:
        if self.live is not None:
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def update(self) -> None:
        if self.live is not None:
            self.live.update(Text(_line(self.recorder, self.capture), no_wrap=True,
                                  overflow="ellipsis"), refresh=True)
            return
        flushes = self.recorder.flushes
        for report in flushes[self._flushes:]:
            err.print(f"flushed ({report.reason}): {report.rows:,} rows of {report.series} "
                      f"series, {report.rows_added:,} new, in {report.seconds:.1f}s")
        self._flushes = len(flushes)


def _line(recorder: Recorder, capture: RawCapture | None) -> str:
    streams = "  ".join(f"{name} {n:,}" for name, n in sorted(recorder.events.items()))
    parts = [f"recording  {streams or 'waiting for data'}", f"health {recorder.health:,}",
             f"buffered {recorder.buffered:,} rows"]
    last = recorder.last_flush
    parts.append("no flush yet" if last is None else
                 f"last flush {_clock(last.done_ns)} ({last.reason}, {last.rows:,} rows, "
                 f"{last.seconds:.1f}s)")
    if capture is not None:
        parts.append(f"raw {capture.frames:,} frames")
    return " | ".join(parts)


def _clock(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S UTC")


def _summary(recorder: Recorder, capture: RawCapture | None) -> str:
    events = sum(recorder.events.values())
    kinds = ", ".join(f"{kind.value} {n:,}" for kind, n in recorder.rows_written.items())
    text = (f"recorded {events:,} events into {recorder.catalog.root}: "
            f"{sum(recorder.rows_written.values()):,} new rows ({kinds or 'none'}) in "
            f"{len(recorder.flushes)} flush(es); {recorder.health:,} health events")
    if recorder.unsettled:
        text += f"; {recorder.unsettled} predicted funding rate(s) not yet due left out"
    if recorder.incomplete:
        text += f"; {recorder.incomplete:,} book deltas of a message cut by the stop left out"
    if capture is not None:
        text += f"; raw: {capture.frames:,} frames in {len(capture.closed)} file(s) under " \
                f"{capture.directory}"
    return text


def _say_recovered(capture: RawCapture) -> None:
    for item in capture.recovered:
        if item.path is None:
            err.print(f"raw: removed {item.left} (a killed run's file with no complete line)")
        elif item.damage:
            err.print(f"raw: {item.left} is damaged after {item.lines:,} lines "
                      f"({item.damage}); kept as {item.path}")
        else:
            err.print(f"raw: recovered {item.lines:,} lines of a killed run as {item.path}")
