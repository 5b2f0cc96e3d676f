"""Bybit's dialect: recorded private replies (``order``, ``execution``, ``position``
topics, REST positions and wallet) read through ccxt's own parsers and the dialect,
against the fixtures' raw strings; the request ccxt builds from the dialect's arguments;
error codes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from conftest import SHARED_VENUES, need
from heron.model.account import VenueOrderStatus
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.venues.bybit.orders import BybitDialect
from heron.venues.ccxt.dialect import dialect_for
from heron.venues.errors import Refusal

FIXTURES = SHARED_VENUES / "bybit" / "fixtures"
SYMBOL = "BTC/USDT:USDT"


def body(name: str) -> Any:
    return json.loads(need(FIXTURES / name).read_text())


def perp(symbol: str, tick: str, lot: str) -> Instrument:
    return Instrument(symbol, venue="BYBIT", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal(tick), size_increment=Decimal(lot))


def from_filters(row: dict[str, Any]) -> Instrument:
    """The instrument of one recorded ``instruments-info`` row, read here with json."""
    return perp(row["symbol"], row["priceFilter"]["tickSize"], row["lotSizeFilter"]["qtyStep"])


@pytest.fixture(scope="module")
def bybit() -> Any:
    """ccxt's bybit with its linear markets from the recorded instrument list (its HTTP
    ``fetch`` answers with the recording; nothing leaves the machine)."""
    exchange = ccxt.bybit({"options": dict(BybitDialect.options)})
    recorded = body("http_linear_instruments.json")
    exchange.fetch = lambda *args, **kwargs: recorded
    exchange.options["fetchMarkets"] = {"types": ["linear"]}
    exchange.load_markets()
    return exchange


def test_registry_finds_the_dialect() -> None:
    assert isinstance(dialect_for("bybit"), BybitDialect)


def test_client_ids_are_heron_ids_unchanged() -> None:
    assert BybitDialect().client_id("RUNTAG12-strategy1234-123456789012") == \
        "RUNTAG12-strategy1234-123456789012"
    with pytest.raises(ValueError, match="cannot carry"):
        BybitDialect().client_id("x" * 37)


def test_order_topic_reply_is_exact(bybit: Any) -> None:
    raw = body("ws_order.json")["data"][0]
    inst = perp(raw["symbol"], "0.1", "1")  # an option: only the grid matters here
    order = BybitDialect().parse_order(bybit.parse_order(raw), inst)
    assert order.venue_order_id == raw["orderId"]
    assert order.quantity == inst.lots(Decimal(raw["qty"]))
    assert order.filled == inst.lots(Decimal(raw["cumExecQty"]))
    assert order.avg_price == Decimal(raw["avgPrice"])
    assert order.status is VenueOrderStatus.FILLED and order.order_type is OrderType.MARKET
    assert order.time_in_force is TimeInForce.IOC and order.reason == ""


def test_execution_is_exact_with_fee_paid_positive(bybit: Any) -> None:
    raw = body("ws_execution.json")["data"][0]
    inst = perp(raw["symbol"], "0.0001", "1")
    fill = BybitDialect().parse_fill(bybit.parse_trade(raw), inst)
    assert fill.trade_id == raw["execId"] and fill.venue_order_id == raw["orderId"]
    assert fill.quantity == inst.lots(Decimal(raw["execQty"])) == 25
    assert fill.price == inst.ticks(Decimal(raw["execPrice"]))
    assert fill.fee == Decimal(raw["execFee"]) > 0
    assert fill.liquidity == ("maker" if raw["isMaker"] else "taker")
    assert fill.side is OrderSide.SELL


def test_positions_are_signed_lots(bybit: Any) -> None:
    instruments = {row["symbol"]: from_filters(row)
                   for row in body("http_linear_instruments.json")["result"]["list"]}
    rows = [row for row in body("http_get_positions.json")["result"]["list"]
            if row["symbol"] in instruments]  # those whose grid was recorded
    assert len(rows) == 2
    for raw in rows:
        inst = instruments[raw["symbol"]]
        market = bybit.markets_by_id[raw["symbol"]][0]
        position = BybitDialect().parse_position(bybit.parse_position(raw, market), inst)
        sign = 1 if raw["side"] == "Buy" else -1
        assert position.quantity == sign * inst.lots(Decimal(raw["size"]))
        assert position.liquidation_price == Decimal(raw["liqPrice"])
    raw = body("ws_position.json")["data"][0]
    inst = perp(raw["symbol"], "0.0001", "1")
    position = BybitDialect().parse_position(bybit.parse_position(raw), inst)
    assert position.quantity == inst.lots(Decimal(raw["size"])) == 75


def test_wallet_balance(bybit: Any) -> None:
    result = body("http_account_wallet_balance.json")
    (usdt,) = BybitDialect().parse_balances(
        bybit.parse_balance({"result": {"list": [result]}}))
    coin = result["coin"][0]
    assert usdt.currency == coin["coin"] == "USDT"
    assert usdt.total == Decimal(coin["walletBalance"])


def request(exchange: Any, order: SubmitOrder) -> dict[str, Any]:
    """The body ccxt would POST for the dialect's arguments (nothing is sent)."""
    inst = from_filters(body("http_linear_instruments.json")["result"]["list"][0])
    dialect = BybitDialect()
    args = dialect.order_args(order, inst, SYMBOL, dialect.client_id(order.client_order_id))
    built: dict[str, Any] = exchange.create_order_request(*args.call_args())
    return built


