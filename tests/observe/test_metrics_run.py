"""``/metrics`` of real runs, scraped over HTTP on 127.0.0.1 while they trade.

A paper run on the loopback Binance USD-M venue (recorded trades and book) and a live
run on the loopback exchange (its account, its user stream) each serve their metrics on
a free port; the scrape is parsed with prometheus_client's own parser and compared
with the run's journal. The Grafana dashboard's every expression must name metrics the
paper run actually served.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import SHARED_VENUES, closed_port, loopback_exchange, need
from heron.data.feeds.session import FeedOptions
from heron.errors import InputError
from heron.model.data import Trade
from heron.model.events import OrderFilled, OrderSubmitted, SubmitOrder
from heron.node.live_run import LiveConfig, LiveState, run_live
from heron.node.paper_run import run_paper
from heron.node.paper_state import PaperConfig, PaperState
from heron.observe.metrics_server import MetricsEndpoint
from heron.strategy.base import Strategy
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import Credentials

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "heron.json"
KEY, SECRET = "metrics-key", "metrics-secret"


class TradeEarly(Strategy):
    """Buys 0.002 at the 50th trade and sells it at the 150th; then only watches."""

    name = "trade_early"

    def on_start(self) -> None:
        self.seen = 0

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == 50:
            self.buy(size=Decimal("0.002"))
        elif self.seen == 150:
            self.close_position()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(body: str) -> tuple[Samples, set[str]]:
    """``(sample name, labels) -> value``, and every name the body defines (a labelled
    family with no sample yet still defines its names)."""
    samples: Samples = {}
    names: set[str] = set()
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count", "_created")}
    for family in text_string_to_metric_families(body):
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples, names


def total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def scrape(port: int) -> str:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}/metrics") as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain")
        return await reply.text()


async def scrape_when(run: asyncio.Task[Any], ready: Callable[[], bool], port: int) -> str:
    """Scrape once ``ready()`` holds, while ``run`` is still running."""
    while not ready():
        assert not run.done(), "the run ended before it was ready to be scraped"
        await asyncio.sleep(0.05)
    return await scrape(port)


async def stop(run: asyncio.Task[Any]) -> None:
    """Stop a run as Ctrl-C does (its own stop path: journal sealed, server closed)."""
    os.kill(os.getpid(), signal.SIGINT)
    await run


@pytest.fixture(scope="module")
def paper_scrape(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A paper run scraped after its two orders, then stopped; what was seen."""
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile

    venue = need(SHARED_VENUES / "binance_usdm")
    cfg = PaperConfig(strategy=f"{__name__}:TradeEarly", venue="binanceusdm",
                      symbols=["BTC/USDT:USDT"], streams=["trades", "book"])
    state = PaperState(tmp_path_factory.mktemp("paper") / "paper-run")
    port = closed_port()
    seen: dict[str, Any] = {}

    def traded() -> bool:
        status = seen.get("status")
        return status is not None and status.engine.strategies[0].seen >= 200

    async def main() -> None:
        run = asyncio.create_task(run_paper(
            cfg, state, endpoint=server.url, duration_s=60, on_status=_StatusSink(seen),
            options=FeedOptions(stale_after_s=10), metrics_at=MetricsEndpoint(port)))
        seen["body"] = await scrape_when(run, traded, port)
        seen["records"] = list(seen["status"].engine.journal.records)
        seen["live"] = seen["status"].live
        await stop(run)
        with pytest.raises(aiohttp.ClientConnectionError):
            await scrape(port)  # the server stopped with the run

    with VenueServer(BinanceUsdmProfile.recorded(venue), speed=20) as server:
        asyncio.run(main())
    state.close()
    return seen


class _StatusSink(dict):  # type: ignore[type-arg]
    """``on_status`` callback: keeps the last status under ``"status"``."""

    def __init__(self, into: dict[str, Any]) -> None:
        super().__init__()
        self.into = into

    def __call__(self, status: Any) -> None:
        self.into["status"] = status


