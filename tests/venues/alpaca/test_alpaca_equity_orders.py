"""AlpacaEquityClient against the loopback Alpaca trading API: orders, account, stream.

Every test drives the real client (aiohttp REST, alpaca-py's TradingStream) against
:class:`heron.testing.alpaca_trading.AlpacaTradingServer`, which enforces Alpaca's rules
(fractional DAY only, sub-penny prices, buying power, unique client ids).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from heron.errors import ResponseLost, VenueRejected, VenueUnavailable
from heron.execution.port import Amend, VenueClient
from heron.model.account import VenueOrderStatus
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.testing.alpaca_trading import AlpacaTradingServer
from heron.testing.venues.alpaca import KEYS
from heron.venues.alpaca.equity_orders import AlpacaEquityClient

T = TypeVar("T")
AAPL = "AAPL.ALPACA"
BRK = "BRK.A.ALPACA"
SHARE = 1_000_000_000  # lots per AAPL share (fractionable: 1e-9 lot)
CENT = 100             # ticks per cent (tick 0.0001)


@pytest.fixture
def server() -> Iterator[AlpacaTradingServer]:
    with AlpacaTradingServer(cash="100000") as srv:
        srv.set_price("AAPL", "150")
        srv.set_price("BRK.A", "600000")
        yield srv


def client_for(server: AlpacaTradingServer, **kwargs: Any) -> AlpacaEquityClient:
    return AlpacaEquityClient(["AAPL", "BRK.A"], base_url=server.url,
                              api_keys={"apiKey": KEYS[0], "secret": KEYS[1]}, **kwargs)


def run(server: AlpacaTradingServer, body: Callable[[AlpacaEquityClient], Awaitable[T]],
        **kwargs: Any) -> T:
    async def main() -> T:
        async with client_for(server, **kwargs) as client:
            return await body(client)
    return asyncio.run(main())


def submit(cid: str, kind: OrderType, qty: int, side: OrderSide = OrderSide.BUY,
           price: int | None = None, trigger: int | None = None,
           tif: TimeInForce = TimeInForce.GTC, inst: str = AAPL) -> SubmitOrder:
    return SubmitOrder(0, 0, cid, "s", inst, side, kind, qty, price, trigger, tif)


def last_post(server: AlpacaTradingServer) -> dict[str, Any]:
    return [body for method, path, body in server.requests
            if (method, path) == ("POST", "/v2/orders")][-1]


def test_client_is_a_venue_client(server: AlpacaTradingServer) -> None:
    client: VenueClient = client_for(server)
    assert client.supports_amend and client.has_private_streams


def test_open_reads_the_assets_grid(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Decimal, Decimal]:
        return c.instruments[AAPL].size_increment, c.instruments[BRK].size_increment
    assert run(server, body) == (Decimal("1E-9"), Decimal(1))


def test_market_order_fills_at_the_set_price(server: AlpacaTradingServer) -> None:
    order = run(server, lambda c: c.place(submit("H-s-1", OrderType.MARKET, 2 * SHARE),
                                          "H-s-1"))
    assert (order.status, order.filled, order.avg_price, order.client_order_id) == (
        VenueOrderStatus.FILLED, 2 * SHARE, Decimal(150), "H-s-1")
    sent = last_post(server)
    assert (sent["qty"], sent["type"], sent["time_in_force"]) == ("2", "market", "day")


def test_limit_order_rests_gtc_then_fills_on_a_trade(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Any, ...]:
        placed = await c.place(submit("H-s-2", OrderType.LIMIT, 3 * SHARE,
                                      price=14512 * CENT), "H-s-2")
        server.trade("AAPL", "145.50")          # above the limit: nothing
        resting = await c.fetch_order(c.instruments[AAPL], venue_order_id=placed.venue_order_id)
        server.trade("AAPL", "145.10", "1")     # one share fills
        partial = await c.fetch_order(c.instruments[AAPL], client_id="H-s-2")
        return placed, resting, partial
    placed, resting, partial = run(server, body)
    assert placed.status is VenueOrderStatus.OPEN and placed.price == 14512 * CENT
    assert last_post(server)["time_in_force"] == "gtc"
    assert last_post(server)["limit_price"] == "145.12"
    assert resting.status is VenueOrderStatus.OPEN
    assert (partial.status, partial.filled, partial.leaves) == (
        VenueOrderStatus.PARTIALLY_FILLED, SHARE, 2 * SHARE)


def test_day_policy_sends_gtc_as_day(server: AlpacaTradingServer) -> None:
    run(server, lambda c: c.place(submit("H-s-3", OrderType.LIMIT, SHARE, price=140 * 10000),
                                  "H-s-3"), gtc_as="day")
    assert last_post(server)["time_in_force"] == "day"


def test_stop_and_stop_limit_trigger_on_trades(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> list[Any]:
        await c.place(submit("H-s-4", OrderType.STOP, SHARE, trigger=155 * 10000), "H-s-4")
        await c.place(submit("H-s-5", OrderType.STOP_LIMIT, SHARE, price=156 * 10000,
                             trigger=155 * 10000), "H-s-5")
        server.trade("AAPL", "154")
        before = [await c.fetch_order(c.instruments[AAPL], client_id=i)
                  for i in ("H-s-4", "H-s-5")]
        server.trade("AAPL", "155.5")
        after = [await c.fetch_order(c.instruments[AAPL], client_id=i)
                 for i in ("H-s-4", "H-s-5")]
        return before + after
    stop0, limit0, stop1, limit1 = run(server, body)
    assert (stop0.status, limit0.status) == (VenueOrderStatus.OPEN, VenueOrderStatus.OPEN)
    assert stop1.status is VenueOrderStatus.FILLED and stop1.avg_price == Decimal("155.5")
    assert limit1.status is VenueOrderStatus.FILLED
    assert (limit1.order_type, limit1.trigger_price) == (OrderType.STOP_LIMIT, 155 * 10000)


def test_fractional_order_goes_as_day_and_fills(server: AlpacaTradingServer) -> None:
    qty = SHARE // 4 + 7  # 0.250000007 shares
    order = run(server, lambda c: c.place(submit("H-s-6", OrderType.LIMIT, qty,
                                                 price=151 * 10000), "H-s-6"))
    sent = last_post(server)
    assert (sent["qty"], sent["time_in_force"]) == ("0.250000007", "day")
    assert order.quantity == qty


def test_fractional_ioc_is_refused_before_sending(server: AlpacaTradingServer) -> None:
    cmd = submit("H-s-7", OrderType.LIMIT, SHARE // 2, price=151 * 10000, tif=TimeInForce.IOC)
    with pytest.raises(VenueRejected, match="fractional orders must be DAY"):
        run(server, lambda c: c.place(cmd, "H-s-7"))
    assert not [r for r in server.requests if r[0] == "POST"]


def test_fractional_on_whole_share_asset_is_alpacas_422(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> None:
        c.instruments[BRK] = Instrument(  # heron wrongly thinks BRK.A trades in halves
            symbol="BRK.A", venue="ALPACA", size_increment=Decimal("0.5"),
            price_increment=Decimal("0.0001"))
        await c.place(submit("H-s-8", OrderType.LIMIT, 1, price=599000 * 10000, inst=BRK),
                      "H-s-8")
    with pytest.raises(VenueRejected, match="not fractionable") as caught:
        run(server, body)
    assert (caught.value.code, caught.value.kind) == ("40010001", "invalid")


def test_sub_penny_price_is_refused(server: AlpacaTradingServer) -> None:
    cmd = submit("H-s-9", OrderType.LIMIT, SHARE, price=1501234)  # 150.1234
    with pytest.raises(VenueRejected, match="sub-penny"):
        run(server, lambda c: c.place(cmd, "H-s-9"))


def test_insufficient_buying_power_is_a_balance_refusal(server: AlpacaTradingServer) -> None:
    with pytest.raises(VenueRejected) as caught:
        run(server, lambda c: c.place(submit("H-s-10", OrderType.LIMIT, 1000 * SHARE,
                                             price=150 * 10000), "H-s-10"))
    assert (caught.value.code, caught.value.kind) == ("40310000", "balance")
    assert "insufficient buying power" in str(caught.value)


def test_reused_client_id_is_a_duplicate_refusal(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> None:
        await c.place(submit("H-s-11", OrderType.LIMIT, SHARE, price=140 * 10000), "H-s-11")
        await c.place(submit("H-s-11", OrderType.LIMIT, SHARE, price=140 * 10000), "H-s-11")
    with pytest.raises(VenueRejected) as caught:
        run(server, body)
    assert caught.value.kind == "duplicate"


def test_market_order_while_closed_is_refused(server: AlpacaTradingServer) -> None:
    server.set_open(False)
    with pytest.raises(VenueRejected, match="market is closed"):
        run(server, lambda c: c.place(submit("H-s-12", OrderType.MARKET, SHARE), "H-s-12"))
    assert not [r for r in server.requests if r[0] == "POST"]


def test_extended_hours_limit_trades_while_closed(server: AlpacaTradingServer) -> None:
    server.set_open(False)

    async def body(c: AlpacaEquityClient) -> Any:
        await c.place(submit("H-s-13", OrderType.LIMIT, SHARE, price=150 * 10000), "H-s-13")
        server.trade("AAPL", "149")
        return await c.fetch_order(c.instruments[AAPL], client_id="H-s-13")
    order = run(server, body, extended_hours=True)
    sent = last_post(server)
    assert (sent["extended_hours"], sent["time_in_force"]) == (True, "day")
    assert order.status is VenueOrderStatus.FILLED


def test_bad_keys_are_an_auth_refusal(server: AlpacaTradingServer) -> None:
    async def main() -> None:
        bad = AlpacaEquityClient(["AAPL"], base_url=server.url,
                                 api_keys={"apiKey": "nope", "secret": "nope"})
        try:
            await bad.open()
        finally:
            await bad.close()
    with pytest.raises(VenueRejected) as caught:
        asyncio.run(main())
    assert (caught.value.code, caught.value.kind) == ("40110000", "auth")
    assert "nope" not in str(caught.value)


def test_cancel_by_client_id_and_cancel_all(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Any, ...]:
        inst = c.instruments[AAPL]
        for i in range(3):
            await c.place(submit(f"H-c-{i}", OrderType.LIMIT, SHARE, price=(140 + i) * 10000),
                          f"H-c-{i}")
        one = await c.cancel(inst, client_id="H-c-0")
        rest = await c.cancel_all(inst)
        return one, rest, await c.open_orders(inst)
    one, rest, left = run(server, body)
    assert one.status is VenueOrderStatus.CANCELED and one.client_order_id == "H-c-0"
    assert sorted(o.client_order_id for o in rest) == ["H-c-1", "H-c-2"]
    assert all(o.status is VenueOrderStatus.CANCELED for o in rest) and not left


def test_cancel_everything_uses_alpacas_cancel_all(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> Any:
        await c.place(submit("H-e-1", OrderType.LIMIT, SHARE, price=140 * 10000), "H-e-1")
        return await c.cancel_everything()
    canceled = run(server, body)
    assert [o.client_order_id for o in canceled] == ["H-e-1"]
    assert ("DELETE", "/v2/orders", {}) in server.requests and not server.open_orders()


def test_cancel_of_a_filled_order_is_not_found(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> None:
        order = await c.place(submit("H-f-1", OrderType.MARKET, SHARE), "H-f-1")
        await c.cancel(c.instruments[AAPL], venue_order_id=order.venue_order_id)
    with pytest.raises(VenueRejected, match="not cancelable"):
        run(server, body)


def test_replace_makes_a_new_order_under_herons_client_id(
        server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Any, ...]:
        inst = c.instruments[AAPL]
        placed = await c.place(submit("H-r-1", OrderType.LIMIT, 2 * SHARE, price=140 * 10000),
                               "H-r-1")
        first = await c.amend(Amend(instrument=inst, venue_order_id=placed.venue_order_id,
                                    client_id="H-r-1", side=OrderSide.BUY,
                                    order_type=OrderType.LIMIT, quantity=3 * SHARE,
                                    price=141 * 10000))
        second = await c.amend(Amend(instrument=inst, venue_order_id=first.venue_order_id,
                                     client_id="H-r-1", side=OrderSide.BUY,
                                     order_type=OrderType.LIMIT, quantity=3 * SHARE,
                                     price=142 * 10000))
        old = await c.fetch_order(inst, venue_order_id=placed.venue_order_id)
        live = await c.fetch_order(inst, client_id="H-r-1")
        return placed, second, old, live, await c.open_orders(inst)
    placed, second, old, live, still_open = run(server, body)
    assert second.venue_order_id != placed.venue_order_id
    assert (second.client_order_id, second.quantity, second.price) == (
        "H-r-1", 3 * SHARE, 142 * 10000)
    assert second.raw["client_order_id"].startswith("H-r-1.")
    assert old.status is VenueOrderStatus.CANCELED and old.reason.startswith("replaced by")
    assert live.venue_order_id == second.venue_order_id  # followed replaced_by twice
    assert [o.venue_order_id for o in still_open] == [second.venue_order_id]


def test_missing_order_is_none(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Any, Any]:
        inst = c.instruments[AAPL]
        return (await c.fetch_order(inst, client_id="H-nothing"),
                await c.fetch_order(inst, venue_order_id="no-such-id"))
    assert run(server, body) == (None, None)


def test_positions_balances_and_fills(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Any, ...]:
        inst = c.instruments[AAPL]
        await c.place(submit("H-p-1", OrderType.MARKET, 3 * SHARE), "H-p-1")
        server.set_price("AAPL", "151.25")
        await c.place(submit("H-p-2", OrderType.MARKET, SHARE, OrderSide.SELL), "H-p-2")
        fills = await c.fills(inst)
        later = await c.fills(inst, since_ns=fills[1].ts)
        return await c.positions(), await c.balances(), fills, later
    positions, balances, fills, later = run(server, body)
    assert [(p.instrument_id, p.quantity, p.entry_price) for p in positions] == [
        (AAPL, 2 * SHARE, Decimal(150))]
    cash = Decimal(100000) - 3 * 150 + Decimal("151.25")
    assert (balances[0].currency, balances[0].total, balances[0].free) == ("USD", cash, cash)
    assert [(f.client_order_id, f.side, f.quantity, f.price) for f in fills] == [
        ("H-p-1", OrderSide.BUY, 3 * SHARE, 150 * 10000),
        ("H-p-2", OrderSide.SELL, SHARE, 1512500)]
    assert [f.trade_id for f in later] == [fills[1].trade_id]


def test_selling_what_is_not_held_is_refused(server: AlpacaTradingServer) -> None:
    with pytest.raises(VenueRejected, match="insufficient qty available"):
        run(server, lambda c: c.place(submit("H-x-1", OrderType.MARKET, SHARE,
                                             OrderSide.SELL), "H-x-1"))


def test_lost_placement_reply_then_found_by_client_id(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> Any:
        server.lose_next("POST", "/v2/orders")
        with pytest.raises(ResponseLost):
            await c.place(submit("H-l-1", OrderType.LIMIT, SHARE, price=140 * 10000), "H-l-1")
        return await c.fetch_order(c.instruments[AAPL], client_id="H-l-1")
    found = run(server, body)
    assert found is not None and found.status is VenueOrderStatus.OPEN
    assert len([r for r in server.requests if r[:2] == ("POST", "/v2/orders")]) == 1


def test_429_is_retried_honouring_retry_after(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[Any, int]:
        server.fail_next(429, times=2, retry_after="0")
        order = await c.place(submit("H-t-1", OrderType.MARKET, SHARE), "H-t-1")
        return order, c.retries
    order, retries = run(server, body)
    assert order.status is VenueOrderStatus.FILLED and retries == 2
    assert len(server.orders) == 1


def test_5xx_past_the_retries_is_unavailable(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> None:
        server.fail_next(503, times=5)
        await c.positions()
    with pytest.raises(VenueUnavailable, match="3 tries"):
        run(server, body, attempts=3, retry_cap_s=0.01)


def test_stream_reports_new_partial_fill_fill_and_cancel(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[list[Any], list[Any]]:
        await c.watching()
        await c.place(submit("H-w-1", OrderType.LIMIT, 3 * SHARE, price=140 * 10000), "H-w-1")
        server.trade("AAPL", "139.5", "1")
        server.trade("AAPL", "139.75")
        await c.place(submit("H-w-2", OrderType.LIMIT, SHARE, price=130 * 10000), "H-w-2")
        await c.cancel(c.instruments[AAPL], client_id="H-w-2")
        orders: list[Any] = []
        while len(orders) < 5:
            orders += await c.watch_orders()
        fills: list[Any] = []
        while len(fills) < 2:
            fills += await c.watch_fills()
        return orders, fills
    orders, fills = run(server, body)
    assert [(o.client_order_id, o.status) for o in orders] == [
        ("H-w-1", VenueOrderStatus.OPEN), ("H-w-1", VenueOrderStatus.PARTIALLY_FILLED),
        ("H-w-1", VenueOrderStatus.FILLED), ("H-w-2", VenueOrderStatus.OPEN),
        ("H-w-2", VenueOrderStatus.CANCELED)]
    assert [(f.quantity, f.price) for f in fills] == [(SHARE, 1395000), (2 * SHARE, 1397500)]
    assert fills[0].trade_id and fills[0].trade_id != fills[1].trade_id


def test_stream_and_rest_fills_share_trade_ids(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> tuple[list[str], list[str]]:
        await c.watching()
        await c.place(submit("H-i-1", OrderType.MARKET, SHARE), "H-i-1")
        streamed = await c.watch_fills()
        return [f.trade_id for f in streamed], [f.trade_id for f in await c.fills(
            c.instruments[AAPL])]
    streamed, rest = run(server, body)
    assert streamed == rest and len(rest) == 1


def test_replace_on_the_stream_keeps_herons_client_id(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> list[Any]:
        await c.watching()
        placed = await c.place(submit("H-w-3", OrderType.LIMIT, SHARE, price=140 * 10000),
                               "H-w-3")
        await c.amend(Amend(instrument=c.instruments[AAPL],
                            venue_order_id=placed.venue_order_id, client_id="H-w-3",
                            side=OrderSide.BUY, order_type=OrderType.LIMIT, quantity=SHARE,
                            price=141 * 10000))
        orders: list[Any] = []
        while len(orders) < 2:
            orders += await c.watch_orders()
        return orders
    new, replacement = run(server, body)
    assert (new.client_order_id, replacement.client_order_id) == ("H-w-3", "H-w-3")
    assert replacement.venue_order_id != new.venue_order_id
    assert replacement.price == 141 * 10000


def test_stream_drop_is_reported_and_the_next_watch_reconnects(
        server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> list[Any]:
        await c.watching()
        server.drop_streams()
        with pytest.raises(VenueUnavailable, match="trade stream lost"):
            await c.watch_orders()
        await c.watching()
        await c.place(submit("H-d-1", OrderType.MARKET, SHARE), "H-d-1")
        return list(await c.watch_orders())
    orders = run(server, body)
    assert orders[0].client_order_id == "H-d-1"


def test_stream_drop_while_nobody_watches_is_still_reported(
        server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> None:
        await c.watching()
        server.drop_streams()
        while c._stream_task is not None and not c._stream_task.done():
            await asyncio.sleep(0.01)  # alpaca-py notices the cut
        await c.watch_fills()
    with pytest.raises(VenueUnavailable, match="trade stream lost"):
        run(server, body)


def test_stream_refuses_bad_keys(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> None:
        c._keys = {"apiKey": "nope", "secret": "nope"}  # REST opened, stream keys wrong
        await c.watching()
    with pytest.raises(VenueRejected) as caught:
        run(server, body)
    assert caught.value.kind == "auth"


def test_post_only_and_reduce_only_are_refused(server: AlpacaTradingServer) -> None:
    async def body(c: AlpacaEquityClient) -> str | None:
        cmd = SubmitOrder(0, 0, "H-o-1", "s", AAPL, OrderSide.BUY, OrderType.LIMIT, SHARE,
                          140 * 10000, post_only=True)
        return c.check(cmd)
    assert "post-only" in (run(server, body) or "")


def test_unknown_symbol_is_a_symbol_refusal(server: AlpacaTradingServer) -> None:
    async def main() -> None:
        async with AlpacaEquityClient(["NOPE"], base_url=server.url,
                                      api_keys={"apiKey": KEYS[0], "secret": KEYS[1]}):
            pass
    with pytest.raises(VenueRejected) as caught:
        asyncio.run(main())
    assert (caught.value.code, caught.value.kind) == ("40410000", "symbol")
