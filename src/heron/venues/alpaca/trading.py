"""Alpaca's trading API, as the live feeds need it: the keys, the assets, the market clock.

Alpaca serves market data to API keys only, and lists what can be traded (the tick, the
lot, the minimum order) through its *trading* API: ``GET /v2/assets`` (crypto, read by
ccxt) and ``GET /v2/assets/{symbol}`` (US equities, read here). Both feeds take the keys
from ``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``, as Alpaca's SDKs and
``heron data download --venue alpaca`` do, and the trading API's address from
``APCA_API_BASE_URL`` when it is set (paper-account keys are refused by the live
``https://api.alpaca.markets``: ``https://paper-api.alpaca.markets`` then).

**An equity's grid.** Alpaca's asset body says nothing of a price step for equities, so
heron picks one that holds every price Alpaca's stream prints: US equities quote in
cents above $1 and in $0.0001 below (SEC Rule 612), and trades print in $0.0001 at any
price (midpoint and average-price executions: the recorded AAPL trades include
161.2958), so the tick is **0.0001**. An order at a sub-penny limit above $1 is still
refused by Alpaca; heron's paper venue does not know that rule. The lot is Alpaca's own
order increment: **1e-9 share** for a ``fractionable`` asset (Alpaca takes quantities to
nine decimals there, from $1 of notional), **1 share** otherwise. The stream's sizes are
whole shares, on either grid; 1e-9 still leaves 9.2 billion shares in a signed 64-bit
count. Equities trade commission-free at Alpaca: fees 0 (the SEC and FINRA fees on
sales, a few millionths of the notional, are left out).
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from heron.data.download_venues import credentials
from heron.data.feeds.backoff import Backoff
from heron.errors import DataError, InvalidConfiguration, VenueUnavailable
from heron.model.instrument import Instrument, InstrumentKind
from heron.venues.alpaca.text import rfc3339_ns

__all__ = ["LIVE_TRADING_URL", "VENUE", "MarketClock", "TradingApi", "equity_instrument",
           "keys", "trading_url"]

LIVE_TRADING_URL = "https://api.alpaca.markets"
VENUE = "ALPACA"  # the catalog's venue for Alpaca, crypto and equities alike
_EQUITY_TICK = Decimal("0.0001")
_FRACTIONAL_LOT = Decimal("0.000000001")
_FRACTIONAL_MIN_NOTIONAL = Decimal(1)
_CLOSE_MATCHES = 5
_ERROR_TEXT = 300  # characters of a refusal quoted in the error
_TIMEOUT_S = 15.0


def keys() -> dict[str, str]:
    """``{"apiKey": ..., "secret": ...}`` from the environment, or an
    :class:`~heron.errors.InvalidConfiguration` naming the two variables to set."""
    return credentials("alpaca")


def trading_url() -> str:
    """The trading API to ask: ``APCA_API_BASE_URL`` (its ``/v2`` dropped) or the live one."""
    url = os.environ.get("APCA_API_BASE_URL", "").strip().rstrip("/")
    if not url:
        return LIVE_TRADING_URL
    url = url.removesuffix("/v2")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidConfiguration(f"APCA_API_BASE_URL={url!r} is not an http(s) URL; e.g. "
                                   "https://paper-api.alpaca.markets for paper-account keys")
    return url


def equity_instrument(asset: Mapping[str, Any]) -> Instrument:
    """The heron instrument of a ``GET /v2/assets/{symbol}`` body (see the module docstring
    for the tick and lot). A newer body's ``min_trade_increment`` and ``min_order_size``
    are Alpaca's own word on the lot and minimum, and win when present."""
    fractional = asset.get("fractionable") is True
    lot = _FRACTIONAL_LOT if fractional else Decimal(1)
    lot = Decimal(str(asset.get("min_trade_increment") or lot))
    return Instrument(
        symbol=str(asset["symbol"]), venue=VENUE, kind=InstrumentKind.SPOT,
        price_increment=_EQUITY_TICK, size_increment=lot,
        min_quantity=Decimal(str(asset.get("min_order_size") or lot)),
        min_notional=_FRACTIONAL_MIN_NOTIONAL if fractional else Decimal(0),
        quote_currency="USD")


