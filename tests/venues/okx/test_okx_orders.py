"""OKX's dialect: recorded private replies read through ccxt's own parsers and then the
dialect, against the raw strings of the fixtures (read here with ``json``); client ids
(injective, OKX's alphabet); the ``create_order`` request ccxt builds from the dialect's
arguments; error codes."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED_VENUES, need
from heron.data.download_venues import instrument_of
from heron.model.account import VenueOrderStatus
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, OffGrid
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.venues.ccxt.dialect import dialect_for
from heron.venues.errors import Refusal
from heron.venues.okx.orders import OkxDialect

FIXTURES = SHARED_VENUES / "okx" / "fixtures"
SYMBOL = "BTC/USDT:USDT"
HERON_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


def data(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(need(FIXTURES / name).read_text())["data"]
    return rows


@pytest.fixture(scope="module")
def okx() -> tuple[Any, Instrument]:
    """ccxt's okx with its markets parsed from the recorded instrument list."""
    exchange = ccxt.okx({"options": dict(OkxDialect.options)})
    rows = data("http_get_instruments_swap.json")
    exchange.set_markets([exchange.parse_market(row) for row in rows])
    return exchange, instrument_of(exchange, exchange.markets[SYMBOL])


def cmd(kind: OrderType, *, price: int | None = None, trigger: int | None = None,
        tif: TimeInForce = TimeInForce.GTC, post_only: bool = False,
        reduce_only: bool = False, side: OrderSide = OrderSide.BUY) -> SubmitOrder:
    return SubmitOrder(0, 0, "H-mm-1", "mm", "BTC-USDT-SWAP.OKX", side, kind, 3, price,
                       trigger, tif, post_only, reduce_only)


def test_registry_finds_the_dialect() -> None:
    assert isinstance(dialect_for("okx"), OkxDialect)


# -- client ids ------------------------------------------------------------------------------
@given(st.from_regex(HERON_ID, fullmatch=True), st.from_regex(HERON_ID, fullmatch=True))
def test_client_ids_fit_okx_and_never_collide(a: str, b: str) -> None:
    dialect = OkxDialect()
    va, vb = dialect.client_id(a), dialect.client_id(b)
    assert dialect.client_id_pattern.fullmatch(va)
    assert va == dialect.client_id(a)  # deterministic
    assert (va == vb) == (a == b)


def test_client_id_escapes_dashes_readably_and_hashes_long_ones() -> None:
    dialect = OkxDialect()
    assert dialect.client_id("H-mm-12") == "Hz1mmz112"
    assert dialect.client_id("Hz1-a") != dialect.client_id("H--a")
    assert dialect.client_id("Hz-a") == "Hz0z1a"
    long = dialect.client_id("RUNTAG12-strategy1234-123456789012")
    assert long.startswith("zz") and len(long) == 32
    with pytest.raises(ValueError, match="cannot carry"):
        dialect.client_id("bad id")


