"""``heron feed``: live market data from any venues, as JSON Lines on stdout.

Groups pair by position: the first ``--venue`` goes with the first ``--symbol`` (a
comma-separated list) and the first ``--streams`` and ``--endpoint``; a group with no
``--streams`` of its own takes the last one given, and likewise ``--endpoint`` (more of
either than ``--venue`` is an error: the extra ones would pair with no venue). The
envelope is documented in :mod:`heron.data.feeds.envelope` and docs/venues.md.

Exit codes: 0 stopped by ``--count``, ``--duration`` or a signal (Ctrl-C, SIGTERM);
1 a venue could not be reached at start (after retries); 2 bad input (unknown venue,
symbol or stream, a stream the venue does not publish, a malformed endpoint).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from heron.data.feeds.streams import parse_streams
from heron.errors import InputError

if TYPE_CHECKING:
    from heron.data.feeds.live import FeedRequest

VenueOpt = Annotated[list[str], typer.Option("--venue", help="venue: binanceusdm, okx, bybit, "
                                             "bybitspot, hyperliquid, mexc, alpaca, alpaca-stocks, "
                                             "alpaca-stocks-sip (repeatable)")]
SymbolOpt = Annotated[list[str], typer.Option("--symbol", help="symbols of the matching "
                                              "--venue, comma-separated (repeatable)")]
StreamsOpt = Annotated[list[str] | None, typer.Option(
    "--streams", help="trades,book,quotes,funding,mark,liquidations (per --venue)")]
EndpointOpt = Annotated[list[str] | None, typer.Option(
    "--endpoint", help="another host for the matching venue (testnet, proxy, emulator)")]


def requests_from(venues: list[str], symbols: list[str], streams: list[str] | None,
                  endpoints: list[str] | None) -> list[FeedRequest]:
    """Positional grouping of the repeated options (see the module docstring).

    Venues and streams are checked here, before ccxt (seconds to import) is loaded: a
    typo is answered at once.
    """
    from heron.data.feeds.adapter import adapter_for

    if len(symbols) != len(venues):
        raise InputError(f"{len(venues)} --venue but {len(symbols)} --symbol: give each "
                         "--venue its own --symbol (comma-separate several symbols)")
    for option, given, hint in (
            ("--streams", streams, "; comma-separate several streams: --streams trades,book"),
            ("--endpoint", endpoints, "")):
        if given and len(given) > len(venues):  # the extra ones would pair with no venue
            raise InputError(f"{len(given)} {option} but {len(venues)} --venue: give each "
                             f"--venue at most one {option}{hint}")
    stream_texts = streams or ["trades"]
    groups = []
    for i, (venue, symbol_text) in enumerate(zip(venues, symbols, strict=True)):
        names = tuple(s.strip() for s in symbol_text.split(",") if s.strip())
        if not names:
            raise InputError(f"--symbol for {venue} is empty")
        chosen = tuple(parse_streams(stream_texts[min(i, len(stream_texts) - 1)]))
        adapter = adapter_for(venue)
        for stream in chosen:
            adapter.check_stream(stream)
        endpoint = endpoints[min(i, len(endpoints) - 1)] if endpoints else None
        groups.append((venue, names, chosen, endpoint))
    from heron.data.feeds.live import FeedRequest  # loads ccxt

    return [FeedRequest(*group) for group in groups]


def feed_command(
    venue: VenueOpt,
    symbol: SymbolOpt,
    streams: StreamsOpt = None,
    endpoint: EndpointOpt = None,
    count: Annotated[int | None, typer.Option(min=0, help="stop after N market events")] = None,
    duration: Annotated[float | None, typer.Option(min=0, help="stop after S seconds")] = None,
    stale: Annotated[float, typer.Option(help="seconds without data before a stream is "
                                         "reconnected")] = 30.0,
    health: Annotated[bool, typer.Option(help="write feed health lines too")] = True,
) -> None:
    """Stream live trades, books, quotes, funding, marks and liquidations as JSON Lines."""
    requests = requests_from(venue, symbol, streams, endpoint)  # bad input fails first

    from heron.data.feeds.envelope import EnvelopeWriter
    from heron.data.feeds.live import run_feeds
    from heron.data.feeds.session import FeedOptions
    from heron.model.feed import FeedHealth

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    writer = EnvelopeWriter()
    out = sys.stdout.buffer

    def emit(event: object) -> None:
        if not health and isinstance(event, FeedHealth):
            return
        out.write(writer.encode(event))

    async def main() -> None:
        flusher = asyncio.create_task(_flush_every(out, 0.2))
        try:
            await run_feeds(requests, emit, options=FeedOptions(stale_after_s=stale),
                            count=count, duration_s=duration)
        finally:
            flusher.cancel()
            out.flush()

    try:
        asyncio.run(main())
    except BrokenPipeError:  # `heron feed ... | head`: the reader left, which is fine
        sys.stderr.close()


async def _flush_every(out: BinaryIO, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        out.flush()