def cmd(kind: OrderType, side: OrderSide = OrderSide.BUY, **extra: Any) -> SubmitOrder:
    return SubmitOrder(0, 0, "H-mm-7", "mm", "BTCUSDT.BYBIT", side, kind, 5, **extra)


def test_requests_spell_bybit_params(bybit: Any) -> None:
    post = request(bybit, cmd(OrderType.LIMIT, price=500_000, post_only=True))
    assert (post["timeInForce"], post["orderLinkId"], post["orderType"]) == \
        ("PostOnly", "H-mm-7", "Limit")
    assert Decimal(post["price"]) == 50_000 and Decimal(post["qty"]) == Decimal("0.005")
    fok = request(bybit, cmd(OrderType.LIMIT, price=500_000, time_in_force=TimeInForce.FOK))
    assert fok["timeInForce"] == "FOK"
    reduce = request(bybit, cmd(OrderType.MARKET, reduce_only=True))
    assert reduce["reduceOnly"] is True and reduce["orderType"] == "Market"


def test_stops_carry_their_trigger_direction(bybit: Any) -> None:
    buy = request(bybit, cmd(OrderType.STOP, trigger_price=510_000))
    assert buy["triggerDirection"] == 1 and Decimal(buy["triggerPrice"]) == 51_000
    sell = request(bybit, cmd(OrderType.STOP_LIMIT, OrderSide.SELL, price=480_000,
                              trigger_price=490_000))
    assert sell["triggerDirection"] == 2 and Decimal(sell["price"]) == 48_000


@pytest.mark.parametrize(("code", "kind"), [
    ("110007", Refusal.BALANCE), ("10004", Refusal.AUTH), ("10002", Refusal.CLOCK),
    ("110001", Refusal.NOT_FOUND), ("110072", Refusal.DUPLICATE),
    ("110017", Refusal.REDUCE_ONLY), ("10001", Refusal.INVALID)])
def test_bybit_codes_become_one_heron_refusal(code: str, kind: Refusal) -> None:
    reply = f'bybit {{"retCode":{code},"retMsg":"refused here","result":{{}}}}'
    refused = BybitDialect().refusal(ccxt.ExchangeError(reply), "the order")
    assert (refused.code, refused.kind) == (code, kind.value)
    assert "refused here" in str(refused)
