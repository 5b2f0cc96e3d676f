"""A loopback Binance USD-M futures exchange for ccxt-based clients (see ``server``)."""

from heron.testing.exchange.account import FuturesAccount
from heron.testing.exchange.server import ExchangeProfile, ExchangeServer, Faults

__all__ = ["ExchangeProfile", "ExchangeServer", "Faults", "FuturesAccount"]
