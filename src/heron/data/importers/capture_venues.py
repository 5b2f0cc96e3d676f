"""Which venue a recorded capture is from, and what importing it needs from that venue.

A capture holds frames and receive times, nothing else: not the venue, not the
instruments. :func:`capture_venue` decides the venue, in this order:

1. ``venue`` (``heron data import --venue``): a catalog venue (``OKX``, ``BYBIT``,
   ``HYPERLIQUID``, ``MEXC``, ``ALPACA``, ``BINANCE_USDM``, ...) or a feed's name
   (``okx``, ``bybitspot``, ``alpaca-stocks``, ``binanceusdm``, ...), any case. A
   capture whose frames are plainly another venue's is refused rather than read as
   nothing but bad messages.
2. The URLs of a cryptofeed session (``ws.okx.com``, ``stream.bybit.com/v5/public/spot``).
3. The frames themselves: each venue's protocol has a shape no other shares (OKX
   ``"arg": {"channel"``, Bybit ``"topic"``, Hyperliquid ``"channel"`` with ``"coin"``,
   MEXC ``"channel": "push.``, Alpaca ``[{"T":``, Binance ``"e":``/``"stream":``).
   Content is trusted over the file's name, so a renamed or moved file still reads.

The folder ``heron record --raw`` writes into (``OKX/``, ``bybitspot/``) decides only what
the frames cannot tell: Bybit spot from Bybit linear (one protocol, one symbol
``BTCUSDT`` for both; linear unless the folder or ``venue`` says spot) and which of
Binance's three markets (:meth:`~heron.venues.binance.BinanceMarket.from_path`).

Per venue, a :class:`CaptureVenue` names the live parser (built with the options the
live feed gives it, so an import reads frames as the feed did), the symbols a frame
names (looked up in the catalog, or given a grid inferred from the data), and the
instrument kind a symbol is. Venues whose sizes count *contracts* (OKX swaps and
futures, every MEXC contract) have no kind here: what one contract is worth is not in
the capture, so their instruments must come from a catalog that holds them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec

from heron.data.importers.instruments import quote_currency
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import Instrument, InstrumentKind
from heron.venues.wire import BadMessage

__all__ = ["BINANCE_NAMES", "CAPTURE_VENUES", "SNIFFED_FRAMES", "BinanceCapture", "CaptureParser",
           "CaptureVenue", "capture_venue", "sniff_family"]

_SPOT, _PERP = InstrumentKind.SPOT, InstrumentKind.LINEAR_PERPETUAL
SNIFFED_FRAMES = 64
"""Frames read to tell the venue by: the first few are often control replies."""

BINANCE_NAMES: Mapping[str, str] = {
    "BINANCE": "BINANCE", "BINANCE_USDM": "BINANCE_USDM", "BINANCE_COINM": "BINANCE_COINM",
    "BINANCEUSDM": "BINANCE_USDM"}
"""Names ``venue`` may give for Binance's markets (any case) -> the catalog venue."""


class CaptureParser(Protocol):
    """A venue's live parser (``heron.venues.<venue>.parse``), as an import uses it."""

    def parse(self, raw: bytes | str, ts_recv: int) -> list[Any] | BadMessage | None: ...


@dataclass(frozen=True, slots=True)
class CaptureVenue:
    """How to import one venue's captures (see the module docstring)."""

    label: str                  # the feed's name: the folder name heron record uses
    venue: str                  # the catalog's venue
    family: str                 # the protocol: every venue of a family reads alike
    names: frozenset[str]       # what ``venue`` or the folder may say, upper case
    parser: Callable[[Mapping[str, Instrument]], CaptureParser]
    symbols: Callable[[bytes | str], list[str]]  # the symbols one frame names
    kind: Callable[[str], InstrumentKind | None]  # None: sizes in contracts (see module)
    quote: Callable[[str], str]
    rest_book: bool = False     # the live feed fetches its book snapshot over REST


@dataclass(frozen=True, slots=True)
class BinanceCapture:
    """A Binance capture: :mod:`heron.data.importers.captures` reads it; ``venue`` is
    the market if something named it, else that module tells it from URLs or path."""

    venue: str | None


# -- parsers, with the options the live feeds give them ---------------------------------------
def _okx_parser(instruments: Mapping[str, Instrument]) -> CaptureParser:
    from heron.venues.okx.parse import OkxParser

    # liquidation-orders come for a whole instrument type: skip the instruments not held,
    # as the live feed does (the capture holds every swap's forced orders)
    return OkxParser(instruments, skip_unheld_liquidations=True)


def _bybit_parser(instruments: Mapping[str, Instrument]) -> CaptureParser:
    from heron.venues.bybit.parse import BybitParser

    return BybitParser(instruments)


