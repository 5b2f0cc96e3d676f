"""Alpaca crypto's dialect. No private Alpaca crypto reply is recorded in the shared
data, so this tests client ids, the refusals before sending of what Alpaca crypto cannot
take, the arguments ccxt's ``create_order`` reads, and error mapping."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderType, TimeInForce
from heron.venues.alpaca.orders import AlpacaCryptoDialect
from heron.venues.ccxt.dialect import dialect_for
from heron.venues.errors import Refusal

INST = Instrument("BTC/USD", venue="ALPACA", price_increment=Decimal("0.01"),
                  size_increment=Decimal("0.000000001"), quote_currency="USD")


def cmd(kind: OrderType, **extra: Any) -> SubmitOrder:
    return SubmitOrder(0, 0, "H-mm-5", "mm", INST.id, OrderSide.BUY, kind,
                       1_000_000, **extra)


def test_registry_and_replace_is_not_an_amend() -> None:
    dialect = dialect_for("alpaca")
    assert isinstance(dialect, AlpacaCryptoDialect) and not dialect.supports_amend
    assert dialect.client_id("RUNTAG12-strategy1234-123456789012") == \
        "RUNTAG12-strategy1234-123456789012"


def test_stop_limit_arguments() -> None:
    args = AlpacaCryptoDialect().order_args(
        cmd(OrderType.STOP_LIMIT, price=5_000_000, trigger_price=5_100_000,
            time_in_force=TimeInForce.IOC), INST, "BTC/USD", "H-mm-5")
    assert (args.type, args.amount, args.price) == ("limit", "0.001000000", "50000.00")
    assert args.params == {"clientOrderId": "H-mm-5", "triggerPrice": "51000.00",
                           "timeInForce": "IOC"}


@pytest.mark.parametrize(("order", "words"), [
    (cmd(OrderType.STOP, trigger_price=5_100_000), "market, limit and stop-limit"),
    (cmd(OrderType.LIMIT, price=1, time_in_force=TimeInForce.FOK), "not fok"),
    (cmd(OrderType.LIMIT, price=1, post_only=True), "post-only"),
    (cmd(OrderType.MARKET, reduce_only=True), "reduce-only")])
def test_what_alpaca_crypto_cannot_take_is_refused_before_sending(
        order: SubmitOrder, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        AlpacaCryptoDialect().order_args(order, INST, "BTC/USD", "H-mm-5")


@pytest.mark.parametrize(("reply", "code", "kind"), [
    ('{"code":40310000,"message":"insufficient balance for USD (requested: 9, '
     'available: 1)"}', "balance", Refusal.BALANCE),
    ('{"code":40010001,"message":"client_order_id must be unique"}', "duplicate",
     Refusal.DUPLICATE),
    ('{"code":40410000,"message":"order is not found."}', "40410000", Refusal.NOT_FOUND),
    ('{"code":40110000,"message":"request is not authorized"}', "40110000", Refusal.AUTH)])
def test_alpaca_errors_become_one_heron_refusal(reply: str, code: str, kind: Refusal) -> None:
    refused = AlpacaCryptoDialect().refusal(ccxt.ExchangeError("alpaca " + reply), "the order")
    assert (refused.code, refused.kind) == (code, kind.value)