def test_paper_metrics_count_what_the_journal_holds(paper_scrape: dict[str, Any]) -> None:
    samples, _ = parse(paper_scrape["body"])
    records = paper_scrape["records"]
    fills = [r for r in records if isinstance(r, OrderFilled)]
    submitted = [r for r in records if isinstance(r, OrderSubmitted)]
    assert len(submitted) == 2 and len(fills) >= 2
    run = {"run": "paper-run"}
    assert total(samples, "heron_orders_total", status="submitted", **run) == len(submitted)
    assert total(samples, "heron_orders_total", status="filled", **run) == 2
    assert total(samples, "heron_fills_total", **run) == len(fills)
    assert total(samples, "heron_fills_total", side="buy", liquidity="taker") == \
        sum(1 for f in fills if f.side.value == "buy")
    inst = paper_scrape["status"].engine.instruments[0]
    notional = sum(inst.price(f.last_px) * inst.quantity(f.last_qty) for f in fills)
    assert total(samples, "heron_filled_notional_total") == pytest.approx(float(notional))
    # every fill has its order's decision price: one slippage observation each
    assert all(r.decision_price for r in records if isinstance(r, SubmitOrder))
    assert total(samples, "heron_slippage_bps_count") == len(fills)
    # one latency observation per live market event handed to the strategy
    assert 400 <= total(samples, "heron_feed_to_strategy_seconds_count") <= paper_scrape["live"]
    assert total(samples, "heron_trading_state", state="READY") == 1
    assert total(samples, "heron_trading_state", state="HALTED") == 0
    assert total(samples, "heron_trading_mode", mode="normal") == 1
    assert total(samples, "heron_feed_state", state="live", stream="trades") == 1
    assert total(samples, "heron_equity") > 0
    assert 0 <= total(samples, "heron_drawdown_ratio") < 0.01
    assert total(samples, "heron_exposure_gross") == 0  # flat after the round trip
    assert total(samples, "heron_observe_errors_total") == 0


def test_every_dashboard_expression_reads_served_metrics(paper_scrape: dict[str, Any]
                                                         ) -> None:
    _, served = parse(paper_scrape["body"])
    board = json.loads(DASHBOARD.read_text())
    assert 38 <= board["schemaVersion"] <= 41
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus" and "run" in variables
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    used = {name for e in exprs for name in re.findall(r"\bheron_[a-z_]+", e)}
    assert used, "the dashboard has no heron queries"
    assert used <= served, f"not served: {sorted(used - served)}"
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in served}
    shown = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in used}
    assert families <= shown, f"metrics without a panel: {sorted(families - shown)}"
    assert all('run=~"$run"' in e for e in exprs)


def test_a_metrics_port_in_use_refuses_the_run_naming_it(tmp_path: Path) -> None:
    cfg = PaperConfig(strategy=f"{__name__}:TradeEarly", venue="binanceusdm",
                      symbols=["BTC/USDT:USDT"])
    state = PaperState(tmp_path / "state")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=f"--metrics-port {port}: 127.0.0.1:{port} is "
                                             "already in use"):
            asyncio.run(run_paper(cfg, state, endpoint="http://127.0.0.1:9",
                                  metrics_at=MetricsEndpoint(port)))
    state.close()


class BuyThenSell(Strategy):
    """Two market orders on the venue account: at the 100th and the 300th trade."""

    name = "buy_then_sell_metrics"

    def on_start(self) -> None:
        self.seen = 0

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == 100:
            self.buy(size=Decimal("0.002"))
        elif self.seen == 300:
            self.close_position()


@pytest.mark.slow
def test_a_live_run_times_each_decision_to_the_venue(tmp_path: Path) -> None:
    cfg = LiveConfig(strategy=f"{__name__}:BuyThenSell", venue="binanceusdm",
                     symbols=["BTC/USDT:USDT"], streams=["trades"])
    port = closed_port()
    seen: dict[str, Any] = {}
    sink = _StatusSink(seen)

    def traded() -> bool:
        status = seen.get("status")
        return status is not None and status.live >= 400 and sum(
            isinstance(r, OrderFilled) for r in status.engine.journal.records) == 2

    with loopback_exchange(KEY, SECRET, speed=20, lines=None) as server:
        client = CcxtClient(BinanceUsdmDialect(),
                            Credentials("binanceusdm", "test", api_key=KEY, api_secret=SECRET),
                            ["BTC/USDT:USDT"], endpoint=server.url)
        state = LiveState(tmp_path / "live-run")

        async def main() -> str:
            run = asyncio.create_task(run_live(
                cfg, state, client, endpoint=server.url, duration_s=30, on_status=sink,
                options=FeedOptions(stale_after_s=10), metrics_at=MetricsEndpoint(port)))
            body = await scrape_when(run, traded, port)
            await stop(run)
            return body

        body = asyncio.run(main())
        state.close()
        posts = sum(1 for m, p, _ in server.requests if (m, p) == ("POST", "/fapi/v1/order"))
    samples, _ = parse(body)
    assert posts == 2
    assert total(samples, "heron_decision_to_venue_seconds_count", action="submit",
                 run="live-run", venue="BINANCE_USDM") == posts
    assert total(samples, "heron_decision_to_venue_seconds_sum", action="submit") > 0
    assert total(samples, "heron_fills_total", run="live-run") == 2
    assert total(samples, "heron_orders_total", status="accepted") == 2
