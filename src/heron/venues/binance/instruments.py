"""Binance's three markets and the instruments they list, from exchangeInfo or from data.

Binance runs three separate venues behind one brand: spot (``stream.binance.com``,
``api.binance.com``), USD-M futures (``fstream``/``fapi``: linear, margined in USDT or
USDC) and COIN-M futures (``dstream``/``dapi``: inverse, margined in the coin).
Their messages look alike but differ where it matters: spot diff-depth ids are
contiguous (``U`` = previous ``u`` + 1), futures ids are not and each message names
its predecessor in ``pu``. :class:`BinanceMarket` carries those differences.

Instruments come from the venue's ``exchangeInfo`` body when one is at hand
(:func:`instruments_from_exchange_info`: ``tickSize``/``stepSize`` are the real grid).
Without it, :func:`inferred_instrument` builds the grid from the *number of decimals
Binance prints*: every price and size of a symbol is formatted to the same width
(USD-M BTCUSDT ``"61800.20"``/``"0.014"``, spot ``"61837.63000000"``), so that width
holds every value exactly and is the same in every capture of the symbol, which keeps
the catalog from refusing a second capture for a different grid. It is finer than the
real tick (USD-M BTCUSDT: 0.01 against 0.10; spot: 1e-8), never coarser. Two imports
of one symbol must use the same source of grid: the catalog refuses a second grid.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from operator import itemgetter
from pathlib import PurePath
from urllib.parse import urlsplit

import msgspec

from heron.errors import DataError, InvalidConfiguration
from heron.model.book import ContiguousSequence, LinkedSequence, SequenceRule
from heron.model.instrument import Instrument, InstrumentKind
from heron.venues.binance.parse import (
    AggTradeMsg,
    BinanceMessage,
    BookTickerMsg,
    DepthSnapshotMsg,
    DepthUpdateMsg,
    ForceOrderMsg,
    TradeMsg,
    decimal_places,
)

__all__ = ["BinanceMarket", "DecimalsSeen", "inferred_instrument",
           "instruments_from_exchange_info"]

# The model has no inverse-perpetual kind yet. Until it has, COIN-M instruments are
# marked linear: that matters to margin arithmetic only, not to the grid the catalog keeps.
_INVERSE = InstrumentKind.__members__.get("INVERSE_PERPETUAL", InstrumentKind.LINEAR_PERPETUAL)

# Quote assets Binance lists, longest first so that "FDUSD" wins over "USD".
_QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR",
                 "TRY", "BRL", "JPY")


class BinanceMarket(enum.Enum):
    """One of Binance's three market venues; the value is heron's venue name."""

    SPOT = "BINANCE"
    USDM = "BINANCE_USDM"
    COINM = "BINANCE_COINM"

    @property
    def venue(self) -> str:
        return self.value

    @property
    def kind(self) -> InstrumentKind:
        if self is BinanceMarket.SPOT:
            return InstrumentKind.SPOT
        return InstrumentKind.LINEAR_PERPETUAL if self is BinanceMarket.USDM else _INVERSE

    def sequence_rule(self) -> SequenceRule:
        """How diff-depth ids chain: contiguous on spot, linked by ``pu`` on futures."""
        return ContiguousSequence() if self is BinanceMarket.SPOT else LinkedSequence()

    @classmethod
    def from_venue(cls, name: str) -> BinanceMarket:
        """The market named ``name`` (``BINANCE``, ``BINANCE_USDM``, ``BINANCE_COINM``)."""
        for market in cls:
            if market.value == name.strip().upper():
                return market
        names = ", ".join(m.value for m in cls)
        raise InvalidConfiguration(f"unknown Binance venue {name!r}; use one of {names}")

    @classmethod
    def from_url(cls, url: str) -> BinanceMarket | None:
        """The market a WebSocket or REST URL belongs to, or ``None`` if not Binance's."""
        host = urlsplit(url).hostname or ""
        if not host.endswith(("binance.com", "binancefuture.com", "binance.vision")):
            return None
        if host.startswith(("dstream", "dapi")):
            return cls.COINM
        if host.startswith(("fstream", "fapi")) or host.endswith("binancefuture.com"):
            return cls.USDM
        return cls.SPOT

    @classmethod
    def from_path(cls, path: PurePath) -> BinanceMarket | None:
        """The market a file's path names (``binance_usdm/...``, ``.../spot/...``), if any.

        Recorders put the market in a directory or file name: hftbacktest's
        ``examples/usdm/``, ``examples/cm/``, ``examples/spot/``; cryptofeed's
        ``BINANCE_FUTURES`` (USD-M) and ``BINANCE_DELIVERY`` (COIN-M). Whole words count,
        the innermost part first.
        """
        for part in reversed(path.parts):
            name = part.lower()
            for joined in ("coin", "usd"):
                name = name.replace(f"{joined}-m", f"{joined}m").replace(f"{joined}_m",
                                                                          f"{joined}m")
            words = set(re.split(r"[^a-z0-9]+", name))
            for market, names in _PATH_WORDS:
                if words & names:
                    return market
        return None


_PATH_WORDS = (
    (BinanceMarket.COINM, frozenset({"coinm", "cm", "delivery", "dstream"})),
    (BinanceMarket.USDM, frozenset({"usdm", "um", "futures", "fstream"})),
    (BinanceMarket.SPOT, frozenset({"spot"})),
)


def _quote_asset(symbol: str) -> str:
    """The quote asset a symbol ends with (``BTCUSD_PERP`` -> ``USD``), a guess by suffix."""
    pair = symbol.partition("_")[0]
    for asset in _QUOTE_ASSETS:
        if pair.endswith(asset) and len(pair) > len(asset):
            return asset
    return "USD"


