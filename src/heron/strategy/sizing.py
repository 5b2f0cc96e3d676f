"""Position sizing for strategies: how many lots to trade, exactly.

Three methods, each a plain function of the instrument, the account's equity and the
price, so a strategy calls them from any hook without extra wiring::

    from heron.strategy.sizing import fixed_fractional
    sized = fixed_fractional(self.instrument, equity=self.equity, price=bar.close_price,
                             stop_distance=Decimal("150"), fraction=Decimal("0.01"))
    if sized.lots:
        self.buy(size=sized.quantity)

* :func:`fixed_fractional` risks ``fraction`` of equity between entry and stop;
* :func:`volatility_target` holds the notional that would have an annualised volatility
  of ``target_vol`` given the instrument's recent volatility
  (:func:`volatility_from_returns` or :func:`volatility_from_atr`);
* :func:`kelly` / :func:`kelly_from_moments` bet a fraction of the Kelly optimum, capped.

Why exact: the result becomes an order, so the money side (equity, price, stop
distance, fractions, caps) is ``Decimal``/``int`` only and the arithmetic runs on
:class:`fractions.Fraction`; floats are refused there because ``0.01`` is not one
hundredth. The statistics (win rate, volatility, moments of returns) are floats by
nature and are read as their shortest decimal (``0.6`` is six tenths). The quantity is rounded
DOWN to the lot grid (never more risk than asked), and is 0 when it falls below one
lot, the instrument's minimum quantity or its minimum notional; :attr:`Sized.reason`
then says which. Bad arguments raise :class:`heron.errors.InputError` naming the
argument: a strategy that sizes with a negative fraction has a bug to fix, not an
order to deny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numpy.typing import ArrayLike

from heron.errors import InputError
from heron.model.fixed import to_decimal
from heron.model.instrument import Instrument

SECONDS_PER_YEAR = 365 * 24 * 3600  # crypto trades every day; pass periods_per_year otherwise


@dataclass(frozen=True, slots=True)
class Sized:
    """How much to trade: ``lots`` of the instrument, the same as a ``quantity`` that
    ``Strategy.buy(size=...)`` takes, and ``reason`` when it is 0 or was cut by a cap."""

    lots: int
    quantity: Decimal
    reason: str = ""

    def __bool__(self) -> bool:
        return self.lots > 0


def fixed_fractional(instrument: Instrument, *, equity: object, price: object,
                     stop_distance: object, fraction: object,
                     max_leverage: object = None) -> Sized:
    """Lots such that a move of ``stop_distance`` (price units) against the position
    loses at most ``fraction`` of ``equity``: ``equity * fraction / (stop * multiplier)``."""
    eq = _money(equity, "equity")
    px = _positive(price, "price")
    stop = _positive(stop_distance, "stop_distance")
    frac = _unit_fraction(fraction, "fraction")
    risk = eq * frac
    lots = math.floor(risk / (stop * _lot_value(instrument)))
    return _finish(instrument, lots, px, eq, max_leverage)


def volatility_target(instrument: Instrument, *, equity: object, price: object,
                      target_vol: float, volatility: float,
                      max_leverage: object = None) -> Sized:
    """Lots whose notional is ``equity * target_vol / volatility`` (both annualised), so
    the position alone would run at the target volatility."""
    eq = _money(equity, "equity")
    px = _positive(price, "price")
    target = _stat(target_vol, "target_vol", positive=True)
    vol = _stat(volatility, "volatility", positive=True)
    notional = eq * target / vol
    lots = math.floor(notional / (px * _lot_value(instrument)))
    return _finish(instrument, lots, px, eq, max_leverage)


def kelly(instrument: Instrument, *, equity: object, price: object, win_rate: float,
          payoff_ratio: float, fraction: object = Decimal("0.5"),
          cap: object = Decimal("0.25")) -> Sized:
    """Lots for ``min(fraction * f*, cap)`` of equity as notional, where
    ``f* = p - (1 - p) / b`` is the Kelly fraction for win rate ``p`` and payoff ratio
    ``b`` (average win / average loss). Full Kelly is too aggressive for estimated edges,
    hence the fraction (half Kelly by default) and the cap."""
    eq = _money(equity, "equity")
    px = _positive(price, "price")
    p = _stat(win_rate, "win_rate")
    if not 0 < p < 1:
        raise InputError(f"sizing: win_rate must be in (0, 1), got {win_rate}")
    b = _stat(payoff_ratio, "payoff_ratio", positive=True)
    return _kelly_lots(instrument, eq, px, p - (1 - p) / b, fraction, cap)


def kelly_from_moments(instrument: Instrument, *, equity: object, price: object,
                       mean: float, variance: float, fraction: object = Decimal("0.5"),
                       cap: object = Decimal("1")) -> Sized:
    """Kelly for continuous returns: ``f* = mean / variance`` of per-period returns
    (a leverage, so ``cap`` bounds notional / equity, at most 1)."""
    eq = _money(equity, "equity")
    px = _positive(price, "price")
    mu = _stat(mean, "mean")
    var = _stat(variance, "variance", positive=True)
    return _kelly_lots(instrument, eq, px, mu / var, fraction, cap)


def volatility_from_returns(returns: ArrayLike, *, periods_per_year: float) -> float:
    """Annualised volatility: sample standard deviation (ddof=1) of per-period simple
    returns times ``sqrt(periods_per_year)`` (i.i.d. square-root-of-time scaling)."""
    values = np.asarray(returns, dtype=np.float64)
    if values.ndim != 1 or values.size < 2 or not np.isfinite(values).all():
        raise InputError("sizing: returns must be a 1-d array of at least 2 finite numbers")
    _stat(periods_per_year, "periods_per_year", positive=True)
    return float(np.std(values, ddof=1) * math.sqrt(periods_per_year))


def volatility_from_atr(atr: object, price: object, *, periods_per_year: float) -> float:
    """Annualised volatility from an average true range: ``atr / price`` per period
    times ``sqrt(periods_per_year)``. ATR is a range, wider than a standard deviation,
    so this is a conservative (smaller-position) estimate."""
    a = _positive(atr, "atr")
    px = _positive(price, "price")
    _stat(periods_per_year, "periods_per_year", positive=True)
    return float(a / px) * math.sqrt(periods_per_year)


# -- internals ------------------------------------------------------------------------------
def _kelly_lots(instrument: Instrument, eq: Fraction, px: Fraction, full: Fraction,
                fraction: object, cap: object) -> Sized:
    frac = _unit_fraction(fraction, "fraction")
    limit = _unit_fraction(cap, "cap")
    if full <= 0:
        return Sized(0, instrument.quantity(0),
                     f"no edge: the Kelly fraction is {float(full):.4g} (<= 0)")
    share = min(frac * full, limit)
    lots = math.floor(eq * share / (px * _lot_value(instrument)))
    sized = _finish(instrument, lots, px, eq, None)
    if sized.lots and share == limit < frac * full:
        return Sized(sized.lots, sized.quantity,
                     f"capped at {_text(limit)} of equity (Kelly asked {float(frac * full):.4g})")
    return sized


def _finish(instrument: Instrument, lots: int, px: Fraction, eq: Fraction,
            max_leverage: object) -> Sized:
    """Apply the leverage cap, then the instrument's minimums, to ``lots``."""
    reason = ""
    if max_leverage is not None:
        lev = _positive(max_leverage, "max_leverage")
        most = math.floor(eq * lev / (px * _lot_value(instrument)))
        if lots > most:
            lots, reason = most, f"capped at max_leverage {_text(lev)} ({most} lots)"
    lots = max(lots, 0)
    quantity = instrument.quantity(lots)
    if lots == 0:
        return Sized(0, quantity, reason or f"less than one lot ({instrument.size_increment})")
    if quantity < instrument.min_quantity:
        return Sized(0, instrument.quantity(0),
                     f"{quantity} is below the minimum quantity {instrument.min_quantity}")
    notional = Fraction(quantity) * px * Fraction(instrument.multiplier)
    if notional < Fraction(instrument.min_notional):
        return Sized(0, instrument.quantity(0),
                     f"notional {_text(notional)} is below the minimum notional "
                     f"{instrument.min_notional}")
    return Sized(lots, quantity, reason)