def _hyperliquid_parser(instruments: Mapping[str, Instrument]) -> CaptureParser:
    from heron.venues.hyperliquid.parse import HyperliquidParser

    return HyperliquidParser(instruments)


def _mexc_parser(instruments: Mapping[str, Instrument]) -> CaptureParser:
    from heron.venues.mexc.parse import MexcParser

    return MexcParser(instruments)


def _alpaca_parser(instruments: Mapping[str, Instrument]) -> CaptureParser:
    from heron.venues.alpaca.parse import AlpacaParser

    return AlpacaParser(instruments)


# -- the symbols a frame names: cheap probes, before any instrument exists -------------------
class _OkxArg(msgspec.Struct, frozen=True, rename="camel"):
    inst_id: str = ""  # absent on liquidation-orders: those rows are skipped unless held


class _OkxProbe(msgspec.Struct, frozen=True):
    arg: _OkxArg | None = None


class _BybitProbe(msgspec.Struct, frozen=True):
    topic: str | None = None


class _Coin(msgspec.Struct, frozen=True):
    coin: str = ""


class _HyperliquidProbe(msgspec.Struct, frozen=True):
    data: _Coin | list[_Coin] | None = None


class _MexcProbe(msgspec.Struct, frozen=True):
    symbol: Any = None


class _AlpacaRecord(msgspec.Struct, frozen=True):
    S: Any = None  # Alpaca's key: the symbol


_OKX = msgspec.json.Decoder(_OkxProbe)
_BYBIT = msgspec.json.Decoder(_BybitProbe)
_HYPERLIQUID = msgspec.json.Decoder(_HyperliquidProbe)
_MEXC = msgspec.json.Decoder(_MexcProbe)
_ALPACA = msgspec.json.Decoder(list[_AlpacaRecord])


def _okx_symbols(raw: bytes | str) -> list[str]:
    try:
        arg = _OKX.decode(raw).arg
    except msgspec.DecodeError:
        return []  # "pong", or a frame the parser will report
    return [arg.inst_id] if arg is not None and arg.inst_id else []


def _bybit_symbols(raw: bytes | str) -> list[str]:
    try:
        topic = _BYBIT.decode(raw).topic
    except msgspec.DecodeError:
        return []
    symbol = topic.rpartition(".")[2] if topic and "." in topic else ""
    return [symbol] if symbol else []


def _hyperliquid_symbols(raw: bytes | str) -> list[str]:
    try:
        data = _HYPERLIQUID.decode(raw).data
    except msgspec.DecodeError:
        return []
    items = data if isinstance(data, list) else [data] if data is not None else []
    return list(dict.fromkeys(item.coin for item in items if item.coin))


def _mexc_symbols(raw: bytes | str) -> list[str]:
    try:
        symbol = _MEXC.decode(raw).symbol
    except msgspec.DecodeError:
        return []
    return [symbol] if isinstance(symbol, str) and symbol else []


def _alpaca_symbols(raw: bytes | str) -> list[str]:
    try:
        records = _ALPACA.decode(raw)
    except msgspec.DecodeError:
        return []
    return list(dict.fromkeys(r.S for r in records if isinstance(r.S, str) and r.S))


# -- kinds and quote currencies ---------------------------------------------------------------
def _okx_kind(symbol: str) -> InstrumentKind | None:
    """``BTC-USDT`` is spot (sizes in BTC); ``BTC-USDT-SWAP``, ``BTC-USD-220527`` count
    contracts of a value the capture does not give."""
    return _SPOT if symbol.count("-") == 1 else None


def _hyperliquid_kind(symbol: str) -> InstrumentKind:
    """Perps are named by their coin (``BTC``); spot pairs ``@107`` or ``PURR/USDC``."""
    return _SPOT if symbol.startswith("@") or "/" in symbol else _PERP


def _alpaca_quote(symbol: str) -> str:
    """Crypto pairs name it (``BTC/USD``); equities trade in dollars."""
    return symbol.partition("/")[2] or "USD"


def _okx_quote(symbol: str) -> str:
    parts = symbol.split("-")
    return parts[1] if len(parts) > 1 else "USD"


def _contracts(_: str) -> None:
    return None


