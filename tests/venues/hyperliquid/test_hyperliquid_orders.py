"""Hyperliquid's dialect: recorded fills (the ``user`` stream with a liquidation, and 500
``userFills`` of 2023) through ccxt's own parser and the dialect, against the raw
strings; cloids; the order action ccxt builds from the dialect's arguments; errors."""

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
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.venues.ccxt.dialect import dialect_for
from heron.venues.errors import Refusal
from heron.venues.hyperliquid.orders import HyperliquidDialect, check_price

DATA = SHARED_VENUES / "hyperliquid"
SYMBOL = "BTC/USDC:USDC"
HERON_ID = re.compile(r"[A-Za-z0-9-]{1,36}")


def perp(coin: str, sz_decimals: int) -> Instrument:
    """Hyperliquid's grid: lots of 10**-szDecimals, ticks of 10**-(6 - szDecimals)."""
    return Instrument(coin, venue="HYPERLIQUID", kind=InstrumentKind.LINEAR_PERPETUAL,
                      price_increment=Decimal(1).scaleb(sz_decimals - 6),
                      size_increment=Decimal(1).scaleb(-sz_decimals),
                      quote_currency="USDC")


@pytest.fixture(scope="module")
def hyperliquid() -> Any:
    """ccxt's hyperliquid with BTC parsed from the recorded ``allPerpMetas``."""
    metas = json.loads(need(DATA / "fixtures" / "http_all_perp_metas.json").read_text())
    exchange = ccxt.hyperliquid()
    exchange.set_markets([exchange.parse_market(dict(metas[0]["universe"][0], baseId=0))])
    return exchange


def test_registry_finds_the_dialect() -> None:
    assert isinstance(dialect_for("hyperliquid"), HyperliquidDialect)


@given(st.from_regex(HERON_ID, fullmatch=True), st.from_regex(HERON_ID, fullmatch=True))
def test_cloids_are_128_bit_hex_and_distinct(a: str, b: str) -> None:
    dialect = HyperliquidDialect()
    assert dialect.client_id_pattern.fullmatch(dialect.client_id(a))
    assert (dialect.client_id(a) == dialect.client_id(b)) == (a == b)


def test_liquidation_fill_from_the_user_stream(hyperliquid: Any) -> None:
    raw = json.loads(need(DATA / "fixtures" / "ws_user_fill_liquidation.json").read_text())
    (row,) = raw["data"]["fills"]
    inst = perp("BTC", 5)
    fill = HyperliquidDialect().parse_fill(hyperliquid.parse_trade(row), inst)
    assert fill.trade_id == str(row["tid"]) and fill.venue_order_id == str(row["oid"])
    assert fill.quantity == inst.lots(Decimal(row["sz"])) == 100
    assert fill.price == inst.ticks(Decimal(row["px"]))
    assert fill.fee == Decimal(row["fee"]) and fill.fee_currency == row["feeToken"]
    assert fill.client_order_id == row["cloid"]
    assert fill.side is OrderSide.SELL and fill.liquidity == "maker"


def test_2023_user_fills_are_exact_and_get_distinct_ids(hyperliquid: Any) -> None:
    meta = json.loads(need(DATA / "rest_info_meta_2023-07-17.json").read_text())
    decimals = {row["name"]: row["szDecimals"] for row in meta["universe"]}
    rows = json.loads(need(DATA / "rest_info_userFills_2023-05-05.json").read_text())
    dialect, ids = HyperliquidDialect(), set()
    for row in rows:
        inst = perp(row["coin"], decimals[row["coin"]])
        fill = dialect.parse_fill(hyperliquid.parse_trade(row), inst)
        assert fill.quantity == inst.lots(Decimal(row["sz"]))
        assert fill.price == inst.ticks(Decimal(row["px"]))
        assert fill.fee == Decimal(row["fee"])
        assert fill.side is (OrderSide.SELL if row["side"] == "A" else OrderSide.BUY)
        ids.add(fill.trade_id)
    assert len(ids) == len(rows) == 500


def cmd(kind: OrderType, side: OrderSide = OrderSide.BUY, **extra: Any) -> SubmitOrder:
    return SubmitOrder(0, 0, "H-mm-3", "mm", "BTC.HYPERLIQUID", side, kind, 100, **extra)


def action(exchange: Any, order: SubmitOrder) -> dict[str, Any]:
    """The order ccxt would sign for the dialect's arguments (nothing is sent)."""
    dialect = HyperliquidDialect()
    args = dialect.order_args(order, perp("BTC", 5), SYMBOL,
                              dialect.client_id(order.client_order_id))
    built: dict[str, Any] = exchange.create_order_request(*args.call_args())
    return built


def test_order_actions(hyperliquid: Any) -> None:
    cloid = HyperliquidDialect().client_id("H-mm-3")
    post = action(hyperliquid, cmd(OrderType.LIMIT, price=666_530, post_only=True,
                                   reduce_only=True))
    assert post == {"a": 0, "b": True, "p": "66653", "s": "0.001", "r": True,
                    "t": {"limit": {"tif": "Alo"}}, "c": cloid}
    ioc = action(hyperliquid, cmd(OrderType.LIMIT, price=666_530,
                                  time_in_force=TimeInForce.IOC))
    assert ioc["t"] == {"limit": {"tif": "Ioc"}}
    market = action(hyperliquid, cmd(OrderType.MARKET, OrderSide.SELL, decision_price=666_530))
    assert market["t"] == {"limit": {"tif": "Ioc"}}
    assert Decimal(market["p"]) == Decimal("63320")  # 66653 less 5%, 5 significant figures
    stop = action(hyperliquid, cmd(OrderType.STOP, OrderSide.SELL, trigger_price=660_000))
    assert stop["t"] == {"trigger": {"isMarket": True, "triggerPx": "66000", "tpsl": "sl"}}


def test_what_hyperliquid_cannot_take_is_refused_before_sending(hyperliquid: Any) -> None:
    with pytest.raises(ValueError, match="decision_price"):
        action(hyperliquid, cmd(OrderType.MARKET))
    with pytest.raises(ValueError, match="significant"):
        action(hyperliquid, cmd(OrderType.LIMIT, price=666_535))  # ccxt would round it
    check_price(Decimal("123456"))  # whole numbers always pass
    check_price(Decimal("0.00012345"))


@pytest.mark.parametrize(("words", "kind"), [
    ("Post only order would have immediately matched, bbo was 1@2", Refusal.POST_ONLY),
    ("Insufficient margin to place order. asset=0", Refusal.BALANCE),
    ("Reduce only order would increase position. asset=0", Refusal.REDUCE_ONLY),
    ("Order must have minimum value of $10. asset=0", Refusal.INVALID),
    ("Order was never placed, already canceled, or filled. asset=0", Refusal.NOT_FOUND)])
def test_error_sentences_become_heron_refusals(words: str, kind: Refusal) -> None:
    exc = ccxt.InvalidOrder(f'hyperliquid {{"status":"err","response":"{words}"}}')
    assert HyperliquidDialect().refusal(exc, "the order").kind == kind.value
