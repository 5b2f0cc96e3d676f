"""Pre-trade risk limits: read from a TOML file and validated before a run starts.

A limits file is checked whole at start, so a typo or a contradiction stops the run
with one line naming the key and the fix (:class:`~heron.errors.InputError`, exit 2)
instead of surfacing as an odd denial an hour into a live session. Values are kept as
``Decimal`` here (TOML floats are parsed as ``Decimal``, never binary floats); the
engine turns them into integer lots, ticks and money units once per run
(:mod:`heron.risk.pretrade`), so no ``Decimal`` is touched on the order path.

Layout (every key optional; a rule is active when its limit is given)::

    [limits]
    max_order_quantity = "2"        # instrument units, per order
    max_order_notional = "10000"    # account currency, per order
    max_position = "5"              # instrument units, |position| after the order
    max_gross_exposure = "100000"   # account currency, sum of |position| at mark
    max_net_exposure = "50000"      # account currency, |sum of signed position| at mark
    max_leverage = "3"              # gross exposure / equity
    price_band_bps = 500            # limit/trigger price vs the last mark
    whitelist = ["BTCUSDT.BINANCE"] # instrument ids or symbols that may trade
    self_trade = "cancel-new"       # cancel-new, cancel-resting, decrement-both, off
    [limits.order_rate]             # submits + amends per window
    count = 50
    window_s = 1
    [limits.cancel_rate]            # cancels per window
    count = 100
    window_s = 1
    [limits.instruments."BTCUSDT.BINANCE"]   # overrides of the per-instrument limits
    max_order_quantity = "1"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from heron.errors import InputError

#: limits that may differ per instrument (also allowed in ``[limits]`` as defaults)
INSTRUMENT_RULES = ("max_order_quantity", "max_order_notional", "max_position",
                    "price_band_bps")
#: limits on the whole account
ACCOUNT_RULES = ("max_gross_exposure", "max_net_exposure", "max_leverage")
#: every key ``[limits]`` accepts
LIMIT_KEYS = (*INSTRUMENT_RULES, *ACCOUNT_RULES, "whitelist", "self_trade", "order_rate",
              "cancel_rate", "instruments")
SELF_TRADE_MODES = ("off", "cancel-new", "cancel-resting", "decrement-both")
_RATE_KEYS = ("count", "window_s")


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    """Per-order and per-position limits of one instrument (``None``: no limit)."""

    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position: Decimal | None = None
    price_band_bps: Decimal | None = None

    def merged(self, override: InstrumentLimits) -> InstrumentLimits:
        """These defaults with ``override``'s given values on top."""
        return InstrumentLimits(*(o if o is not None else d for d, o in zip(
            _values(self), _values(override), strict=True)))


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` messages in any ``window_ns`` of the run's clock."""

    count: int
    window_ns: int


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """A run's pre-trade limits; :meth:`none` is the default (validity checks only)."""

    default: InstrumentLimits = field(default_factory=InstrumentLimits)
    instruments: dict[str, InstrumentLimits] = field(default_factory=dict)
    max_gross_exposure: Decimal | None = None
    max_net_exposure: Decimal | None = None
    max_leverage: Decimal | None = None
    whitelist: tuple[str, ...] | None = None
    order_rate: RateLimit | None = None
    cancel_rate: RateLimit | None = None
    self_trade: str = "off"
    source: str = ""

    @classmethod
    def none(cls) -> RiskLimits:
        return cls()

    def for_instrument(self, instrument_id: str, symbol: str) -> InstrumentLimits:
        """The defaults with the instrument's own section (by id, else symbol) on top."""
        own = self.instruments.get(instrument_id) or self.instruments.get(symbol)
        return self.default if own is None else self.default.merged(own)


def _values(limits: InstrumentLimits) -> tuple[Decimal | None, ...]:
    return (limits.max_order_quantity, limits.max_order_notional, limits.max_position,
            limits.price_band_bps)


def parse_limits(data: dict[str, Any], name: str = "risk.toml") -> RiskLimits:
    """Validate the parsed TOML document ``data`` (``name`` prefixes every message)."""
    extra = sorted(set(data) - {"limits"})
    if extra:
        raise InputError(f"{name}: unknown table or key {extra[0]!r}; the file holds one "
                         "[limits] table (see docs/risk.md)")
    table = data.get("limits")
    if not isinstance(table, dict):
        raise InputError(f"{name}: no [limits] table; add one (see docs/risk.md)")
    _Checker(name, "[limits]").known(table, LIMIT_KEYS, "rule")
    limits = RiskLimits(
        default=_instrument_limits(table, name, "[limits]"),
        instruments=_overrides(table.get("instruments", {}), name),
        max_gross_exposure=_Checker(name, "[limits]").positive(table, "max_gross_exposure"),
        max_net_exposure=_Checker(name, "[limits]").positive(table, "max_net_exposure"),
        max_leverage=_Checker(name, "[limits]").positive(table, "max_leverage"),
        whitelist=_whitelist(table, name),
        order_rate=_rate(table, "order_rate", name),
        cancel_rate=_rate(table, "cancel_rate", name),
        self_trade=_self_trade(table, name), source=name)
    _check_consistent(limits, name)
    return limits


class _Checker:
    """Checks values of one table, naming ``file: [table] key`` in every message."""

    def __init__(self, name: str, table: str) -> None:
        self.where = f"{name}: {table}"

    def known(self, table: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
        for key in table:
            if key not in keys:
                raise InputError(f"{self.where} unknown {what} {key!r}; known: "
                                 f"{', '.join(keys)}; fix the name")

    def positive(self, table: dict[str, Any], key: str) -> Decimal | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
            raise InputError(f"{self.where} {key} must be a number, got {value!r}; fix the value")
        try:
            number = Decimal(value)
        except ArithmeticError:
            raise InputError(f"{self.where} {key} must be a number, got {value!r}; "
                             "fix the value") from None
        if not number.is_finite() or number <= 0:
            raise InputError(f"{self.where} {key} must be positive, got {value}; fix the value")
        return number


def _instrument_limits(table: dict[str, Any], name: str, where: str) -> InstrumentLimits:
    check = _Checker(name, where)
    values = [check.positive(table, key) for key in INSTRUMENT_RULES]
    return InstrumentLimits(*values)


def _overrides(table: object, name: str) -> dict[str, InstrumentLimits]:
    if not isinstance(table, dict):
        raise InputError(f"{name}: [limits] instruments must be a table of instrument ids; "
                         "write [limits.instruments.\"BTCUSDT.BINANCE\"]")
    out = {}
    for iid, section in table.items():
        where = f'[limits.instruments."{iid}"]'
        if not isinstance(section, dict):
            raise InputError(f"{name}: {where} must be a table of limits; fix the value")
        _Checker(name, where).known(section, INSTRUMENT_RULES, "per-instrument rule")
        out[iid] = _instrument_limits(section, name, where)
    return out


def _whitelist(table: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = table.get("whitelist")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{name}: [limits] whitelist must be a list of instrument ids, "
                         f"got {value!r}; fix the value")
    if not value:
        raise InputError(f"{name}: [limits] whitelist is empty, which denies every order; "
                         "list the instruments or remove the key")
    return tuple(value)


def _rate(table: dict[str, Any], key: str, name: str) -> RateLimit | None:
    section = table.get(key)
    if section is None:
        return None
    where = f"[limits.{key}]"
    if not isinstance(section, dict):
        raise InputError(f"{name}: {where} must be a table with count and window_s; "
                         "fix the value")
    check = _Checker(name, where)
    check.known(section, _RATE_KEYS, "key")
    for need in _RATE_KEYS:
        if need not in section:
            raise InputError(f"{name}: {where} is missing {need}; add it")
    count = check.positive(section, "count") or Decimal(0)  # present: checked above
    window = check.positive(section, "window_s") or Decimal(0)
    if count != count.to_integral_value():
        raise InputError(f"{name}: {where} count must be a whole number, got "
                         f"{section['count']}; fix the value")
    window_ns = int(window * 1_000_000_000)
    if window_ns != window * 1_000_000_000:
        raise InputError(f"{name}: {where} window_s is finer than a nanosecond; fix the value")
    return RateLimit(int(count), window_ns)


def _self_trade(table: dict[str, Any], name: str) -> str:
    mode = table.get("self_trade", "off")
    if mode not in SELF_TRADE_MODES:
        raise InputError(f"{name}: [limits] self_trade must be one of "
                         f"{', '.join(SELF_TRADE_MODES)}, got {mode!r}; fix the value")
    return str(mode)


def _check_consistent(limits: RiskLimits, name: str) -> None:
    """Limits that contradict each other: one of them can never be what the user meant."""
    gross, net = limits.max_gross_exposure, limits.max_net_exposure
    if gross is not None and net is not None and net > gross:
        raise InputError(f"{name}: [limits] max_net_exposure {net} is above max_gross_exposure "
                         f"{gross}, but |net| never exceeds gross; lower max_net_exposure")
    sections = [("[limits]", limits.default)] + [
        (f'[limits.instruments."{iid}"]', limits.default.merged(own))
        for iid, own in limits.instruments.items()]
    for where, own in sections:
        qty, pos = own.max_order_quantity, own.max_position
        if qty is not None and pos is not None and qty > 2 * pos:
            raise InputError(f"{name}: {where} max_order_quantity {qty} is above twice "
                             f"max_position {pos}, so no such order could pass; lower it")
    if limits.whitelist is not None:
        for iid in limits.instruments:
            if not any(_same(iid, allowed) for allowed in limits.whitelist):
                raise InputError(f'{name}: [limits.instruments."{iid}"] sets limits for an '
                                 "instrument the whitelist excludes; add it to the whitelist "
                                 "or remove the section")


def _same(a: str, b: str) -> bool:
    """Do two instrument references (id ``SYMBOL.VENUE`` or bare symbol) agree?"""
    return a == b or a.split(".", maxsplit=1)[0] == b or b.split(".", maxsplit=1)[0] == a


__all__ = ["INSTRUMENT_RULES", "SELF_TRADE_MODES", "InstrumentLimits", "RateLimit",
           "RiskLimits", "parse_limits"]
