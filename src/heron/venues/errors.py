"""heron's classes of venue refusals, each with the fix a user is told.

Every venue has hundreds of error codes; what a trader (or heron's live execution) has to
*do* about them falls into a handful of classes. Each venue's dialect maps its codes to a
:class:`Refusal`; an unmapped code falls back on ccxt's exception class
(:meth:`Refusal.from_ccxt`), which ccxt already derives from the venue's codes.
"""

from __future__ import annotations

import enum


class Refusal(enum.StrEnum):
    AUTH = "auth"                  # bad key, bad signature, IP not allowed, no permission
    CLOCK = "clock"                # timestamp outside the venue's recvWindow
    BALANCE = "balance"            # not enough margin or balance
    INVALID = "invalid"            # off tick, off lot, below minimums, bad parameters
    SYMBOL = "symbol"              # unknown or untradeable symbol
    NOT_FOUND = "not_found"        # the order does not exist (or is already closed)
    DUPLICATE = "duplicate"        # the client order id is in use
    POST_ONLY = "post_only"        # a post-only order would have taken
    REDUCE_ONLY = "reduce_only"    # a reduce-only order would have increased the position
    RATE_LIMIT = "rate_limit"
    UNAVAILABLE = "unavailable"    # maintenance, overload, 5xx
    OTHER = "other"

    @property
    def fix(self) -> str:
        return _FIX[self]

    @classmethod
    def from_ccxt(cls, exc: BaseException) -> Refusal:
        """The class of a ccxt exception, most specific ccxt class first."""
        import ccxt

        for ccxt_class, refusal in (
                (ccxt.InvalidNonce, cls.CLOCK), (ccxt.AuthenticationError, cls.AUTH),
                (ccxt.PermissionDenied, cls.AUTH), (ccxt.AccountSuspended, cls.AUTH),
                (ccxt.InsufficientFunds, cls.BALANCE), (ccxt.OrderNotFound, cls.NOT_FOUND),
                (ccxt.DuplicateOrderId, cls.DUPLICATE), (ccxt.BadSymbol, cls.SYMBOL),
                (ccxt.OrderImmediatelyFillable, cls.POST_ONLY),
                (ccxt.RateLimitExceeded, cls.RATE_LIMIT), (ccxt.DDoSProtection, cls.RATE_LIMIT),
                (ccxt.OnMaintenance, cls.UNAVAILABLE),
                (ccxt.ExchangeNotAvailable, cls.UNAVAILABLE),
                (ccxt.InvalidOrder, cls.INVALID), (ccxt.BadRequest, cls.INVALID)):
            if isinstance(exc, ccxt_class):
                return refusal
        return cls.OTHER


_FIX = {
    Refusal.AUTH: "check the API key, secret and permissions (trading enabled, IP allowed)",
    Refusal.CLOCK: "the machine's clock is off: sync it (e.g. chrony) and retry",
    Refusal.BALANCE: "reduce the size or add margin",
    Refusal.INVALID: "fix the price or size (tick, lot, minimum size and notional)",
    Refusal.SYMBOL: "check the symbol with the venue's market list",
    Refusal.NOT_FOUND: "the order is not open at the venue (filled, canceled or unknown)",
    Refusal.DUPLICATE: "that client order id is taken; heron resolves it by querying",
    Refusal.POST_ONLY: "the post-only order would have taken: move the price away",
    Refusal.REDUCE_ONLY: "a reduce-only order must reduce the open position",
    Refusal.RATE_LIMIT: "too many requests: heron backs off; lower the request rate",
    Refusal.UNAVAILABLE: "the venue is unavailable: retry later",
    Refusal.OTHER: "see the venue's message",
}

__all__ = ["Refusal"]
