"""``run_paper`` in process against the Binance USD-M loopback venue: book-aware fills.

With the book stream on, a paper run fills market orders against the live L2 book (as
a tick replay does), not at the next bar's open: every fill here must be a taker fill at
a price level the venue's book actually held at that moment.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from heron.data.feeds.session import FeedOptions
from heron.model.data import Quote
from heron.model.events import OrderFilled
from heron.node.paper_run import run_paper
from heron.node.paper_state import PaperConfig, PaperState
from heron.strategy.base import Strategy
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile

VENUE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "venues" / "binance_usdm"
pytestmark = pytest.mark.skipif(not VENUE.exists(), reason="shared venue data not present")


class FlipOnQuotes(Strategy):
    """Buys, then sells, every 500 top-of-book changes: market orders into the book."""

    name = "flip_on_quotes"

    def on_start(self) -> None:
        self.folder = self.run_dir  # the run's own folder: the --state folder
        self.seen = 0
        self.last: Quote | None = None
        self.fills: list[tuple[OrderFilled, Quote]] = []

    def on_fill(self, order: object, fill: OrderFilled) -> None:
        assert self.last is not None
        self.fills.append((fill, self.last))  # the book's top when the order arrived

    def on_quote(self, quote: Quote) -> None:
        self.seen += 1
        self.last = quote
        if self.seen % 500 or self.has_open_orders():
            return
        if self.position.is_flat:
            self.buy(size=Decimal("0.010"))
        else:
            self.close_position()


def test_with_the_book_stream_market_orders_fill_at_the_live_book(tmp_path: Path) -> None:
    cfg = PaperConfig(strategy=f"{__name__}:FlipOnQuotes", venue="binanceusdm",
                      symbols=["BTC/USDT:USDT"], streams=["trades", "book"])
    state = PaperState(tmp_path / "state")
    with VenueServer(BinanceUsdmProfile.recorded(VENUE), speed=20) as server:
        status = asyncio.run(run_paper(cfg, state, endpoint=server.url, duration_s=8.0,
                                       options=FeedOptions(stale_after_s=5)))
    state.close()
    engine = status.engine
    fills = [r for r in engine.journal.records if isinstance(r, OrderFilled)]
    assert len(fills) >= 2, "expected a few round trips in 8 s of book data"
    strategy = engine.strategies[0]
    assert isinstance(strategy, FlipOnQuotes)
    assert strategy.folder == state.dir
    assert len(strategy.fills) == len(fills)
    for fill, top in strategy.fills:
        assert fill.liquidity == "taker"
        if fill.side.value == "buy":  # takes the asks: the best one first
            assert fill.last_px == top.ask or (fill.last_px > top.ask and top.ask_size < 10)
        else:
            assert fill.last_px == top.bid or (fill.last_px < top.bid and top.bid_size < 10)
    assert engine.consumed > 1000 and status.live == engine.consumed