CAPTURE_VENUES: tuple[CaptureVenue, ...] = (
    CaptureVenue("okx", "OKX", "okx", frozenset({"OKX"}), _okx_parser, _okx_symbols,
                 _okx_kind, _okx_quote),
    CaptureVenue("bybit", "BYBIT", "bybit", frozenset({"BYBIT"}), _bybit_parser,
                 _bybit_symbols, lambda _: _PERP, quote_currency),
    CaptureVenue("bybitspot", "BYBIT", "bybit", frozenset({"BYBITSPOT", "BYBIT_SPOT"}),
                 _bybit_parser, _bybit_symbols, lambda _: _SPOT, quote_currency),
    CaptureVenue("hyperliquid", "HYPERLIQUID", "hyperliquid", frozenset({"HYPERLIQUID"}),
                 _hyperliquid_parser, _hyperliquid_symbols, _hyperliquid_kind,
                 lambda _: "USDC"),
    CaptureVenue("mexc", "MEXC", "mexc", frozenset({"MEXC"}), _mexc_parser, _mexc_symbols,
                 _contracts, quote_currency, rest_book=True),
    CaptureVenue("alpaca", "ALPACA", "alpaca",
                 frozenset({"ALPACA", "ALPACA-STOCKS", "ALPACA-STOCKS-SIP"}), _alpaca_parser,
                 _alpaca_symbols, lambda _: _SPOT, _alpaca_quote),
)
"""Every venue with a live parser but Binance (whose captures have a reader of their own)."""

_FAMILY_DEFAULT = {spec.family: spec for spec in reversed(CAPTURE_VENUES)}  # the first wins


# -- telling the venue -------------------------------------------------------------------------
_PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("alpaca", re.compile(rb'^\s*\[\s*\{\s*"T"\s*:')),
    ("okx", re.compile(rb'"arg"\s*:\s*\{')),
    ("mexc", re.compile(rb'"channel"\s*:\s*"(?:push|rs)\.')),
    ("hyperliquid", re.compile(rb'"channel"\s*:.*"coin"\s*:|^Websocket connection '
                               rb'established\.$', re.DOTALL)),
    ("bybit", re.compile(rb'"topic"\s*:|"ret_msg"\s*:|"retCode"\s*:')),
    ("binance", re.compile(rb'"e"\s*:\s*"|"stream"\s*:\s*"|"lastUpdateId"\s*:')),
)


def sniff_family(frames: Iterable[bytes | str]) -> str | None:
    """The protocol family of the first frame whose shape is one venue's, if any."""
    for frame in frames:
        text = frame.encode() if isinstance(frame, str) else frame
        for family, pattern in _PATTERNS:
            if pattern.search(text):
                return family
    return None


def _named(name: str) -> CaptureVenue | BinanceCapture | None:
    key = name.strip().upper()
    if key in BINANCE_NAMES:
        return BinanceCapture(BINANCE_NAMES[key])
    return next((spec for spec in CAPTURE_VENUES if key in spec.names), None)


def _from_url(url: str) -> CaptureVenue | BinanceCapture | None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.endswith(("binance.com", "binancefuture.com", "binance.vision")):
        return BinanceCapture(None)  # the market: captures.py reads it from the URL
    hosts = {"okx.com": "okx", "bybit.com": "bybit", "hyperliquid.xyz": "hyperliquid",
             "mexc.com": "mexc", "alpaca.markets": "alpaca"}
    label = next((name for suffix, name in hosts.items() if host.endswith(suffix)), None)
    if label == "bybit" and "/spot" in parts.path:
        label = "bybitspot"
    return next((spec for spec in CAPTURE_VENUES if spec.label == label), None)


def _family(venue: CaptureVenue | BinanceCapture) -> str:
    return "binance" if isinstance(venue, BinanceCapture) else venue.family


def _names() -> str:
    labels = [spec.label for spec in CAPTURE_VENUES] + list(BINANCE_NAMES)
    return ", ".join(dict.fromkeys(labels))


def capture_venue(path: Path, venue: str | None, frames: Iterable[bytes | str],
                  urls: Iterable[str] = ()) -> CaptureVenue | BinanceCapture:
    """The venue of the capture at ``path`` (see the module docstring); ``frames`` are
    its first messages, ``urls`` a cryptofeed session's."""
    head = [frame for _, frame in zip(range(SNIFFED_FRAMES), frames, strict=False)]
    from_url = next((found for url in urls if (found := _from_url(url)) is not None), None)
    family = _family(from_url) if from_url is not None else sniff_family(head)
    if venue is not None:
        named = _named(venue)
        if named is None:
            raise InvalidConfiguration(f"{path.name}: no capture reader for venue {venue!r}; "
                                       f"use one of {_names()} (any case)")
        if family is not None and _family(named) != family:
            raise DataError(f"{path.name}: venue {venue!r} was given, but the frames are "
                            f"{family}'s; leave the venue out to read them as such")
        return named
    if from_url is not None:
        return from_url
    folder = _named(path.parent.name)
    if family is None:
        if folder is not None:
            return folder
        raise DataError(f"{path.name}: cannot tell which venue this capture is from (no "
                        f"frame of a known shape in its first {SNIFFED_FRAMES}); pass the "
                        f"venue, one of {_names()}")
    if folder is not None and _family(folder) == family:
        return folder  # what the frames cannot say: Bybit spot, Binance's market
    return BinanceCapture(None) if family == "binance" else _FAMILY_DEFAULT[family]
