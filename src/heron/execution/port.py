"""The live venue port: what heron's live execution needs from a venue's private API.

A live venue client (:class:`heron.venues.ccxt.client.CcxtClient` for the crypto venues
through ccxt, :class:`heron.venues.alpaca.equity_orders.AlpacaEquityClient` for US equities
through alpaca-py) implements :class:`VenueClient`. Everything it returns is exact and
venue-agnostic (:mod:`heron.model.account`); everything it raises is a heron error:

* :class:`~heron.errors.VenueRejected`: the venue refused the request, with its code;
* :class:`~heron.errors.ResponseLost`: the request may have been executed but its reply
  never came (a timeout, a cut connection). For a placement the caller must look the
  order up by its client id (:meth:`VenueClient.fetch_order`) before sending it again;
* :class:`~heron.errors.VenueUnavailable`: the venue kept failing (5xx, 429 past the
  rate limiter's bounded retries, network down); nothing was executed as far as the
  venue's answer says.

The port is async and one-request-per-call: rate limiting, retries of *idempotent*
reads, and the no-duplicate rule for placements live in the caller
(:mod:`heron.execution.live`), so every client gets them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from heron.model.account import VenueBalance, VenueFill, VenueOrder, VenuePosition
from heron.model.events import SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide, OrderType


class Amend(msgspec.Struct, frozen=True, kw_only=True):
    """An order to change in place: who it is, what it is, and what it becomes.

    Venues' amend endpoints want the order's unchanged fields too (Binance's
    ``PUT /fapi/v1/order`` takes side, quantity and price; ccxt's ``edit_order`` takes
    type, side, amount and price), hence the whole description.
    """

    instrument: Instrument
    venue_order_id: str
    client_id: str                 # the venue-format client id
    side: OrderSide
    order_type: OrderType
    quantity: int                  # lots after the amend
    price: int | None              # ticks after the amend
    trigger_price: int | None = None


class VenueClient(Protocol):
    """One venue account's private API, exact in and out (see the module docstring)."""

    venue: str
    #: by heron instrument id; the markets the client was opened for
    instruments: dict[str, Instrument]
    #: whether :meth:`amend` changes orders in place (else the router plans cancel-replace)
    supports_amend: bool
    #: whether :meth:`watch_orders` / :meth:`watch_fills` push updates (else poll)
    has_private_streams: bool

    async def open(self) -> None:
        """Load markets (and check the keys): ``VenueRejected`` for bad keys."""

    async def close(self) -> None: ...

    def venue_client_id(self, client_order_id: str) -> str:
        """heron's client order id in the venue's format (deterministic, injective)."""

    def check(self, cmd: SubmitOrder) -> str | None:
        """Why the venue would refuse ``cmd`` (tick, lot, minimums, order type), checked
        before sending; ``None`` when it looks acceptable."""

    async def place(self, cmd: SubmitOrder, client_id: str) -> VenueOrder: ...

    async def cancel(self, instrument: Instrument, *, venue_order_id: str = "",
                     client_id: str = "", conditional: bool = False) -> VenueOrder:
        """Cancel one order; ``conditional``: a stop not yet triggered (some venues keep
        those in a separate book: Binance's algo orders, OKX's)."""

    async def amend(self, amend: Amend) -> VenueOrder: ...

    async def cancel_all(self, instrument: Instrument) -> Sequence[VenueOrder]: ...

    async def fetch_order(self, instrument: Instrument, *, venue_order_id: str = "",
                          client_id: str = "", conditional: bool = False
                          ) -> VenueOrder | None:
        """The order, or ``None`` when the venue says it does not exist."""

    async def open_orders(self, instrument: Instrument | None = None
                          ) -> Sequence[VenueOrder]: ...

    async def positions(self) -> Sequence[VenuePosition]: ...

    async def balances(self) -> Sequence[VenueBalance]: ...

    async def fills(self, instrument: Instrument, since_ns: int | None = None
                    ) -> Sequence[VenueFill]:
        """The account's executions on ``instrument`` since ``since_ns``, oldest first."""

    async def watch_orders(self) -> Sequence[VenueOrder]:
        """The next batch of order updates from the private stream (waits for one)."""

    async def watch_fills(self) -> Sequence[VenueFill]:
        """The next batch of executions from the private stream (waits for one)."""


__all__ = ["Amend", "VenueClient"]
