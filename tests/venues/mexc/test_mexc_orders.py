"""MEXC's dialect. No private MEXC reply is recorded in the shared data (and MEXC's
futures API refuses order placement to ordinary keys), so this tests what can be
checked without one: client ids, the arguments ccxt's swap ``create_order`` reads,
and error codes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType
from heron.venues.ccxt.dialect import dialect_for
from heron.venues.errors import Refusal
from heron.venues.mexc.orders import MexcDialect

INST = Instrument("BTC_USDT", venue="MEXC", kind=InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.1"), size_increment=Decimal("1"),
                  multiplier=Decimal("0.0001"))


def cmd(kind: OrderType, side: OrderSide = OrderSide.BUY, **extra: Any) -> SubmitOrder:
    return SubmitOrder(0, 0, "H-mm-4", "mm", INST.id, side, kind, 12, **extra)


def test_registry_and_no_amend() -> None:
    dialect = dialect_for("mexc")
    assert isinstance(dialect, MexcDialect) and not dialect.supports_amend
    assert "2022-07-25" in MexcDialect.missing_types_reason


def test_externalOid_is_the_heron_id() -> None:
    dialect = MexcDialect()
    args = dialect.order_args(cmd(OrderType.LIMIT, price=500_000, post_only=True), INST,
                              "BTC/USDT:USDT", dialect.client_id("H-mm-4"))
    assert args.params == {"externalOid": "H-mm-4", "postOnly": True}
    assert (args.type, args.amount, args.price) == ("limit", "12", "50000.0")


def test_stops_are_plan_orders_with_a_direction() -> None:
    dialect = MexcDialect()
    buy = dialect.order_args(cmd(OrderType.STOP, trigger_price=510_000), INST,
                             "BTC/USDT:USDT", "H-mm-4")
    assert buy.params["triggerPrice"] == "51000.0" and buy.params["triggerType"] == 1
    sell = dialect.order_args(cmd(OrderType.STOP_LIMIT, OrderSide.SELL, price=480_000,
                                  trigger_price=490_000), INST, "BTC/USDT:USDT", "H-mm-4")
    assert sell.params["triggerType"] == 2 and sell.type == "limit"


@pytest.mark.parametrize(("code", "kind"), [
    ("604", Refusal.UNAVAILABLE), ("602", Refusal.AUTH), ("513", Refusal.CLOCK),
    ("2005", Refusal.BALANCE), ("1001", Refusal.SYMBOL), ("2011", Refusal.INVALID)])
def test_mexc_codes_become_one_heron_refusal(code: str, kind: Refusal) -> None:
    reply = f'mexc {{"success":false,"code":{code},"message":"MEXC says no"}}'
    refused = MexcDialect().refusal(ccxt.ExchangeError(reply), "the order")
    assert (refused.code, refused.kind) == (code, kind.value)
    assert "MEXC says no" in str(refused)
