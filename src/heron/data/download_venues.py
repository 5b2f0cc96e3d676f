"""The ccxt side of :mod:`heron.data.download`: venues, clients, markets, retries.

Kept apart from the pagination so that the few places that know ccxt's shapes (its
``urls['api']`` tree, its market dicts, its exception classes) are in one file, and
the untyped library stays behind typed functions.

Retry policy (``RetryPolicy``): a ccxt ``NetworkError`` -- which covers
``RequestTimeout``, ``ExchangeNotAvailable``, ``DDoSProtection`` and
``RateLimitExceeded`` -- is retried up to ``attempts`` times in all, waiting
``base_s * 2**n`` seconds (capped at ``max_s``) or the venue's ``Retry-After`` when it
sent a longer one. What is still failing after that is a :class:`VenueUnavailable`
(try again later). An ``ExchangeError`` (bad symbol, bad parameters, no permission) is
never retried: it is a :class:`~heron.errors.DataError` naming the symbol.

What each venue's public REST history gives (ccxt 4.5): Binance USD-M, OKX, Alpaca:
bars, trades and funding (Alpaca: no funding, spot only). Bybit v5: bars and funding by
time; trades only as GET /v5/market/recent-trade, the latest 1000 (linear) or 60 (spot)
with no time parameter, so a trades download stores that one page. Hyperliquid: bars and
funding; no public trades (ccxt's fetch_trades is a wallet's userFills), refused. MEXC:
bars; trades refused (no trade ids); funding through GET
/api/v1/contract/funding_rate/history pages by page number, newest first, and ccxt takes
no time parameter for it, so a funding download gets the newest page (20 to 100 rows)
only.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import ccxt

from heron.errors import DataError, InvalidConfiguration, VenueUnavailable
from heron.model.instrument import Instrument, InstrumentKind

__all__ = ["VENUES", "RetryPolicy", "VenueUnavailable", "bar_volume_unit", "catalog_symbol",
           "credentials", "instrument_of", "make_client", "market_named", "resolve_market",
           "retrying", "with_endpoint"]

VENUES: Mapping[str, str] = {
    "binanceusdm": "BINANCE_USDM",
    "okx": "OKX",
    "bybit": "BYBIT",
    "hyperliquid": "HYPERLIQUID",
    "mexc": "MEXC",
    "alpaca": "ALPACA",
}
"""ccxt exchange id -> heron venue name (the catalog's venue directory)."""

# Alpaca lists its markets through the trading API only, which needs a key even for
# public crypto data; these are the names Alpaca's own SDKs read.
_CREDENTIALS: Mapping[str, tuple[str, str]] = {
    "alpaca": ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"),
}
_CLOSE_MATCHES = 5

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a request that failed for a passing reason."""

    attempts: int = 6  # tries in all, the first included
    base_s: float = 1.0  # first wait; doubles each time
    max_s: float = 60.0  # longest wait, Retry-After included
    sleep: Callable[[float], None] = time.sleep  # swapped in tests to record the waits

    def delay(self, failures: int, retry_after_s: float | None) -> float:
        """The wait before the next try after ``failures`` failed ones (1, 2, ...)."""
        backoff = self.base_s * 2.0 ** (failures - 1)
        wanted = max(backoff, retry_after_s or 0.0)
        return min(wanted, self.max_s)


def make_client(venue: str, *, endpoint: str | None,
                rate_limit_ms: int | None = None) -> Any:
    """A synchronous ccxt client for ``venue`` with ccxt's rate limiter on.

    ``rate_limit_ms`` overrides ccxt's spacing between requests (tests set it low;
    leave it ``None`` against a real venue).
    """
    if venue not in VENUES:
        raise InvalidConfiguration(f"unknown venue {venue!r}; use one of {', '.join(VENUES)}")
    config: dict[str, Any] = {"enableRateLimit": True, **credentials(venue)}
    if rate_limit_ms is not None:
        config["rateLimit"] = rate_limit_ms
    client = getattr(ccxt, venue)(config)
    if endpoint is not None:
        client.urls["api"] = with_endpoint(client.urls["api"], endpoint)
    return client


def credentials(venue: str) -> dict[str, str]:
    """ccxt's ``apiKey`` and ``secret`` for a venue that wants keys even for public data,
    from the environment variables its own SDKs read; ``{}`` for the others.

    Missing keys are an :class:`InvalidConfiguration` naming the variables to set, raised
    before anything is sent (the live feeds of Alpaca use the same keys and check them
    here too).
    """
    key_names = _CREDENTIALS.get(venue)
    if key_names is None:
        return {}
    key, secret = (os.environ.get(name, "") for name in key_names)
    if not (key and secret):
        raise InvalidConfiguration(f"{venue} lists its markets through an authenticated "
                                   f"API: set {key_names[0]} and {key_names[1]}")
    return {"apiKey": key, "secret": secret}


def with_endpoint(urls: Any, endpoint: str) -> Any:
    """``urls`` (ccxt's ``urls['api']``: a URL or a nested dict of them) with every
    scheme and host replaced by ``endpoint``'s, paths and queries kept.

    ccxt builds a request URL as ``urls['api'][section] + path``, so swapping the hosts
    sends every REST call to ``endpoint`` unchanged otherwise: a local test server, a
    recording proxy or a regional mirror. Hosts that are templates (OKX's
    ``https://{hostname}``) are replaced too.
    """
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidConfiguration(f"--endpoint {endpoint!r} is not an http(s) URL with a "
                                   "host; e.g. http://127.0.0.1:8080")
    if isinstance(urls, str):
        old = urlsplit(urls)
        return urlunsplit((parts.scheme, parts.netloc, old.path, old.query, old.fragment))
    if isinstance(urls, dict):
        return {key: with_endpoint(value, endpoint) for key, value in urls.items()}
    return urls


def retrying(client: Any, call: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """``call()``, retried on passing failures as :class:`RetryPolicy` says.

    ``what`` names the request in the error message (``"BTC/USDT:USDT bars"``).
    """
    failures = 0
    while True:
        try:
            return call()
        except ccxt.NetworkError as exc:
            failures += 1
            if failures >= policy.attempts:
                raise VenueUnavailable(
                    f"{client.id}: {what} still failing after {failures} tries "
                    f"({type(exc).__name__}: {_first_line(exc)}); try again later, the "
                    "download resumes where the catalog ends") from None
            policy.sleep(policy.delay(failures, _retry_after(client)))
        except ccxt.ExchangeError as exc:
            raise DataError(f"{client.id} refused {what} ({type(exc).__name__}: "
                            f"{_first_line(exc)}); check the symbol, kind and dates") from None


def _retry_after(client: Any) -> float | None:
    """The ``Retry-After`` seconds of the last response, if the venue sent a number."""
    headers = getattr(client, "last_response_headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None  # an HTTP date: fall back to the backoff
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def resolve_market(client: Any, symbol: str, policy: RetryPolicy) -> dict[str, Any]:
    """The ccxt market for ``symbol`` (unified ``BTC/USDT:USDT`` or the venue's id
    ``BTCUSDT``), or a :class:`DataError` listing the closest names the venue has."""
    retrying(client, client.load_markets, policy, "the market list")
    return market_named(client, symbol)


def market_named(client: Any, symbol: str) -> dict[str, Any]:
    """:func:`resolve_market` on a client whose markets are loaded (sync or async)."""
    markets: dict[str, Any] = client.markets
    if symbol in markets:
        return dict(markets[symbol])
    by_id = client.markets_by_id or {}
    if by_id.get(symbol):
        return dict(by_id[symbol][0])
    for market in markets.values():  # heron's own name (Hyperliquid's coin, e.g. "BTC")
        if market.get("swap") and catalog_symbol(client.id, market) == symbol:
            return dict(market)
    names = list(markets) + [name for name in by_id if name not in markets]
    folded = {name.upper(): name for name in names}
    close = difflib.get_close_matches(symbol.upper(), list(folded), n=_CLOSE_MATCHES,
                                      cutoff=0.5)
    hint = ", ".join(folded[name] for name in close) or "none close"
    raise DataError(f"{client.id} has no market {symbol!r} (closest: {hint}); use a ccxt "
                    "symbol such as BTC/USDT:USDT or the venue's own id")


def catalog_symbol(venue: str, market: Mapping[str, Any]) -> str:
    """The symbol the catalog files the market under: the venue's own id (``BTCUSDT``,
    ``BTC-USDT-SWAP``), as archives and captures of the same venue are filed, except on
    Hyperliquid, whose ids are asset numbers: there the coin name (``BTC``)."""
    info = market.get("info") or {}
    if venue == "hyperliquid" and market.get("swap") and info.get("name"):
        return str(info["name"])
    return str(market["id"])


def instrument_of(client: Any, market: Mapping[str, Any]) -> Instrument:
    """The heron :class:`Instrument` of a ccxt market: tick and lot from its precision
    (a tick size, or a number of decimal places, depending on the client's
    ``precisionMode``), minimums, fees, and the contract size as the multiplier."""
    symbol = catalog_symbol(client.id, market)
    if market.get("swap") and market.get("linear"):
        kind = InstrumentKind.LINEAR_PERPETUAL
    elif market.get("spot"):
        kind = InstrumentKind.SPOT
    else:
        raise DataError(f"{client.id} {market.get('symbol')}: heron holds spot markets and "
                        "linear perpetuals only; this one is "
                        f"{market.get('type')} ({'inverse' if market.get('inverse') else ''})")
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    return Instrument(
        symbol=symbol, venue=VENUES[client.id], kind=kind,
        price_increment=_increment(client, precision.get("price"), "price", market),
        size_increment=_increment(client, precision.get("amount"), "amount", market),
        min_quantity=_decimal((limits.get("amount") or {}).get("min")),
        min_notional=_decimal((limits.get("cost") or {}).get("min")),
        maker_fee=_decimal(market.get("maker")), taker_fee=_decimal(market.get("taker")),
        multiplier=_decimal(market.get("contractSize")) or Decimal(1),
        quote_currency=str(market.get("quote") or "USD"))


def bar_volume_unit(client: Any, market: Mapping[str, Any]) -> Decimal:
    """What ccxt's OHLCV volume for ``market`` must be divided by to count contracts.

    Heron counts bar volume in the instrument's lots, i.e. in contracts, as trades are.
    ccxt gives OKX derivative bars the ``volCcy`` column (base currency: contracts times
    ``ctVal``) rather than ``vol`` (contracts), so there it is the contract size; every
    other venue's bar volume is already in contracts (or its contract size is 1): 1."""
    if client.id == "okx" and market.get("contract"):
        return _decimal(market.get("contractSize")) or Decimal(1)
    return Decimal(1)


def _increment(client: Any, value: object, what: str, market: Mapping[str, Any]) -> Decimal:
    """A ccxt precision as an increment: a tick size as it is; decimal places ``n``
    as ``10**-n``. Significant digits give no fixed grid, so they are refused."""
    if value is None:
        raise DataError(f"{client.id} {market.get('symbol')}: the venue gives no {what} "
                        "precision, so there is no grid to store it on")
    mode = client.precisionMode
    if mode == ccxt.TICK_SIZE:
        return Decimal(str(value))
    if mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(Decimal(str(value))))
    raise DataError(f"{client.id}: precision mode {mode} (significant digits) has no fixed "
                    f"{what} grid; heron cannot store this venue's prices exactly")


def _decimal(value: object) -> Decimal:
    """A ccxt number (float, str or None) as the Decimal it was printed as; ``None`` -> 0.

    ``str`` of a float is its shortest round-tripping form, which is the venue's own
    text for every value with up to 15 significant digits.
    """
    return Decimal(0) if value is None else Decimal(str(value))
