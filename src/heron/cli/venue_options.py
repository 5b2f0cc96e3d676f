"""What every exec command (``heron order ...``, ``heron positions``, ``heron balances``)
shares: the venue options, which account they reach, and one opened venue client.

**Which account.** Without a flag, the venue's live account. ``--testnet`` is ccxt's
sandbox mode: Binance USD-M futures testnet (testnet.binancefuture.com), Bybit testnet
(api-testnet.bybit.com), OKX demo trading (ccxt's sandbox sends OKX's
``x-simulated-trading`` header), Hyperliquid testnet. ``--paper`` is the venue's paper or
demo account: Alpaca's paper account (paper-api.alpaca.markets) and OKX demo trading,
which *are* their sandboxes, so there the two flags mean the same. Binance, Bybit and
Hyperliquid have no paper account apart from their testnet (Binance's and Bybit's
separate "demo trading" hosts are not wired in), and MEXC has neither: those are refused
with the flag to use instead, rather than quietly trading on the live account.
``--endpoint URL`` moves every REST and WebSocket host of the venue to URL, paths kept
(heron's loopback emulator, a recording proxy); it applies after the sandbox choice.

**Keys** come only from the environment or a ``chmod 600`` key file
(:func:`heron.venues.credentials.load_credentials`): never from a flag, which would sit in
the shell history. Every secret loaded is registered for redaction before any request.

**Symbols.** ccxt unified symbols (``BTC/USDT:USDT``) or the venue's id. On Alpaca a symbol
without ``/`` is a US equity, traded through :class:`AlpacaEquityClient`; with ``/`` a
crypto pair through ccxt. ``positions`` and ``order list`` without ``--symbol`` first ask
the venue which symbols have a position or an open order, then open the client on those.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from heron.errors import InputError, VenueUnavailable
from heron.execution.port import VenueClient
from heron.model.instrument import Instrument

Opt = typer.Option
VENUES = ("binanceusdm", "okx", "bybit", "hyperliquid", "mexc", "alpaca")
ALPACA_PAPER_URL = "https://paper-api.alpaca.markets"

VenueOpt = Annotated[str, Opt("--venue", help=", ".join(VENUES))]
SymbolOpt = Annotated[str, Opt("--symbol", help="ccxt symbol, e.g. BTC/USDT:USDT; on alpaca "
                               "a stock ticker (AAPL) or a crypto pair (BTC/USD)")]
AnySymbolOpt = Annotated[str | None, Opt("--symbol", help="only this symbol (default: every "
                                         "symbol the account has)")]
EndpointOpt = Annotated[str | None, Opt("--endpoint", help="another host for the venue's REST "
                                        "and WebSocket, paths kept (emulator, proxy)")]
TestnetOpt = Annotated[bool, Opt("--testnet", help="the venue's testnet (ccxt sandbox)")]
PaperOpt = Annotated[bool, Opt("--paper", help="the venue's paper/demo account (alpaca, okx)")]
KeyFileOpt = Annotated[Path | None, Opt("--key-file", help="TOML/JSON key file, chmod 600 "
                                        "(default: HERON_<VENUE>_API_KEY/_API_SECRET)")]
JsonOpt = Annotated[bool, Opt("--json", help="one JSON document, exact decimals as strings")]

#: venue -> (what --testnet reaches, what --paper reaches); None: refused with the fix
_MODES: dict[str, tuple[str | None, str | None]] = {
    "binanceusdm": ("the futures testnet", None),
    "okx": ("demo trading", "demo trading"),
    "bybit": ("the testnet", None),
    "hyperliquid": ("the testnet", None),
    "mexc": (None, None),
    "alpaca": ("the paper account", "the paper account"),
}


@dataclass(frozen=True, slots=True)
class VenueOptions:
    """The common options of one exec command, as given."""

    venue: str
    endpoint: str | None = None
    testnet: bool = False
    paper: bool = False
    key_file: Path | None = None
    as_json: bool = False

    def sandbox(self) -> bool:
        """Whether to use the venue's sandbox; a flag the venue cannot honour is refused
        here, before keys are read or anything is sent."""
        if self.venue not in VENUES:
            raise InputError(f"unknown venue {self.venue!r}; use one of {', '.join(VENUES)}")
        testnet, paper = _MODES[self.venue]
        if self.testnet and testnet is None:
            raise InputError(f"{self.venue} has no testnet; trade the live account, or point "
                             "--endpoint at an emulator")
        if self.paper and paper is None:
            fix = ("use --testnet" if testnet else "trade the live account, or point "
                   "--endpoint at an emulator")
            raise InputError(f"{self.venue} has no paper account heron can reach; {fix}")
        return self.testnet or self.paper


@dataclass(slots=True)
class OpenVenue:
    """An opened client and the symbols the user knows its instruments by."""

    client: VenueClient
    symbol_of: dict[str, str] = field(default_factory=dict)  # instrument id -> symbol

    def instrument(self) -> Instrument:
        """The one instrument an order command was opened for."""
        return next(iter(self.client.instruments.values()))

    def symbol(self, instrument_id: str) -> str:
        return self.symbol_of.get(instrument_id, instrument_id)


Discover = Literal["positions", "orders"] | None


@contextlib.asynccontextmanager
async def open_client(opts: VenueOptions, symbols: list[str], *,
                      discover: Discover = None) -> AsyncIterator[OpenVenue]:
    """The venue's client, opened on ``symbols`` (or, when none are given and
    ``discover`` says what for, on the symbols where the account has positions or open
    orders), closed on the way out whatever happens."""
    from heron.venues.credentials import load_credentials

    sandbox = opts.sandbox()
    credentials = load_credentials(opts.venue, key_file=opts.key_file)
    client: Any
    if opts.venue == "alpaca" and symbols and "/" not in symbols[0]:
        client = _equity_client(opts, symbols, credentials.ccxt_config(), sandbox)
    else:
        limiter = None
        if not symbols and discover is not None:
            symbols, limiter = await _discover(opts, credentials, sandbox, discover)
        client = _ccxt_client(opts, credentials, symbols, sandbox, limiter)
    try:
        await client.open()
        yield OpenVenue(client, dict(zip(client.instruments, symbols, strict=False)))
    finally:
        await client.close()


def _equity_client(opts: VenueOptions, symbols: list[str], keys: dict[str, str],
                   paper: bool) -> Any:
    """Alpaca US equities: Alpaca's trading API, live or paper host."""
    from heron.venues.alpaca.equity_orders import AlpacaEquityClient
    from heron.venues.alpaca.trading import LIVE_TRADING_URL

    base = opts.endpoint or (ALPACA_PAPER_URL if paper else LIVE_TRADING_URL)
    return AlpacaEquityClient(symbols, api_keys=keys, base_url=base)


