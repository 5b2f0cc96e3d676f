"""Paper runs can start warm: closed bars from the venue's history feed the indicators
(never a strategy's ``on_bar``), so the first live bar sees the same values a backtest
over history and live bars together would."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import BTC_GRID, SHARED_VENUES, need
from heron.analytics.bar_builders import time_bars
from heron.analytics.indicators import sma
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.session import FeedOptions, VenueSession
from heron.data.feeds.streams import Stream
from heron.errors import InputError
from heron.model.book import LinkedSequence
from heron.model.data import Bar, Trade
from heron.node.input_log import InputLog
from heron.node.paper import PaperEngine
from heron.node.paper_run import fetch_warmup
from heron.node.paper_state import PaperConfig
from heron.strategy.base import Strategy
from heron.testing.rest_server import RestServer
from heron.testing.venues.binance import recorded_exchange_info
from heron.venues.sim.config import SimVenueConfig

SECOND = 1_000_000_000
WARM = 20  # bars of history


class Watcher(Strategy):
    name = "watcher"

    def on_start(self) -> None:
        self.ma = self.indicator(sma, 5)
        self.seen: list[tuple[int, float]] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append((bar.ts, self.ma[-1]))


def _engine(strategy: Strategy) -> PaperEngine:
    engine = PaperEngine(
        instruments=[BTC_GRID], strategies=[strategy], cash=Decimal(10_000),
        venue=SimVenueConfig(), journal_path=None, bar_ns=SECOND, book_streams=set(),
        quote_streams=set(), book_rules={BTC_GRID.id: LinkedSequence()}, header={})
    engine.start()
    return engine


def _history(btc_trades: pl.DataFrame) -> tuple[list[Bar], pl.DataFrame]:
    bars = time_bars(btc_trades.rename({"ts_event": "ts"}), SECOND)
    warm = [Bar(BTC_GRID, r["ts"], k, r["open"], r["high"], r["low"], r["close"],
                float(r["volume"])) for k, r in enumerate(bars.head(WARM).iter_rows(named=True))]
    return warm, bars


def test_warm_indicators_equal_a_backtest_over_history_and_live(
        btc_trades: pl.DataFrame) -> None:
    warm, bars = _history(btc_trades)
    watcher = Watcher()
    engine = _engine(watcher)
    for bar in warm:
        assert engine.is_new(bar)
        engine.consume(bar)
    assert watcher.seen == []  # history never reaches on_bar
    live_from = warm[-1].ts + SECOND
    for row in btc_trades.filter(pl.col("ts_event") >= live_from - SECOND // 2
                                 ).iter_rows(named=True):
        trade = Trade(BTC_GRID, row["ts_event"], row["ts_recv"], row["price"], row["size"],
                      "buy", row["trade_id"])
        if engine.is_new(trade):
            engine.consume(trade)
    closes = (bars["close"] * float(BTC_GRID.price_increment)).to_numpy()
    expected = sma(closes, 5)
    ts = bars["ts"].to_list()
    assert watcher.seen[0][0] == live_from  # the first live bar follows the history
    assert len(watcher.seen) == len(ts) - WARM - 1  # the last bar never closed
    for bar_ts, value in watcher.seen:
        assert value == pytest.approx(expected[ts.index(bar_ts)], rel=1e-12)


def test_history_is_refused_once_live_trades_began(btc_trades: pl.DataFrame) -> None:
    warm, _ = _history(btc_trades)
    engine = _engine(Watcher())
    first = next(btc_trades.iter_rows(named=True))
    trade = Trade(BTC_GRID, first["ts_event"], first["ts_recv"], first["price"], first["size"],
                  "buy", first["trade_id"])
    engine.consume(trade)
    assert not engine.is_new(warm[-1])


def test_history_bars_go_through_the_input_log(btc_trades: pl.DataFrame,
                                               tmp_path: Path) -> None:
    warm, _ = _history(btc_trades)
    log = InputLog(tmp_path / "inputs.bin", [BTC_GRID])
    for bar in warm:
        log.append(bar)
    log.close()
    again = InputLog(tmp_path / "inputs.bin", [BTC_GRID])
    assert list(again.replay()) == warm
    again.close()


def _klines() -> list[list[Any]]:
    """1m klines in GET /fapi/v1/klines' shape from the real 2024-08-08 BTCUSDT trades of
    the shared capture (no klines body was recorded: these are the bars those prints make)."""
    import gzip

    bars: dict[int, list[Any]] = {}
    path = need(SHARED_VENUES / "binance_usdm" / "ws_capture_BTCUSDT_2024-08-08.txt.gz")
    with gzip.open(path, "rt") as lines:
        for line in lines:
            data = json.loads(line.split(" ", 1)[1]).get("data", {})
            if data.get("e") != "trade":
                continue
            minute, price = data["T"] // 60_000 * 60_000, Decimal(data["p"])
            bar = bars.setdefault(minute, [minute, price, price, price, price, Decimal(0)])
            bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
            bar[5] += Decimal(data["q"])
    return [[m, str(o), str(h), str(lo), str(c), str(v), m + 59_999, "0", 0, "0", "0", "0"]
            for m, o, h, lo, c, v in bars.values()]


def test_fetch_warmup_takes_the_last_closed_bars_exactly() -> None:
    klines = _klines()
    server = RestServer()
    server.route("GET", "/fapi/v1/exchangeInfo",
                 recorded_exchange_info(SHARED_VENUES / "binance_usdm"))
    server.route("GET", "/fapi/v1/klines", lambda r: json.dumps(klines).encode())
    cfg = PaperConfig(strategy="sma_cross", venue="binanceusdm", symbols=["BTC/USDT:USDT"],
                      warmup=3)
    now = klines[-1][0] * 1_000_000 + 30 * SECOND  # the last minute is still open

    async def main(url: str) -> list[Bar]:
        session = VenueSession(adapter_for("binanceusdm"), cfg.symbols, [Stream.TRADES],
                               lambda e: None, FeedOptions(endpoint=url))
        await session.open()
        try:
            return await fetch_warmup(session, cfg, session.instruments, now)
        finally:
            await session.stop()

    with server:
        bars = asyncio.run(main(server.url))
    inst = bars[0].instrument
    assert [b.ts for b in bars] == [k[0] * 1_000_000 for k in klines[-4:-1]]
    for bar, row in zip(bars, klines[-4:-1], strict=True):
        assert [inst.price(p) for p in (bar.open, bar.high, bar.low, bar.close)] == \
            [Decimal(x) for x in row[1:5]]


def test_a_bar_length_the_venue_lacks_is_an_input_error() -> None:
    server = RestServer()
    server.route("GET", "/fapi/v1/exchangeInfo",
                 recorded_exchange_info(SHARED_VENUES / "binance_usdm"))
    cfg = PaperConfig(strategy="sma_cross", venue="binanceusdm", symbols=["BTC/USDT:USDT"],
                      warmup=3, bar="7s")

    async def main(url: str) -> None:
        session = VenueSession(adapter_for("binanceusdm"), cfg.symbols, [Stream.TRADES],
                               lambda e: None, FeedOptions(endpoint=url))
        await session.open()
        try:
            with pytest.raises(InputError, match="has no 7s bars"):
                await fetch_warmup(session, cfg, session.instruments, 0)
        finally:
            await session.stop()

    with server:
        asyncio.run(main(server.url))