# -- replies ---------------------------------------------------------------------------------
def test_filled_market_order_from_rest_history(okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    raw = data("http_get_orders_history.json")[0]
    order = OkxDialect().parse_order(exchange.parse_order(raw, exchange.markets[SYMBOL]), inst)
    assert order.venue_order_id == raw["ordId"]
    assert order.quantity == inst.lots(Decimal(raw["sz"])) == 3
    assert order.filled == inst.lots(Decimal(raw["accFillSz"]))
    assert order.avg_price == Decimal(raw["avgPx"])
    assert order.status is VenueOrderStatus.FILLED and order.order_type is OrderType.MARKET
    assert order.price is None


def test_fill_from_orders_channel_is_exact_and_fee_paid_is_positive(
        okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    for name in ("ws_orders.json", "ws_orders_trigger.json"):
        raw = data(name)[0]
        fill = OkxDialect().parse_fill(exchange.parse_trade(raw, exchange.markets[SYMBOL]),
                                       inst)
        assert fill.quantity == inst.lots(Decimal(raw["fillSz"]))
        assert fill.price == inst.ticks(Decimal(raw["fillPx"]))
        assert fill.fee == -Decimal(raw["fee"]) > 0  # OKX: negative = paid
        assert fill.client_order_id == raw["clOrdId"]
        assert fill.ts == int(raw["fillTime"]) * 1_000_000
        assert fill.liquidity == {"T": "taker", "M": "maker"}[raw["execType"]]


def test_algo_orders_are_stops_with_their_algo_client_ids(okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    rows = data("ws_orders_algo.json")
    dialect = OkxDialect()
    market = exchange.markets[SYMBOL]
    stop, stop_limit, triggered = (dialect.parse_order(exchange.parse_order(r, market), inst)
                                   for r in rows[:3])
    assert stop.order_type is OrderType.STOP and stop.price is None
    assert stop.trigger_price == inst.ticks(Decimal(rows[0]["triggerPx"]))
    assert stop.status is VenueOrderStatus.UNTRIGGERED and stop.reduce_only
    assert stop.client_order_id == rows[0]["algoClOrdId"]
    assert stop_limit.order_type is OrderType.STOP_LIMIT
    assert stop_limit.price == inst.ticks(Decimal(rows[1]["ordPx"]))
    assert stop_limit.quantity == inst.lots(Decimal(rows[1]["sz"]))
    assert triggered.status is VenueOrderStatus.OPEN  # lives on as its child order


def test_off_grid_size_is_refused_not_rounded(okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    raw = next(r for r in data("ws_orders_algo.json") if r["sz"] == "0.015")
    with pytest.raises(OffGrid):
        OkxDialect().parse_order(exchange.parse_order(raw, exchange.markets[SYMBOL]), inst)


def test_position_and_balance(okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    raw = data("http_get_positions.json")[0]
    position = OkxDialect().parse_position(
        exchange.parse_position(raw, exchange.markets[SYMBOL]), inst)
    assert position.quantity == inst.lots(Decimal(raw["pos"])) == 50
    assert position.liquidation_price == Decimal(raw["liqPx"])
    body = json.loads(need(FIXTURES / "http_get_account_balance.json").read_text())
    (usdt,) = OkxDialect().parse_balances(exchange.parse_trading_balance(body))
    detail = body["data"][0]["details"][0]
    assert usdt.currency == "USDT"
    assert usdt.total == Decimal(detail["eq"]) and usdt.free == Decimal(detail["availBal"])


# -- requests --------------------------------------------------------------------------------
def request(exchange: Any, inst: Instrument, order: SubmitOrder) -> dict[str, Any]:
    """The body ccxt would POST for the dialect's arguments (nothing is sent)."""
    dialect = OkxDialect()
    args = dialect.order_args(order, inst, SYMBOL, dialect.client_id(order.client_order_id))
    body: dict[str, Any] = exchange.create_order_request(*args.call_args())
    return body


def test_requests_spell_okx_order_types(okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    limit = request(exchange, inst, cmd(OrderType.LIMIT, price=1_000_000, post_only=True))
    assert limit["ordType"] == "post_only"
    assert (Decimal(limit["px"]), Decimal(limit["sz"])) == (Decimal(100_000), Decimal("0.03"))
    assert limit["clOrdId"] == "Hz1mmz11"
    ioc = request(exchange, inst, cmd(OrderType.LIMIT, price=1_000_000, tif=TimeInForce.IOC))
    assert ioc["ordType"] == "ioc"
    fok = request(exchange, inst, cmd(OrderType.LIMIT, price=1_000_000, tif=TimeInForce.FOK))
    assert fok["ordType"] == "fok"
    reduce = request(exchange, inst, cmd(OrderType.MARKET, reduce_only=True))
    assert reduce["ordType"] == "market" and reduce["reduceOnly"] is True


def test_stops_go_to_the_algo_endpoint_with_algo_client_id(okx: tuple[Any, Instrument]) -> None:
    exchange, inst = okx
    stop = request(exchange, inst, cmd(OrderType.STOP, trigger=950_000, side=OrderSide.SELL))
    assert stop["ordType"] == "trigger" and Decimal(stop["triggerPx"]) == 95_000
    assert stop["orderPx"] == "-1" and stop["algoClOrdId"] == "Hz1mmz11"
    stop_limit = request(exchange, inst, cmd(OrderType.STOP_LIMIT, price=1_060_000,
                                             trigger=1_050_000))
    assert Decimal(stop_limit["triggerPx"]) == 105_000
    assert Decimal(stop_limit["orderPx"]) == 106_000
    assert OkxDialect().trigger_fetch_params("X")["trigger"] is True


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("code", "kind"), [
    ("51008", Refusal.BALANCE), ("50113", Refusal.AUTH), ("50102", Refusal.CLOCK),
    ("51603", Refusal.NOT_FOUND), ("51016", Refusal.DUPLICATE), ("51121", Refusal.INVALID),
    ("51169", Refusal.REDUCE_ONLY)])
def test_okx_codes_become_one_heron_refusal(code: str, kind: Refusal) -> None:
    reply = ('okx {"code":"1","data":[{"clOrdId":"x","ordId":"","sCode":"' + code
             + '","sMsg":"Order failed. "}],"msg":""}')
    refused = OkxDialect().refusal(ccxt.ExchangeError(reply), "the order")
    assert refused.code == code and refused.kind == kind.value
    assert "Order failed." in str(refused)