def inferred_instrument(symbol: str, market: BinanceMarket, price_places: int,
                        size_places: int) -> Instrument:
    """An instrument whose tick and lot are one unit of the decimals Binance prints.

    Used when no exchangeInfo body is available; see the module docstring for why the
    printed width (not the finest digit actually used) is the grid. Limits and fees are
    unknown and left at zero; the quote asset is guessed from the symbol's suffix.
    """
    return Instrument(
        symbol=symbol, venue=market.venue, kind=market.kind,
        price_increment=Decimal(1).scaleb(-price_places),
        size_increment=Decimal(1).scaleb(-size_places),
        quote_currency=_quote_asset(symbol),
    )


class _Filter(msgspec.Struct, frozen=True, rename="camel"):
    filter_type: str
    tick_size: str | None = None
    step_size: str | None = None
    min_qty: str | None = None
    notional: str | None = None      # USD-M MIN_NOTIONAL
    min_notional: str | None = None  # spot MIN_NOTIONAL / NOTIONAL


class _Symbol(msgspec.Struct, frozen=True, rename="camel"):
    symbol: str
    filters: list[_Filter]
    quote_asset: str = "USD"
    contract_size: int | None = None  # COIN-M: USD per contract
    required_margin_percent: str | None = None
    maint_margin_percent: str | None = None


class _ExchangeInfo(msgspec.Struct, frozen=True):
    symbols: list[_Symbol]


_EXCHANGE_INFO = msgspec.json.Decoder(_ExchangeInfo)


def instruments_from_exchange_info(body: bytes | str,
                                   market: BinanceMarket) -> dict[str, Instrument]:
    """Every symbol of an ``exchangeInfo`` response body, by Binance symbol.

    Symbols without a ``PRICE_FILTER`` tick or a ``LOT_SIZE`` step are left out (Binance
    lists none such for trading symbols). A body that is not an exchangeInfo response
    raises :class:`DataError`: it is a file the user chose, not a live message.
    """
    try:
        info = _EXCHANGE_INFO.decode(body)
    except msgspec.DecodeError as exc:
        raise DataError(f"not a Binance exchangeInfo body ({exc}); pass the saved "
                        "response of /exchangeInfo") from None
    out: dict[str, Instrument] = {}
    for sym in info.symbols:
        filters = {f.filter_type: f for f in sym.filters}
        price, lot = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
        if price is None or lot is None or not price.tick_size or not lot.step_size:
            continue
        out[sym.symbol] = _instrument(sym, filters, market, price.tick_size, lot.step_size)
    return out


def _instrument(sym: _Symbol, filters: Mapping[str, _Filter], market: BinanceMarket,
                tick: str, step: str) -> Instrument:
    notional = filters.get("MIN_NOTIONAL") or filters.get("NOTIONAL")
    min_notional = (notional.notional or notional.min_notional) if notional else None
    margin_init = margin_maint = None
    if sym.required_margin_percent and sym.maint_margin_percent:
        margin_init = Decimal(sym.required_margin_percent).scaleb(-2)
        margin_maint = Decimal(sym.maint_margin_percent).scaleb(-2)
    return Instrument(
        symbol=sym.symbol, venue=market.venue, kind=market.kind,
        price_increment=Decimal(tick).normalize(), size_increment=Decimal(step).normalize(),
        min_quantity=Decimal(filters["LOT_SIZE"].min_qty or 0),
        min_notional=Decimal(min_notional or 0),
        multiplier=Decimal(sym.contract_size or 1), quote_currency=sym.quote_asset,
        margin_init=margin_init if margin_init and margin_init <= 1 else Decimal(1),
        margin_maint=margin_maint or Decimal(0),
    )


_first, _second = itemgetter(0), itemgetter(1)


class DecimalsSeen:
    """The most decimals Binance printed per symbol, for prices and for sizes.

    What :func:`inferred_instrument` needs when no exchangeInfo is at hand. Mark and
    index prices are left out (they are rounded to the tick, and print eight decimals),
    as is a liquidation's average price. Texts are collected in sets (C-speed; prices
    and sizes repeat) and measured once each.
    """

    def __init__(self) -> None:
        self._prices: dict[str, set[str]] = {}
        self._sizes: dict[str, set[str]] = {}

    def add(self, message: BinanceMessage, symbol: str | None = None) -> None:
        """Count ``message``'s texts; ``symbol`` stands in for a snapshot's missing one."""
        prices: Iterable[str]
        sizes: Iterable[str]
        if isinstance(message, DepthUpdateMsg | DepthSnapshotMsg):
            name = message.symbol or symbol
            prices = (*map(_first, message.bids), *map(_first, message.asks))
            sizes = (*map(_second, message.bids), *map(_second, message.asks))
        elif isinstance(message, BookTickerMsg):
            name = message.symbol
            prices, sizes = (message.bid, message.ask), (message.bid_qty, message.ask_qty)
        elif isinstance(message, TradeMsg | AggTradeMsg):
            name, prices, sizes = message.symbol, (message.price,), (message.quantity,)
        elif isinstance(message, ForceOrderMsg):
            o = message.order
            name, prices, sizes = o.symbol, (o.price,), (o.quantity,)
        else:
            name, prices, sizes = message.symbol, (), ()
        if name is not None:
            self._prices.setdefault(name, set()).update(prices)
            self._sizes.setdefault(name, set()).update(sizes)

    @property
    def prices(self) -> dict[str, int]:
        """Symbol -> most decimals in its prices."""
        return {name: max(map(decimal_places, texts), default=0)
                for name, texts in self._prices.items()}

    @property
    def sizes(self) -> dict[str, int]:
        """Symbol -> most decimals in its sizes."""
        return {name: max(map(decimal_places, texts), default=0)
                for name, texts in self._sizes.items()}
