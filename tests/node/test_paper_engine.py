"""The paper engine: the backtest's fills from live trades, book fills, dedupe, funding.

Parity is the point of paper trading: the same strategy on the same trades must trade
as the bar backtest over bars built from those trades. Here the bundled 2,001 real
Binance BTCUSDT trades go through :class:`PaperEngine` one by one (as a feed delivers
them) and, as 1-second bars built by :func:`heron.analytics.bar_builders.time_bars`,
through :class:`BacktestEngine`; the fills must match order for order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from conftest import BTC_GRID
from heron.analytics.bar_builders import time_bars
from heron.model.book import LinkedSequence
from heron.model.data import BookDelta, BookSide, BookSnapshot, FundingRate, Quote, Trade
from heron.model.events import FundingApplied, OrderFilled
from heron.model.instrument import Instrument, InstrumentKind
from heron.node.backtest import BacktestEngine
from heron.node.bar_series import bar_series
from heron.node.paper import PaperEngine
from heron.strategy.base import Strategy
from heron.strategy.library.sma_cross import SmaCross
from heron.venues.sim.config import SimVenueConfig

SECOND = 1_000_000_000
FEE = SimVenueConfig(fee_rate=Decimal("0.001"))
AGGRESSOR = {1: "buy", -1: "sell", 0: ""}


def _paper(inst: Instrument, strategy: Strategy, *, book: bool = False,
           bar_ns: int = SECOND) -> PaperEngine:
    engine = PaperEngine(
        instruments=[inst], strategies=[strategy], cash=Decimal(100_000), venue=FEE,
        journal_path=None, bar_ns=bar_ns, book_streams={inst.id} if book else set(),
        quote_streams=set(), book_rules={inst.id: LinkedSequence()}, header={})
    engine.start()
    return engine


def _trades(frame: pl.DataFrame, inst: Instrument) -> list[Trade]:
    return [Trade(inst, r["ts_event"], r["ts_recv"], r["price"], r["size"],
                  AGGRESSOR[r["aggressor"]], r["trade_id"]) for r in frame.iter_rows(named=True)]


def _fills(records: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.client_order_id, r.side, r.last_qty, r.last_px, r.fee, r.liquidity)
            for r in records if isinstance(r, OrderFilled)]


def test_paper_on_trades_fills_as_the_bar_backtest_on_their_bars(
        btc_trades: pl.DataFrame) -> None:
    inst = BTC_GRID
    paper = _paper(inst, SmaCross(fast=2, slow=4, mode="long-short"))
    for trade in _trades(btc_trades, inst):
        assert paper.is_new(trade)
        paper.consume(trade)
    bars = time_bars(btc_trades.rename({"ts_event": "ts"}), SECOND)
    closed = bars.head(paper.bars.count[0])  # the last bar never closed in paper
    assert closed.height >= 40
    tick, lot = float(inst.price_increment), float(inst.size_increment)
    frame = closed.select(
        "ts", *(pl.col(c) * tick for c in ("open", "high", "low", "close")),
        (pl.col("volume") * lot).alias("volume"))
    backtest = BacktestEngine(series=[bar_series(frame, inst, "trades")],
                              strategies=[SmaCross(fast=2, slow=4, mode="long-short")],
                              cash=Decimal(100_000), venue=FEE)
    backtest.run()
    paper_fills, backtest_fills = _fills(paper.journal.records), _fills(backtest.journal.records)
    assert len(backtest_fills) >= 4
    # the order decided on the last closed bar fills only in the backtest (next open)
    assert paper_fills == backtest_fills[:len(paper_fills)]
    assert len(backtest_fills) - len(paper_fills) <= 1


def test_replayed_and_repeated_events_are_not_new(btc_trades: pl.DataFrame) -> None:
    inst = BTC_GRID
    paper = _paper(inst, SmaCross(fast=2, slow=4))
    trades = _trades(btc_trades, inst)
    for trade in trades[:100]:
        assert paper.is_new(trade)
    assert not any(paper.is_new(t) for t in trades[:100])  # a venue resending
    assert all(paper.is_new(t) for t in trades[100:200])
    quote = Quote(inst, 5, 5, 100, 101, 1, 1, 7)
    assert paper.is_new(quote) and not paper.is_new(quote)
    assert paper.is_new(Quote(inst, 5, 5, 100, 101, 1, 1, 8))


def test_book_messages_are_new_once_per_sequence() -> None:
    inst = BTC_GRID
    paper = _paper(inst, SmaCross(fast=2, slow=4), book=True)
    snap = BookSnapshot(inst, 1, 1, ((100, 5),), ((101, 5),), 10)
    first = BookDelta(inst, 2, 2, BookSide.BID, 99, 1, 11, False)
    last = BookDelta(inst, 2, 2, BookSide.ASK, 102, 1, 11, True)
    assert paper.is_new(snap) and paper.is_new(first) and paper.is_new(last)
    assert not paper.is_new(snap)                         # the same snapshot again
    assert not paper.is_new(first) and not paper.is_new(last)  # the message again
    assert paper.is_new(BookSnapshot(inst, 3, 3, ((100, 5),), ((101, 5),), 12))


class _BuyOnFirstQuote(Strategy):
    name = "buy_once"

    def on_start(self) -> None:
        self.done = False

    def on_quote(self, quote: Quote) -> None:
        if not self.done:
            self.done = True
            self.buy(size=Decimal("0.003"))


def test_with_the_book_stream_market_orders_walk_the_book() -> None:
    inst = BTC_GRID
    paper = _paper(inst, _BuyOnFirstQuote(), book=True)
    asks = ((inst.ticks(Decimal("100.00")), inst.lots(Decimal("0.001"))),
            (inst.ticks(Decimal("100.50")), inst.lots(Decimal("0.005"))))
    paper.consume(BookSnapshot(inst, SECOND, SECOND, ((inst.ticks(Decimal("99.00")), 10),),
                               asks, 1))
    fills = [(inst.price(r.last_px), inst.quantity(r.last_qty), r.liquidity)
             for r in paper.journal.records if isinstance(r, OrderFilled)]
    assert fills == [(Decimal("100.00"), Decimal("0.001"), "taker"),
                     (Decimal("100.50"), Decimal("0.002"), "taker")]


def test_a_book_message_that_moves_the_top_before_its_last_delta_is_quoted() -> None:
    inst = BTC_GRID
    quotes: list[tuple[int, int, int, int]] = []

    class Tops(Strategy):
        name = "tops"

        def on_quote(self, quote: Quote) -> None:
            quotes.append((quote.bid, quote.bid_size, quote.ask, quote.ask_size))

    paper = _paper(inst, Tops(), book=True)
    paper.consume(BookSnapshot(inst, 1, 1, ((100, 5),), ((105, 5),), 10))
    # the first delta raises the best bid; the last one changes a deeper ask only
    paper.consume(BookDelta(inst, 2, 2, BookSide.BID, 101, 3, 11, False))
    paper.consume(BookDelta(inst, 2, 2, BookSide.ASK, 107, 1, 11, True))
    # a message that leaves the top alone is not quoted
    paper.consume(BookDelta(inst, 3, 3, BookSide.ASK, 108, 1, 12, True))
    assert quotes == [(100, 5, 105, 5), (101, 3, 105, 5)]


def test_predicted_funding_applies_at_its_time_with_the_last_rate() -> None:
    inst = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM", kind=InstrumentKind.
                      LINEAR_PERPETUAL, price_increment=Decimal("0.1"),
                      size_increment=Decimal("0.001"))
    paper = _paper(inst, _BuyOnFirstQuote(), book=True)
    paper.consume(BookSnapshot(inst, SECOND, SECOND, ((1000, 5),), ((1001, 5),), 1))
    when = 10 * SECOND
    paper.consume(FundingRate(inst, when, 2 * SECOND, "0.0001"))
    paper.consume(FundingRate(inst, when, 3 * SECOND, "0.0003"))  # the prediction moved
    paper.consume(Trade(inst, 11 * SECOND, 11 * SECOND, 1001, 1, "buy", "t1"))
    applied = [r for r in paper.journal.records if isinstance(r, FundingApplied)]
    assert len(applied) == 1
    assert (applied[0].ts_event, applied[0].rate) == (when, "0.0003")


@pytest.mark.parametrize("bar_ns", [SECOND, 5 * SECOND])
def test_bars_close_on_the_first_trade_of_a_later_interval(btc_trades: pl.DataFrame,
                                                           bar_ns: int) -> None:
    inst = BTC_GRID
    seen: list[Any] = []

    class Recorder(Strategy):
        name = "recorder"

        def on_bar(self, bar: Any) -> None:
            seen.append((bar.ts, bar.open, bar.high, bar.low, bar.close))

    paper = _paper(inst, Recorder(), bar_ns=bar_ns)
    for trade in _trades(btc_trades, inst):
        paper.consume(trade)
    bars = time_bars(btc_trades.rename({"ts_event": "ts"}), bar_ns)
    expected = list(bars.select("ts", "open", "high", "low", "close").iter_rows())
    assert seen == expected[:-1]
