"""Structured logs: JSON lines with the run, strategy, instrument and order they are about.

In process, a paper engine trades the bundled BTCUSDT trades with the JSON renderer on a
string stream; then the real ``heron paper --log-json --metrics-port`` runs in a
subprocess against the loopback venue and is scraped from this process over HTTP.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.contextvars import clear_contextvars

from conftest import BTC_GRID, SHARED_VENUES, closed_port, loopback_exchange, need
from heron.data.feeds.session import FeedOptions
from heron.model.book import LinkedSequence
from heron.model.data import Trade
from heron.model.events import OrderFilled, SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.live_run import LiveConfig, LiveState, run_live
from heron.node.paper import PaperEngine
from heron.observe.logs import (
    SINK_ERRORS,
    OrderLog,
    bind_run,
    configure_logging,
    end_order_context,
    watch_orders,
)
from heron.observe.metrics import NodeMetrics
from heron.strategy.base import Strategy
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import SECRETS, Credentials
from heron.venues.sim.config import SimVenueConfig

SECRET = "observe-secret-0123456789"


class BuyAndTell(Strategy):
    """Buys on the 10th trade, says so in the log; sells on the 20th."""

    name = "buy_and_tell"

    def on_start(self) -> None:
        self.seen = 0

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == 10:
            self.buy(size=Decimal("0.01"))
            logging.getLogger("heron.test.strategy").warning("bought with key %s", SECRET)
        elif self.seen == 20:
            self.close_position()
        elif self.seen == 30:
            logging.getLogger("heron.test.strategy").warning("nothing to do")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.get_name() == "heron"]:
        root.removeHandler(handler)
    root.setLevel(level)
    clear_contextvars()


def _engine(strategy: Strategy) -> PaperEngine:
    engine = PaperEngine(
        instruments=[BTC_GRID], strategies=[strategy], cash=Decimal(100_000),
        venue=SimVenueConfig(), journal_path=None, bar_ns=1_000_000_000, book_streams=set(),
        quote_streams={BTC_GRID.id}, book_rules={BTC_GRID.id: LinkedSequence()}, header={})
    watch_orders(engine)  # as a run does: before the strategies start
    engine.start()
    return engine


def _feed(engine: PaperEngine, trades: pl.DataFrame, n: int = 40) -> None:
    """What the run's feed callback does with each new event (``_live.on_event``)."""
    from heron.model.data import Quote

    for k, r in enumerate(trades.head(n).iter_rows(named=True)):
        end_order_context()
        engine.consume(Quote(BTC_GRID, r["ts_event"], r["ts_recv"], r["price"] - 1,
                             r["price"] + 1, 10**6, 10**6, k))
        engine.consume(Trade(BTC_GRID, r["ts_event"], r["ts_recv"], r["price"], r["size"],
                             "buy", r["trade_id"]))


def test_json_lines_carry_run_strategy_instrument_and_order(
        btc_trades: pl.DataFrame, restore_logging: None) -> None:
    SECRETS.add(SECRET)
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    bind_run(run="run-7", strategy="buy_and_tell", venue="SIM")
    engine = _engine(BuyAndTell())
    _feed(engine, btc_trades)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    fills = [r for r in engine.journal.records if isinstance(r, OrderFilled)]
    assert len(fills) == 2
    assert all(line["run"] == "run-7" and line["strategy"] == "buy_and_tell"
               and line["venue"] == "SIM" and line["instrument"] == BTC_GRID.id
               and line["timestamp"].endswith("Z") for line in lines)
    said = [line for line in lines if line["logger"] == "heron.test.strategy"]
    assert said[0]["event"] == "bought with key ***"            # redacted, with its order
    assert said[0]["client_order_id"] == fills[0].client_order_id
    assert said[1]["event"] == "nothing to do" and "client_order_id" not in said[1]
    order_lines = [line for line in lines if line["logger"] == "heron.orders"]
    assert [line["event"] for line in order_lines] == [
        "SubmitOrder", "OrderSubmitted", "OrderAccepted", "OrderFilled"] * 2
    assert {line["client_order_id"] for line in order_lines} == \
        {f.client_order_id for f in fills}
    assert SECRET not in out.getvalue()