def _ccxt_client(opts: VenueOptions, credentials: Any, symbols: list[str], sandbox: bool,
                 limiter: Any = None) -> Any:
    from heron.venues.ccxt.client import CcxtClient
    from heron.venues.ccxt.dialect import dialect_for

    return CcxtClient(dialect_for(opts.venue), credentials, symbols, endpoint=opts.endpoint,
                      testnet=sandbox, limiter=limiter)


async def _discover(opts: VenueOptions, credentials: Any, sandbox: bool,
                    what: Literal["positions", "orders"]) -> tuple[list[str], Any]:
    """The symbols to open the client on, asked of a client opened on none (its rate
    limiter is handed on, so the second client starts with the venue's usage known)."""
    probe = _ccxt_client(opts, credentials, [], sandbox)
    try:
        await probe.open()
        return await symbols_with(probe, what), probe.limiter
    finally:
        await probe.close()


async def symbols_with(client: Any, what: Literal["positions", "orders"]) -> list[str]:
    """The ccxt symbols where the account has a position or an open order: one
    all-symbols request (Binance weighs it 40, which a CLI call can afford)."""
    from heron.venues.ccxt.dialect import exact

    exchange = client.exchange
    if what == "orders":
        exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        rows = await venue_call(client, "open orders", exchange.fetch_open_orders)
    else:
        rows = await venue_call(client, "positions", exchange.fetch_positions)
        rows = [r for r in rows if exact(r.get("contracts"))]
    return sorted({str(r["symbol"]) for r in rows if r.get("symbol") in exchange.markets})


async def venue_call(client: Any, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
    """A raw ccxt read, its failures as heron errors: the venue's refusal with its code,
    a venue that cannot list all symbols at once as the ``--symbol`` to pass."""
    import ccxt

    try:
        return await call()
    except ccxt.NotSupported:
        raise InputError(f"{client.venue} cannot list {what} of every symbol at once; "
                         "pass --symbol") from None
    except ccxt.NetworkError as exc:
        raise VenueUnavailable(f"{client.venue}: no answer to the {what} request "
                               f"({type(exc).__name__}); check the network and run again"
                               ) from exc
    except ccxt.BaseError as exc:
        raise client.dialect.refusal(exc, what) from exc


def run_command(coro: Coroutine[Any, Any, None]) -> None:
    """Run one command's coroutine; the client's warnings (retries, backoffs) go to
    stderr, through heron's redaction like every log record."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(coro)


def dec(value: Decimal | None) -> str | None:
    """A decimal as plain text (never ``1E-8``), ``None`` kept: the JSON form of money."""
    return None if value is None else format(value, "f")


def emit_json(doc: dict[str, Any]) -> None:
    """The one JSON document of a ``--json`` run, on stdout (errors stay on stderr)."""
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()


__all__ = ["VENUES", "OpenVenue", "VenueOptions", "dec", "emit_json", "open_client",
           "run_command", "symbols_with", "venue_call"]
