"""``run_live`` end to end: the loopback exchange's recorded market data drives a
strategy whose orders go to the exchange's account; then the run is resumed.

The market stream, the private API and the user-data stream are all the emulator's (one
server, as a ccxt bot would see Binance through ``--endpoint``). What is asserted: the
run's journal holds the venue's fills exactly (ids, prices, fees), the state directory
holds what a restart needs, and a restart rebuilds the same position without sending an
order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from conftest import loopback_exchange
from heron.data.feeds.session import FeedOptions
from heron.model.data import Trade
from heron.model.events import OrderFilled, SubmitOrder
from heron.node.live_run import LiveConfig, LiveState, run_live
from heron.strategy.base import Strategy
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import Credentials

KEY, SECRET = "run-key", "run-secret"


HAND: list[Callable[[], object]] = []


class BuyThenSell(Strategy):
    """Buys 0.002 after 100 trades, sells it after 300: two market orders."""

    name = "buy_then_sell"

    def on_start(self) -> None:
        self.seen = 0

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == 100:
            self.buy(size=Decimal("0.002"))
        elif self.seen == 150:
            for place_by_hand in HAND:  # someone trades the account by hand mid-run
                place_by_hand()
        elif self.seen == 300:
            self.close_position()


def client(url: str) -> CcxtClient:
    return CcxtClient(BinanceUsdmDialect(),
                      Credentials("binanceusdm", "test", api_key=KEY, api_secret=SECRET),
                      ["BTC/USDT:USDT"], endpoint=url)


@pytest.mark.slow
def test_a_live_run_trades_the_venue_account_and_resumes_from_its_journal(
        tmp_path: Path) -> None:
    cfg = LiveConfig(strategy=f"{__name__}:BuyThenSell", venue="binanceusdm",
                     symbols=["BTC/USDT:USDT"], streams=["trades"])
    with loopback_exchange(KEY, SECRET, speed=20, lines=None) as server:
        state = LiveState(tmp_path / "state")
        HAND.append(lambda: server.call(lambda: server.account.place({
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.002",
            "price": "50000", "timeInForce": "GTC", "newClientOrderId": "by-hand-mid-run"})))
        status = asyncio.run(run_live(cfg, state, client(server.url), endpoint=server.url,
                                      stop_after=600, duration_s=30, reconcile_s=0.5,
                                      options=FeedOptions(stale_after_s=10)))
        HAND.clear()
        state.close()
        venue_trades = server.call(lambda: list(server.account.trades))
        posts = sum(1 for m, p, _ in server.requests if (m, p) == ("POST", "/fapi/v1/order"))

        state = LiveState(tmp_path / "state")
        resumed = asyncio.run(run_live(cfg, state, client(server.url), endpoint=server.url,
                                       stop_after=1, duration_s=10,
                                       options=FeedOptions(stale_after_s=10)))
        state.close()
        posts_after = sum(1 for m, p, _ in server.requests
                          if (m, p) == ("POST", "/fapi/v1/order"))

    engine = status.engine
    adopted = [r for r in engine.journal.records if isinstance(r, SubmitOrder)
               and r.tag == "adopted"]
    assert [a.client_order_id for a in adopted] == ["by-hand-mid-run"]  # by a periodic pass
    assert (tmp_path / "state" / "reconcile").is_dir()
    fills = [r for r in engine.journal.records if isinstance(r, OrderFilled)]
    assert [f.trade_id for f in fills] == [str(t["id"]) for t in venue_trades]
    assert len(fills) == posts == 2 and status.live >= 300
    inst = engine.instruments[0]
    for fill, trade in zip(fills, venue_trades, strict=True):
        assert inst.price(fill.last_px) == Decimal(trade["price"])
        assert Decimal(fill.fee).scaleb(-engine.portfolio.money_precision) == \
            Decimal(trade["commission"])
    assert engine.portfolio.positions[inst.id].qty == 0
    stored = json.loads((tmp_path / "state" / "run.json").read_bytes())["config"]
    assert stored["cash"] == "10000.00000000" and stored["run_tag"].startswith("h")
    assert all(f.client_order_id.startswith(stored["run_tag"] + "-") for f in fills)
    # the resumed process rebuilt the run from the journal and sent nothing
    assert resumed.restored == len(engine.journal.records)
    assert posts_after == posts and resumed.mismatches == 0
    assert resumed.engine.portfolio.balance == engine.portfolio.balance