def _lot_value(instrument: Instrument) -> Fraction:
    """Price units per lot per unit of price: ``size_increment * multiplier``."""
    return Fraction(instrument.size_increment) * Fraction(instrument.multiplier)


def _exact(value: object, name: str) -> Fraction:
    try:
        return Fraction(to_decimal(value, what=name))
    except (TypeError, ValueError) as exc:
        raise InputError(f"sizing: {name}: {exc}") from None


def _money(value: object, name: str) -> Fraction:
    out = _exact(value, name)
    if out < 0:
        raise InputError(f"sizing: {name} must not be negative, got {value}")
    return out


def _positive(value: object, name: str) -> Fraction:
    out = _exact(value, name)
    if out <= 0:
        raise InputError(f"sizing: {name} must be positive, got {value}")
    return out


def _unit_fraction(value: object, name: str) -> Fraction:
    out = _exact(value, name)
    if not 0 < out <= 1:
        raise InputError(f"sizing: {name} must be in (0, 1], got {value}; "
                         f"write 1% as Decimal('0.01')")
    return out


def _stat(value: float | Decimal, name: str, *, positive: bool = False) -> Fraction:
    """A statistic (float allowed); finite, and positive if asked."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InputError(f"sizing: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"sizing: {name} must be finite, got {value}")
    # a float as its shortest decimal ("0.6", not 0.59999999999999997779...): the number
    # the caller wrote or printed, so 0.6 * 10,000 / 100 is 60 lots, not 59
    out = Fraction(value if isinstance(value, Decimal | int) else Decimal(str(float(value))))
    if positive and out <= 0:
        raise InputError(f"sizing: {name} must be positive, got {value}")
    return out


def _text(value: Fraction) -> str:
    """A Fraction as a short decimal for messages (exact when it terminates)."""
    dec = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{dec.normalize():f}"