def test_inside_a_running_loop_order_lines_wait_for_the_call_and_keep_its_order(
        restore_logging: None) -> None:
    """A paper or live run: lines are rendered once the loop gets back control (after the
    order's request is out), in record order, each naming its order even after the next
    market event cleared the binding."""
    from heron.model.events import OrderSubmitted, SubmitOrder
    from heron.model.orders import OrderSide, OrderType

    out = io.StringIO()
    configure_logging(json=True, stream=out)
    order_log = OrderLog()
    first = SubmitOrder(1, 1, "O-1", "s", BTC_GRID.id, OrderSide.BUY, OrderType.MARKET, 5)
    second = SubmitOrder(2, 2, "O-2", "s", BTC_GRID.id, OrderSide.SELL, OrderType.MARKET, 5)

    async def call() -> str:
        order_log.observe(first)
        order_log.observe(OrderSubmitted(1, 1, "O-1", BTC_GRID.id))
        order_log.observe(second)
        end_order_context()  # the next market event
        during = out.getvalue()
        await asyncio.sleep(0)
        return during

    assert asyncio.run(call()) == ""
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["event"], line["client_order_id"]) for line in lines] == [
        ("SubmitOrder", "O-1"), ("OrderSubmitted", "O-1"), ("SubmitOrder", "O-2")]
    assert lines[2]["side"] == "sell" and lines[2]["quantity"] == 5


def test_each_context_ends_the_order_it_bound_whatever_another_context_did(
        restore_logging: None) -> None:
    """A task binds its order, the main path binds and ends another: the task's own end
    still ends its binding (one flag for the whole process would say nothing is bound)."""
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    order_log = OrderLog()
    say = logging.getLogger("heron.test.strategy").warning
    task = contextvars.copy_context()
    task.run(order_log.observe, SubmitOrder(1, 1, "O-task", "s", BTC_GRID.id, OrderSide.BUY,
                                            OrderType.MARKET, 5))
    order_log.observe(SubmitOrder(2, 2, "O-main", "s", BTC_GRID.id, OrderSide.BUY,
                                  OrderType.MARKET, 5))
    say("main, during")
    end_order_context()       # the main path's next market event
    task.run(say, "task, during")
    task.run(end_order_context)
    task.run(say, "task, after")
    say("main, after")
    lines = {line["event"]: line.get("client_order_id") for line in
             map(json.loads, out.getvalue().splitlines()) if line["logger"] != "heron.orders"}
    assert lines == {"main, during": "O-main", "task, during": "O-task",
                     "task, after": None, "main, after": None}


class Quiet(Strategy):
    """Rests one buy far below the market from the start (a binding made before the
    run's tasks exist), then sends nothing; says so every 50 trades (a line in the
    feed's context)."""

    name = "quiet"

    def on_start(self) -> None:
        self.seen = 0
        self.buy(size=Decimal("0.001"), price=Decimal("30000"), post_only=True)

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen % 50 == 0:
            logging.getLogger("heron.test.strategy").warning("still quiet")


def _by_hand(server: Any) -> None:
    """An order resting and a position, both made on the account before the run."""
    server.call(lambda: server.account.place({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
        "price": "30000", "timeInForce": "GTC", "newClientOrderId": "by-hand-resting"}))
    server.call(lambda: server.account.place({
        "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002",
        "newClientOrderId": "by-hand-position"}))


