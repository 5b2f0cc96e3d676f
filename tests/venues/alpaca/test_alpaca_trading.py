"""Alpaca's trading-API side of the live feeds: keys, base URL, equity grids, market clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from heron.errors import InvalidConfiguration
from heron.model.instrument import InstrumentKind
from heron.venues.alpaca.feed import CRYPTO_STREAM, AlpacaCryptoAdapter
from heron.venues.alpaca.trading import (
    LIVE_TRADING_URL,
    MarketClock,
    equity_instrument,
    keys,
    trading_url,
)

NS = 1_000_000_000


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "key")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "secret")
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)


def test_keys_come_from_alpacas_own_variables() -> None:
    assert keys() == {"apiKey": "key", "secret": "secret"}


def test_missing_key_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "")
    with pytest.raises(InvalidConfiguration, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        keys()


@pytest.mark.parametrize(("value", "url"), [
    (None, LIVE_TRADING_URL),
    ("https://paper-api.alpaca.markets", "https://paper-api.alpaca.markets"),
    ("https://paper-api.alpaca.markets/v2/", "https://paper-api.alpaca.markets"),
])
def test_trading_url_is_apca_api_base_url_or_the_live_api(
        monkeypatch: pytest.MonkeyPatch, value: str | None, url: str) -> None:
    if value is not None:
        monkeypatch.setenv("APCA_API_BASE_URL", value)
    assert trading_url() == url


def test_trading_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_BASE_URL", "paper-api.alpaca.markets")
    with pytest.raises(InvalidConfiguration, match="APCA_API_BASE_URL"):
        trading_url()


def test_crypto_adapter_gives_ccxt_the_current_stream_the_base_url_and_the_keys(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_BASE_URL", "https://paper-api.alpaca.markets")
    options = dict(AlpacaCryptoAdapter.options)
    assert options == {"urls": {"api": {"trader": "https://paper-api.alpaca.markets",
                                         "ws": {"crypto": CRYPTO_STREAM}}},
                       "apiKey": "key", "secret": "secret"}
    assert CRYPTO_STREAM == "wss://stream.data.alpaca.markets/v1beta3/crypto/us"


def test_fractionable_equity_has_a_ten_thousandth_tick_and_a_billionth_lot() -> None:
    inst = equity_instrument({"symbol": "AAPL", "class": "us_equity", "fractionable": True})
    assert (inst.id, inst.kind, inst.price_increment, inst.size_increment,
            inst.min_quantity, inst.min_notional, inst.taker_fee, inst.quote_currency) == (
        "AAPL.ALPACA", InstrumentKind.SPOT, Decimal("0.0001"), Decimal("1E-9"),
        Decimal("1E-9"), Decimal(1), Decimal(0), "USD")
    assert inst.ticks("161.2958") == 1612958  # a recorded sub-penny trade print


def test_whole_share_equity_trades_in_shares() -> None:
    inst = equity_instrument({"symbol": "BRK.A", "fractionable": False})
    assert (inst.size_increment, inst.min_quantity, inst.min_notional) == (1, 1, 0)


def test_equity_body_with_alpacas_own_increments_wins() -> None:
    inst = equity_instrument({"symbol": "SPY", "fractionable": True,
                              "min_trade_increment": "0.0001", "min_order_size": "0.01"})
    assert (inst.size_increment, inst.min_quantity) == (Decimal("0.0001"), Decimal("0.01"))


def test_clock_open_until_its_close_then_closed_until_read_again() -> None:
    clock = MarketClock.from_body({"timestamp": "2024-03-12T10:00:00.123456789-04:00",
                                   "is_open": True, "next_open": "2024-03-13T09:30:00-04:00",
                                   "next_close": "2024-03-12T16:00:00-04:00"})
    close = 1710273600 * NS  # 2024-03-12T20:00:00Z
    assert clock.next_close_ns == close and clock.changes_ns == close
    assert clock.open_at(close - 1) and not clock.open_at(close)
    assert not clock.open_at(clock.next_open_ns)  # past its close: stale, read it again


def test_closed_clock_opens_at_its_next_open() -> None:
    clock = MarketClock.from_body({"is_open": False, "next_open": "2024-03-13T09:30:00-04:00",
                                   "next_close": "2024-03-13T16:00:00-04:00"})
    assert clock.changes_ns == clock.next_open_ns
    assert not clock.open_at(clock.next_open_ns - 1) and clock.open_at(clock.next_open_ns)
