"""The pre-trade rules, one function each: integers in, ``None`` or the denial text out.

Every rule compares integers the engine prepared once per run (lots, ticks, money
units at the portfolio's precision), so a passing check costs a comparison and a
function call. Only a denial builds its text, with the numbers as the user wrote
them (instrument units, prices, account money) so a reader of the journal sees the
same figures as in the limits file. The engine prefixes the rule's name
(``max_order_notional: notional 12,500.00 USDT > limit 10,000.00``).
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from heron.model.fixed import EXACT
from heron.model.instrument import Instrument


class Money:
    """Formats money units of one precision and currency for denial texts."""

    __slots__ = ("currency", "precision")

    def __init__(self, precision: int, currency: str) -> None:
        self.precision = precision
        self.currency = currency

    def __call__(self, raw: int) -> str:
        value = Decimal(raw).scaleb(-self.precision, EXACT).normalize()
        if value.as_tuple().exponent > -2:  # type: ignore[operator]
            value = value.quantize(Decimal("0.01"))
        return f"{value:,}"


def units(inst: Instrument, lots: int) -> str:
    """Lots as instrument units, normalised (``1.5``, not ``1.50000000``)."""
    value = inst.quantity(abs(lots)).normalize()
    text = f"{value:f}"
    return f"-{text}" if lots < 0 else text


def price(inst: Instrument, ticks: int) -> str:
    return f"{inst.price(ticks)}"


def whitelist(allowed: bool, instrument_id: str) -> str | None:
    if allowed:
        return None
    return f"instrument {instrument_id} is not in the whitelist"


def min_quantity(lots: int, min_lots: int, inst: Instrument) -> str | None:
    if lots >= min_lots:
        return None
    return f"quantity {units(inst, lots)} < minimum {inst.min_quantity} of {inst.symbol}"


def min_notional(notional: int, min_raw: int, money: Money, inst: Instrument) -> str | None:
    if notional >= min_raw:
        return None
    return (f"notional {money(notional)} {money.currency} < minimum {inst.min_notional} "
            f"of {inst.symbol}")


def max_order_quantity(lots: int, limit: int, inst: Instrument) -> str | None:
    if lots <= limit:
        return None
    return f"quantity {units(inst, lots)} > limit {units(inst, limit)}"


def max_order_notional(notional: int, limit: int, money: Money) -> str | None:
    if notional <= limit:
        return None
    return f"notional {money(notional)} {money.currency} > limit {money(limit)}"


def price_band(ticks: int, mark: int, band_num: int, band_den: int,
               inst: Instrument) -> str | None:
    """``|price - mark| / mark <= band`` in bps, as ``|p - m| * 10000 * den <= num * m``."""
    diff = ticks - mark if ticks > mark else mark - ticks
    if diff * 10_000 * band_den <= band_num * mark:
        return None
    bps = (Decimal(diff * 10_000) / Decimal(mark)).quantize(Decimal("0.01"))
    band = (Decimal(band_num) / Decimal(band_den)).normalize()
    return (f"price {price(inst, ticks)} is {bps:,} bps from mark {price(inst, mark)} "
            f"> band {band:f} bps")


def max_position(after: int, now: int, pending: int, limit: int,
                 inst: Instrument) -> str | None:
    """``|position after every working order and this one fills| <= limit``."""
    if -limit <= after <= limit:
        return None
    return (f"position would be {units(inst, after)} (now {units(inst, now)}, working "
            f"orders {units(inst, pending)}, this order {units(inst, after - now - pending)})"
            f" > limit {units(inst, limit)}")


def max_gross_exposure(gross: int, limit: int, money: Money) -> str | None:
    if gross <= limit:
        return None
    return f"gross exposure {money(gross)} {money.currency} > limit {money(limit)}"


def max_net_exposure(net: int, limit: int, money: Money) -> str | None:
    if -limit <= net <= limit:
        return None
    return f"net exposure {money(net)} {money.currency} > limit {money(limit)}"


def max_leverage(gross: int, equity: int, cap_num: int, cap_den: int,
                 money: Money) -> str | None:
    """``gross / equity <= cap`` as ``gross * den <= num * equity`` (equity > 0)."""
    if equity > 0 and gross * cap_den <= cap_num * equity:
        return None
    cap = (Decimal(cap_num) / Decimal(cap_den)).normalize()
    if equity <= 0:
        return (f"equity {money(equity)} {money.currency} is not positive; no leverage "
                f"is within the cap {cap:f}")
    lev = (Decimal(gross) / Decimal(equity)).quantize(Decimal("0.0001"))
    return (f"leverage {lev} > limit {cap:f} (gross {money(gross)} / equity "
            f"{money(equity)} {money.currency})")


class RateWindow:
    """Times of the messages let through in the last ``window_ns``: a sliding window."""

    __slots__ = ("count", "noun", "times", "window_ns")

    def __init__(self, count: int, window_ns: int, noun: str) -> None:
        self.count = count
        self.window_ns = window_ns
        self.noun = noun
        self.times: deque[int] = deque()

    def admit(self, now: int) -> str | None:
        """Let one more message through at ``now``, or say why not (it is not counted)."""
        times = self.times
        oldest = now - self.window_ns
        while times and times[0] <= oldest:
            times.popleft()
        if len(times) < self.count:
            times.append(now)
            return None
        window = Decimal(self.window_ns).scaleb(-9).normalize()
        return (f"{len(times) + 1} {self.noun} in {window:f}s > limit {self.count}")


__all__ = ["Money", "RateWindow", "max_gross_exposure", "max_leverage", "max_net_exposure",
           "max_order_notional", "max_order_quantity", "max_position", "min_notional",
           "min_quantity", "price_band", "whitelist"]