def test_orders_sent_before_the_run_listens_name_only_their_own_lines(
        tmp_path: Path, restore_logging: None) -> None:
    """The strategy's ``on_start`` rests an order, and the start-up reconciliation adopts
    one resting at the venue (and finds a position made by hand: reduce-only, which
    cancels both buys). Each order's lines name it; the reconciliation's lines (at start
    and every second after, from the run's own task), the trading state and the
    strategy's lines do not. They used to: the adoption's binding reached the pass's
    summary, and every task the run started afterwards inherited the last binding."""
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    cfg = LiveConfig(strategy=f"{__name__}:Quiet", venue="binanceusdm",
                     symbols=["BTC/USDT:USDT"], streams=["trades"])
    with loopback_exchange("log-key", "log-secret", speed=20, lines=400) as server:
        _by_hand(server)
        client = CcxtClient(BinanceUsdmDialect(), Credentials(
            "binanceusdm", "test", api_key="log-key", api_secret="log-secret"),
            ["BTC/USDT:USDT"], endpoint=server.url)
        state = LiveState(tmp_path / "state")
        status = asyncio.run(run_live(cfg, state, client, endpoint=server.url,
                                      duration_s=2.5, reconcile_s=1.0,
                                      options=FeedOptions(stale_after_s=10)))
        state.close()
    orders = {r.client_order_id for r in status.engine.journal.records
              if isinstance(r, SubmitOrder)}
    assert "by-hand-resting" in orders and len(orders) == 2   # adopted + the strategy's
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    for cid in orders:   # its own story: placed (or adopted), then canceled reduce-only
        own = [line for line in lines if line.get("client_order_id") == cid]
        assert [line["event"] for line in own][:2] == ["SubmitOrder", "OrderSubmitted"]
        assert own[-1]["event"] == "OrderCanceled"
        assert all(line["logger"] == "heron.orders" for line in own)
    loggers = [line["logger"] for line in lines]
    assert loggers.count("heron.execution.reconcile_run") >= 4   # start + periodic passes
    assert "heron.risk.state" in loggers and "heron.test.strategy" in loggers


class Requoter(Strategy):
    """On every trade: cancels its resting buy and rests a new one (every trade binds an
    order in the feed's callback)."""

    name = "requoter"

    def on_start(self) -> None:
        self.resting: str | None = None

    def on_trade(self, trade: Trade) -> None:
        if self.resting is not None:
            self.cancel(self.resting)
        self.resting = self.buy(size=Decimal("0.001"), price=Decimal("30000"), post_only=True)


@pytest.mark.slow
def test_a_feed_going_stale_after_an_order_does_not_name_that_order(
        tmp_path: Path, restore_logging: None) -> None:
    """The capture ends, so the last trade's order is the last thing the feed's callback
    bound; a second later the feed is stale and the run DEGRADED, in that same callback.
    The lines about it (the trading state) name no order."""
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    cfg = LiveConfig(strategy=f"{__name__}:Requoter", venue="binanceusdm",
                     symbols=["BTC/USDT:USDT"], streams=["trades"])
    with loopback_exchange("log-key", "log-secret", speed=20, lines=150) as server:
        client = CcxtClient(BinanceUsdmDialect(), Credentials(
            "binanceusdm", "test", api_key="log-key", api_secret="log-secret"),
            ["BTC/USDT:USDT"], endpoint=server.url)
        state = LiveState(tmp_path / "state")
        asyncio.run(run_live(cfg, state, client, endpoint=server.url, duration_s=4,
                             options=FeedOptions(stale_after_s=1)))
        state.close()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    placed = [line for line in lines if line["event"] == "SubmitOrder"]
    degraded = [line for line in lines
                if line["logger"] == "heron.risk.state" and "DEGRADED" in line["event"]]
    assert len(placed) > 5 and degraded, [line["event"] for line in lines][-20:]
    assert [line.get("client_order_id") for line in degraded] == [None] * len(degraded)


