"""Settings of the simulated venue: how bars turn into fills."""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec


class FillAt(enum.StrEnum):
    """When a market order placed on a bar fills.

    ``next-open`` (default): at the open of the instrument's next bar, the first price
    a real order sent after the bar closed could get. ``close``: at the close of the
    bar the decision was made on (optimistic; matches "trade on close" in peers).
    """

    NEXT_OPEN = "next-open"
    CLOSE = "close"


class SimVenueConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How the simulated venue fills.

    ``slippage_bps`` moves every taker fill against the taker (buys up, sells down) by
    that many basis points, then to the next tick against the taker. ``volume_share``
    caps what all orders together may fill in one bar at that fraction of the bar's
    volume (``None`` = no cap); the rest stays working (GTC) or is canceled (IOC).
    ``fee_rate`` overrides the instruments' maker and taker fees when set.
    ``latency_ns`` delays every order command (submit, cancel, amend, cancel-all) on its
    way to matching: one sent at ``t`` meets the book at ``t + latency_ns``, as a real
    order does after the network hop (0 = at once; needs the node's kernel to wait).
    """

    fill_at: FillAt = FillAt.NEXT_OPEN
    slippage_bps: Decimal = Decimal(0)
    volume_share: Decimal | None = None
    fee_rate: Decimal | None = None
    leverage: Decimal | None = None  # overrides margin_init = 1/leverage for perpetuals
    latency_ns: int = 0
