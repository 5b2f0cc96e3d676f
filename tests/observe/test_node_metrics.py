"""NodeMetrics on a real paper engine, in process: denials by rule, state transitions,
feed health, and registries that do not collide."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from conftest import BTC_GRID
from heron.model.book import LinkedSequence
from heron.model.data import Trade
from heron.model.events import OrderDenied
from heron.model.feed import FeedHealth, FeedState
from heron.node.paper import PaperEngine
from heron.observe.metrics import NodeMetrics
from heron.strategy.base import Strategy
from heron.venues.sim.config import SimVenueConfig


class OffGridThenMarket(Strategy):
    """A limit price between two ticks (denied before the venue), then a market buy."""

    name = "off_grid"

    def on_start(self) -> None:
        self.seen = 0

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == 5:
            self.buy(size=Decimal("0.01"), price=Decimal("30000.005"))
        elif self.seen == 6:
            self.buy(size=Decimal("0.01"))


def _engine(metrics: NodeMetrics) -> PaperEngine:
    engine = PaperEngine(
        instruments=[BTC_GRID], strategies=[OffGridThenMarket()], cash=Decimal(100_000),
        venue=SimVenueConfig(), journal_path=None, bar_ns=1_000_000_000, book_streams=set(),
        quote_streams=set(), book_rules={BTC_GRID.id: LinkedSequence()}, header={})
    metrics.attach(engine)
    engine.start()
    return engine


def _trades(frame: pl.DataFrame, n: int) -> list[Trade]:
    return [Trade(BTC_GRID, r["ts_event"], r["ts_recv"], r["price"], r["size"], "buy",
                  r["trade_id"]) for r in frame.head(n).iter_rows(named=True)]


def test_denials_are_counted_by_rule_and_transitions_by_trigger(
        btc_trades: pl.DataFrame) -> None:
    metrics = NodeMetrics("unit")
    engine = _engine(metrics)
    for trade in _trades(btc_trades, 20):
        engine.consume(trade)
    denied = [r for r in engine.journal.records if isinstance(r, OrderDenied)]
    assert len(denied) == 1
    value = metrics.registry.get_sample_value
    labels = {"run": "unit", "venue": "BINANCE", "instrument": BTC_GRID.id,
              "strategy": "off_grid"}
    assert value("heron_order_denials_total", {**labels, "rule": denied[0].rule}) == 1
    assert value("heron_orders_total", {**labels, "status": "denied"}) == 1
    assert value("heron_orders_total", {**labels, "status": "submitted"}) == 1
    # the market buy fills at the next bar's open: not yet, 20 trades are one bar
    assert value("heron_fills_total", {**labels, "side": "buy", "liquidity": "taker"}) is None
    assert value("heron_trading_state_transitions_total", {
        "run": "unit", "from_state": "INIT", "to_state": "READY", "trigger": "start"}) == 1


def test_feed_health_counts_reconnects_and_gaps_once_each() -> None:
    metrics = NodeMetrics("feeds")

    def health(state: FeedState, reconnects: int, gaps: int) -> FeedHealth:
        return FeedHealth(ts=1, venue="okx", symbol="BTC-USDT", stream="book", state=state,
                          last_message_age_ns=2_500_000_000, messages=10,
                          reconnects=reconnects, gaps=gaps, parse_errors=0)

    for report in (health(FeedState.LIVE, 0, 0), health(FeedState.RECONNECTING, 1, 0),
                   health(FeedState.RECONNECTING, 1, 0), health(FeedState.LIVE, 1, 2)):
        metrics.feed_health(report)
    labels = {"run": "feeds", "venue": "okx", "symbol": "BTC-USDT", "stream": "book"}
    value = metrics.registry.get_sample_value
    assert value("heron_feed_reconnects_total", labels) == 1
    assert value("heron_feed_gaps_total", labels) == 2
    assert value("heron_feed_lag_seconds", labels) == 2.5
    assert value("heron_feed_state", {**labels, "state": "live"}) == 1
    assert value("heron_feed_state", {**labels, "state": "reconnecting"}) == 0


def test_two_nodes_in_one_process_keep_their_own_registries() -> None:
    first, second = NodeMetrics("a"), NodeMetrics("b")
    first.market_event(None)  # a broken event: counted, not raised
    assert first.registry.get_sample_value(
        "heron_observe_errors_total", {"run": "a", "where": "market_event"}) == 1
    assert second.registry.get_sample_value(
        "heron_observe_errors_total", {"run": "b", "where": "market_event"}) is None


class Quoter(Strategy):
    """Sends nothing by itself: the test calls ``target_orders``."""

    name = "quoter"


def test_router_decisions_are_counted_by_action_and_reason_once_each() -> None:
    from heron.execution.router import Target
    from heron.model.data import Quote
    from heron.model.orders import OrderSide

    metrics = NodeMetrics("routed")
    engine = PaperEngine(
        instruments=[BTC_GRID], strategies=[Quoter()], cash=Decimal(100_000),
        venue=SimVenueConfig(), journal_path=None, bar_ns=1_000_000_000, book_streams=set(),
        quote_streams={BTC_GRID.id}, book_rules={BTC_GRID.id: LinkedSequence()}, header={})
    metrics.attach(engine)
    engine.start()
    engine.consume(Quote(BTC_GRID, 1_000, 1_000, BTC_GRID.ticks(Decimal("60000")),
                         BTC_GRID.ticks(Decimal("60000.01")), 10**6, 10**6, 0))
    quoter = engine.strategies[0]

    def bid(price: str) -> list[Target]:
        return [Target(OrderSide.BUY, BTC_GRID.lots(Decimal("0.01")),
                       BTC_GRID.ticks(Decimal(price)), key="bid", post_only=True),
                Target(OrderSide.SELL, 0, BTC_GRID.ticks(Decimal("61000")), key="ask")]

    def count(action: str, reason: str) -> float | None:
        return metrics.registry.get_sample_value("heron_router_decisions_total", {
            "run": "routed", "instrument": BTC_GRID.id, "action": action, "reason": reason})

    quoter.target_orders(bid("59000"))
    assert count("new", "new_target") is None  # read from the routers on refresh only
    metrics.refresh()
    metrics.refresh()  # a second read adds nothing
    assert (count("new", "new_target"), count("drop", "non_positive_quantity")) == (1, 1)
    quoter.target_orders(bid("59000"))
    quoter.target_orders(bid("59001"))
    quoter.target_orders([])
    metrics.refresh()
    assert count("noop", "unchanged") == 1
    assert count("amend", "reprice") == 1
    assert count("cancel", "unmatched") == 1
    assert count("drop", "non_positive_quantity") == 3