def test_a_closed_log_sink_is_counted_and_trading_goes_on(
        btc_trades: pl.DataFrame, restore_logging: None) -> None:
    dead = io.StringIO()
    dead.close()
    configure_logging(json=True, stream=dead)
    before = SINK_ERRORS["log_sink"]
    metrics = NodeMetrics("dead-sink")
    engine = _engine(BuyAndTell())
    metrics.attach(engine)
    _feed(engine, btc_trades)
    assert sum(isinstance(r, OrderFilled) for r in engine.journal.records) == 2
    assert SINK_ERRORS["log_sink"] - before >= 9   # 8 order lines and the strategy's 2
    metrics.refresh()
    assert metrics.registry.get_sample_value(
        "heron_observe_errors_total", {"run": "dead-sink", "where": "log_sink"}) == \
        SINK_ERRORS["log_sink"] - before


class _BrokenFills(NodeMetrics):
    """Metrics whose fill update raises (a bug in a metric must not stop trading)."""

    def _on_fill(self, fill: OrderFilled) -> None:
        raise RuntimeError("metric bug")


def test_a_metric_update_that_raises_does_not_stop_the_run(
        btc_trades: pl.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    healthy = _engine(BuyAndTell())
    _feed(healthy, btc_trades)
    engine = _engine(BuyAndTell())
    metrics = _BrokenFills("broken")
    metrics.attach(engine)
    with caplog.at_level(logging.ERROR, logger="heron.observe.metrics"):
        _feed(engine, btc_trades)
    assert [type(r) for r in engine.journal.records] == \
        [type(r) for r in healthy.journal.records]   # the same trading as without metrics
    assert metrics.registry.get_sample_value(
        "heron_observe_errors_total", {"run": "broken", "where": "records"}) == 2
    reported = [r for r in caplog.records if "updating records failed" in r.getMessage()]
    assert len(reported) == 1 and "metric bug" in reported[0].getMessage()  # once


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        body = reply.read().decode()
    return {f"{s.name}{sorted(s.labels.items())}": s.value
            for f in text_string_to_metric_families(body) for s in f.samples}


@pytest.mark.slow
def test_heron_paper_with_log_json_and_metrics_port(tmp_path: Path) -> None:
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile

    venue = need(SHARED_VENUES / "binance_usdm")
    port = closed_port()
    state = tmp_path / "cli-run"
    with VenueServer(BinanceUsdmProfile.recorded(venue), speed=20) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "heron", "paper", "--strategy", "sma_cross", "--param",
             "fast=2", "--param", "slow=3", "--venue", "binanceusdm", "--symbol",
             "BTC/USDT:USDT", "--bar", "1s", "--endpoint", server.url, "--state", str(state),
             "--duration", "8", "--log-json", "--metrics-port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        scraped: dict[str, Any] = {}
        while proc.poll() is None and not any("heron_fills_total" in k for k in scraped):
            time.sleep(0.2)
            try:
                scraped = _scrape(port)
            except OSError:
                continue  # not listening yet
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert any(k.startswith("heron_fills_total") for k in scraped), "no fill was scraped"
    lines = [json.loads(line) for line in err.splitlines()]   # JSON only: no status line
    assert all(line["run"] == "cli-run" and line["strategy"] == "sma_cross" for line in lines)
    assert any(line["event"] == f"metrics at http://127.0.0.1:{port}/metrics" for line in lines)
    fills = [line for line in lines if line["event"] == "OrderFilled"]
    assert fills and all(line["client_order_id"] and line["instrument"] ==
                         "BTCUSDT.BINANCE_USDM" for line in fills)
    assert lines[-1]["event"].startswith("stopped: equity ")


def test_heron_backtest_with_log_json_writes_json_lines_only() -> None:
    data = Path(__file__).resolve().parents[2] / "data" / "ADABTC-1m-2021-11-27.csv"
    proc = subprocess.run([sys.executable, "-m", "heron", "backtest", "--strategy",
                           "sma_cross", "--data", str(data), "--quiet", "--log-json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert lines and all(line["run"] == "backtest" and line["strategy"] == "sma_cross"
                         for line in lines)