@dataclass(slots=True)
class MarketClock:
    """``GET /v2/clock``: whether the regular session is open, and when that changes.

    The stream is quiet while the market is closed (nights, weekends, holidays; the
    extended hours thinly), so a feed must not call that silence a dead connection.
    """

    is_open: bool
    next_open_ns: int
    next_close_ns: int

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> MarketClock:
        return cls(body["is_open"] is True, rfc3339_ns(str(body["next_open"])),
                   rfc3339_ns(str(body["next_close"])))

    def open_at(self, now: int) -> bool:
        """Open at ``now`` by this clock (after its next close: closed until re-read)."""
        return (self.is_open or now >= self.next_open_ns) and now < self.next_close_ns

    @property
    def changes_ns(self) -> int:
        """When this clock is out of date and should be read again."""
        return self.next_close_ns if self.is_open else self.next_open_ns


class TradingApi:
    """GET requests to the trading API with the keys, retried on passing failures.

    A refusal of the keys (401, 403) is an :class:`InputError` that names the variables;
    network errors, 429 and 5xx are tried ``attempts`` times with ``backoff``, then a
    :class:`VenueUnavailable`.
    """

    def __init__(self, base_url: str, api_keys: Mapping[str, str], *, attempts: int,
                 backoff: Callable[[], Backoff]) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"APCA-API-KEY-ID": api_keys["apiKey"],
                         "APCA-API-SECRET-KEY": api_keys["secret"]}
        self._attempts = max(1, attempts)
        self._backoff = backoff

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON body of ``GET path``; ``None`` for a 404."""
        backoff = self._backoff()
        timeout = aiohttp.ClientTimeout(total=_TIMEOUT_S)
        for attempt in range(1, self._attempts + 1):
            try:
                async with aiohttp.ClientSession(timeout=timeout) as http, http.get(
                        self.base_url + path, params=params, headers=self._headers) as reply:
                    status, text = reply.status, await reply.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
            if status == 200:
                return _json(text, path)
            if status == 404:
                return None
            if status in (401, 403):
                raise InvalidConfiguration(
                    f"alpaca refused the keys for GET {path} ({status} "
                    f"{text.strip()[:_ERROR_TEXT]}); check APCA_API_KEY_ID and "
                    "APCA_API_SECRET_KEY (paper-account keys need "
                    "APCA_API_BASE_URL=https://paper-api.alpaca.markets)")
            if status not in (0, 429) and status < 500:
                raise DataError(f"alpaca refused GET {path} ({status} "
                                f"{text.strip()[:_ERROR_TEXT]})")
            if attempt == self._attempts:
                raise VenueUnavailable(
                    f"alpaca: GET {self.base_url}{path} still failing after {attempt} tries "
                    f"({status or 'no answer'}: {text.strip()[:_ERROR_TEXT]}); check the "
                    "network or --endpoint")
            await asyncio.sleep(backoff.next_delay())
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def equity(self, symbol: str) -> dict[str, Any]:
        """The US-equity asset ``symbol``, or an :class:`InputError` with the closest
        symbols Alpaca has (a crypto pair is sent to ``--venue alpaca``)."""
        asset = await self.get(f"/v2/assets/{quote(symbol, safe='')}")
        if asset is None:
            raise DataError(f"alpaca has no US equity {symbol!r} (closest: "
                            f"{await self._closest(symbol)}); use the ticker, e.g. AAPL")
        if not isinstance(asset, dict) or "symbol" not in asset:
            raise DataError(f"alpaca answered GET /v2/assets/{symbol} with {asset!r:.200}")
        if asset.get("class") != "us_equity":
            raise DataError(f"alpaca {symbol} is a {asset.get('class')} asset, not a US "
                            "equity: stream it with --venue alpaca")
        if asset.get("status") != "active":
            raise DataError(f"alpaca {symbol} is {asset.get('status')}: no data streams for it")
        return asset

    async def clock(self) -> MarketClock:
        body = await self.get("/v2/clock")
        try:
            return MarketClock.from_body(body)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"alpaca answered GET /v2/clock with {body!r:.200} "
                            f"({type(exc).__name__}: {exc})") from None

    async def _closest(self, symbol: str) -> str:
        """Up to five active equity symbols nearest ``symbol``, for the error message."""
        assets = await self.get("/v2/assets", {"status": "active", "asset_class": "us_equity"})
        names = [str(a.get("symbol")) for a in assets or [] if isinstance(a, dict)]
        close = difflib.get_close_matches(symbol.upper(), names, n=_CLOSE_MATCHES, cutoff=0.5)
        return ", ".join(close) or "none close"


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise DataError(f"alpaca answered GET {path} with text that is not JSON: "
                        f"{text[:_ERROR_TEXT]!r}") from None
