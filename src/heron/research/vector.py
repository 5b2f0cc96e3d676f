"""The vectorised fast path: bar strategies that declare their signals, run in Numba.

A strategy with a ``vector_signals`` classmethod (see :mod:`heron.research.signals`)
can be backtested here instead of on the event engine: its signals are computed in
bulk, and one compiled pass turns them into fills, an equity curve and round trips.
:func:`sweep` runs many parameter combinations on one set of bars and computes each
distinct indicator once, which is what makes a 1,000-combination grid cheap.

**Same trades as the event engine.** The kernel follows the event strategies' order
logic and the simulated venue's fill rules: market orders fill at the next bar's open
(``fill="next-open"``) or at the signal bar's close (``"close"``); a close and an entry
on the other side may share a bar (close first); entries are sized at the fill price
as ``fraction`` of free equity with fees included and rounded down to the lot grid,
or a fixed ``quantity``; an entry the account cannot pay for (margin) or that buys
less than one lot is dropped, as the venue cancels it; a spot account never goes
short; an order decided on the last bar never fills; slippage moves taker fills by
``slippage_bps`` and then to the tick against the taker (exact integer arithmetic).
Tests check the same number of round trips with the same entry and exit times and
sides as :func:`heron.node.api.backtest` on real bars.

**Float64, not exact.** The event engine keeps money as exact decimals on the lot
grid and rounds each fee to the money unit; this path keeps cash and quantities in
float64 and never rounds a fee. The drift is a few ulps per fill, so final equity
agrees to ~1e-12 relative over hundreds of trades; the tests bound it at 1e-9. A lot
count computed in float can differ by one lot from the exact one when the exact
quotient is within ~1e-16 relative of a whole number (never seen in the tests).

**What it refuses.** Anything it does not model raises ``InvalidConfiguration``
naming the option rather than giving a different answer: partial fills
(``volume_share``), funding, risk limits, a custom tick size, perpetual liquidation
(``maintenance_margin`` above 0), and strategies without ``vector_signals``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from heron.analytics.metrics import PerformanceMetrics, compute_metrics
from heron.errors import InvalidConfiguration
from heron.research.signals import AnySignals, IndicatorCache, Signals, ThresholdSignals
from heron.research.vector_data import BarArrays
from heron.strategy.base import Strategy

if TYPE_CHECKING:
    from heron.cli.config import BacktestConfig

FILLS = ("next-open", "close")
_MAX_INT = 2**62


@dataclass(frozen=True, slots=True)
class Costs:
    """The account and venue settings of a vectorised run (floats: research, not money).

    ``cash``, ``fee_bps``, ``slippage_bps`` and ``fill`` mean what they mean for
    :func:`heron.node.api.backtest`; ``kind``, ``leverage``, ``lot_size`` too. The
    options this path does not model (``volume_share``, ``funding``, ``risk``,
    ``tick_size``, a perpetual's ``maintenance_margin`` above 0) are here only so
    that asking for them is refused by name instead of silently ignored; like the
    engine's, the default ``maintenance_margin`` is 0.005, so a perpetual runs here
    only with ``maintenance_margin=0`` (no liquidation) said explicitly.
    """

    cash: float = 100_000.0
    fee_bps: float = 10.0
    slippage_bps: float = 0.0
    fill: str = "next-open"
    kind: str = "spot"
    leverage: float = 1.0
    lot_size: float = 1e-8
    maintenance_margin: float = 0.005  # the engine's default; a perpetual needs 0 here
    volume_share: float | None = None
    funding: Any = None
    risk: Any = None
    tick_size: float | None = None

    @classmethod
    def from_config(cls, config: BacktestConfig) -> Costs:
        """The costs of a backtest config (its unmodelled options are kept, to be refused)."""
        def num(value: object) -> float:
            return float(Decimal(str(value)))

        return cls(cash=num(config.cash), fee_bps=num(config.fee_bps),
                   slippage_bps=num(config.slippage_bps), fill=config.fill, kind=config.kind,
                   leverage=num(config.leverage) if config.leverage is not None else 1.0,
                   lot_size=num(config.lot_size) if config.lot_size is not None else 1e-8,
                   volume_share=num(config.volume_share) if config.volume_share else None,
                   funding=config.funding,
                   tick_size=num(config.tick_size) if config.tick_size is not None else None)


@dataclass(frozen=True, slots=True, eq=False)
class Trips:
    """Closed round trips of a run, one entry per trip (bar indexes and floats)."""

    entry_ts: NDArray[np.int64]
    exit_ts: NDArray[np.int64]
    direction: NDArray[np.int64]  # +1 long, -1 short
    qty: NDArray[np.float64]
    entry_price: NDArray[np.float64]
    exit_price: NDArray[np.float64]
    net_pnl: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.entry_ts)


@dataclass(frozen=True, slots=True, eq=False)
class VectorRun:
    """One vectorised backtest: closed round trips, the per-bar equity and metrics."""

    trades: int
    equity: NDArray[np.float64]
    ts: NDArray[np.int64]
    metrics: PerformanceMetrics
    trips: Trips
    open_trades: int
    final_equity: float
    fees: float


@dataclass(frozen=True, slots=True)
class SweepRow:
    """One combination of a sweep: the figures a grid search ranks by (no curves)."""

    params: dict[str, Any]
    trades: int
    open_trades: int
    final_equity: float
    return_pct: float
    max_drawdown_pct: float
    fees: float
    extra: dict[str, Any] = field(default_factory=dict)


def supports(strategy_cls: type[Strategy]) -> bool:
    """Whether the strategy declares its signals (a ``vector_signals`` classmethod)."""
    return callable(getattr(strategy_cls, "vector_signals", None))


def check_costs(costs: Costs) -> None:
    """Refuse, by name, every option whose effect this path does not model."""
    refused = [
        ("volume_share", costs.volume_share is not None,
         "partial fills by volume share are not modelled; leave volume_share unset"),
        ("funding", costs.funding is not None,
         "funding payments are not modelled; leave funding unset"),
        ("risk", costs.risk is not None, "risk limits are not modelled; leave risk unset"),
        ("tick_size", costs.tick_size is not None,
         "a custom tick size is not modelled; leave tick_size unset"),
        ("maintenance_margin", costs.kind == "perp" and costs.maintenance_margin > 0,
         "liquidation is not modelled; pass maintenance_margin=0"),
    ]
    for name, bad, fix in refused:
        if bad:
            raise InvalidConfiguration(f"vectorised path: {name}: {fix}, or use the event engine")
    if costs.fill not in FILLS:
        raise InvalidConfiguration(f"vectorised path: unknown fill {costs.fill!r}; use "
                                   "next-open or close")
    if costs.kind not in ("spot", "perp"):
        raise InvalidConfiguration(f"vectorised path: unknown kind {costs.kind!r}; use spot "
                                   "or perp")
    for name, value in (("cash", costs.cash), ("leverage", costs.leverage),
                        ("lot_size", costs.lot_size)):
        if not (math.isfinite(value) and value > 0):
            raise InvalidConfiguration(f"vectorised path: {name} must be positive, got {value}")
    for name, value in (("fee_bps", costs.fee_bps), ("slippage_bps", costs.slippage_bps)):
        if not (math.isfinite(value) and value >= 0):
            raise InvalidConfiguration(f"vectorised path: {name} must not be negative, "
                                       f"got {value}")


def run_vectorised(bars: BarArrays, strategy_cls: type[Strategy], params: Mapping[str, Any],
                   costs: Costs, *, checkpoints: Sequence[int] = (),
                   at_checkpoint: Callable[[VectorRun], bool] | None = None) -> VectorRun:
    """Backtest ``strategy_cls`` with ``params`` on ``bars``: trips, equity, metrics.

    ``checkpoints`` (ascending bar positions) pause the pass before those bars:
    ``at_checkpoint`` gets the run over the bars so far and returns False to stop there
    (that partial run is returned) or True to go on. Pausing changes nothing else.
    """
    _, signals = _signals(bars, strategy_cls, params, IndicatorCache(bars))
    prices = _Prices.of(bars, costs)
    market = _market(costs, signals, prices)
    n = len(bars)
    state = _Pass(signals, prices, market, costs, np.empty(n, dtype=np.float64),
                  max(1024, n // 16))
    for cut in checkpoints:
        if at_checkpoint is None:
            break
        state.advance(min(max(cut, state.done), n))
        so_far = _collect(bars, costs, state, state.done)
        if not at_checkpoint(so_far):
            return so_far
    state.advance(n)
    return _collect(bars, costs, state, n)


class _Pass:
    """The kernel's state between pauses: the account, the equity and the trade table."""

    def __init__(self, signals: AnySignals, prices: _Prices, market: NDArray[np.float64],
                 costs: Costs, equity: NDArray[np.float64], rows: int) -> None:
        from heron.research import vector_kernels as vk

        self.signals, self.prices, self.market, self.costs = signals, prices, market, costs
        self.equity = equity
        self.acc = _account(costs)
        self.trades = np.zeros((rows, vk.TRADE_COLUMNS), dtype=np.float64)
        self.done = 0

    def advance(self, stop: int) -> None:
        """Run bars ``done..stop``; a trade table too small is grown and the pass redone
        from the first bar (rare; the kernel is deterministic, so nothing else moves)."""
        from heron.research import vector_kernels as vk

        _simulate(self.signals, self.prices, self.market, self.acc, self.equity, self.trades,
                  self.done, stop)
        needed = int(self.acc[vk.TRADES])
        if needed > len(self.trades):
            self.acc = _account(self.costs)
            self.trades = np.zeros((needed, vk.TRADE_COLUMNS), dtype=np.float64)
            self.done = 0
            _simulate(self.signals, self.prices, self.market, self.acc, self.equity,
                      self.trades, 0, stop)
        self.done = stop


def _collect(bars: BarArrays, costs: Costs, state: _Pass, cut: int) -> VectorRun:
    """The run over bars ``0..cut`` (all of them, or the bars before a checkpoint)."""
    from heron.research import vector_kernels as vk

    acc = state.acc
    count = int(acc[vk.TRADES])
    rows = state.trades[:count]
    trips = _trips(bars, rows)
    open_from = int(acc[vk.ENTRY_BAR]) if acc[vk.QTY] != 0.0 else None
    exposed = _exposure(cut, rows, open_from)
    equity = state.equity[:cut]
    metrics = compute_metrics(
        ts=bars.ts[:cut], equity=equity, trade_pnl=trips.net_pnl,
        trade_returns=rows[:, 6] / np.where(rows[:, 7] > 0, rows[:, 7], 1.0),
        exposure=exposed, fees_paid=float(acc[vk.FEES]), turnover=float(acc[vk.TURNOVER]),
        starting_cash=costs.cash)
    return VectorRun(trades=count, equity=equity, ts=bars.ts[:cut], metrics=metrics,
                     trips=trips, open_trades=int(acc[vk.QTY] != 0.0),
                     final_equity=float(equity[-1]), fees=float(acc[vk.FEES]))


def sweep(bars: BarArrays, strategy_cls: type[Strategy], grid: Sequence[Mapping[str, Any]],
          costs: Costs) -> list[SweepRow]:
    """Run every parameter combination of ``grid`` on ``bars``, in order.

    One indicator cache serves all combinations, so each distinct indicator (say, an
    SMA of one period) is computed once; each combination then costs one compiled pass
    without building arrays (strategies declaring :class:`ThresholdSignals`).
    """
    from heron.research import vector_kernels as vk

    cache = IndicatorCache(bars)
    prices = _Prices.of(bars, costs)
    no_equity = np.empty(0, dtype=np.float64)
    no_trades = np.empty((0, vk.TRADE_COLUMNS), dtype=np.float64)
    rows: list[SweepRow] = []
    for params in grid:
        resolved, signals = _signals(bars, strategy_cls, params, cache)
        market = _market(costs, signals, prices)
        acc = _account(costs)
        _simulate(signals, prices, market, acc, no_equity, no_trades, 0, len(bars))
        final = float(acc[vk.CASH] + acc[vk.QTY] * prices.close_px[-1])
        rows.append(SweepRow(
            params=resolved, trades=int(acc[vk.TRADES]), open_trades=int(acc[vk.QTY] != 0.0),
            final_equity=final, return_pct=(final / costs.cash - 1.0) * 100.0,
            max_drawdown_pct=float(acc[vk.MAX_DD]) * 100.0, fees=float(acc[vk.FEES])))
    return rows


# -- internals ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Prices:
    """Open and close in integer ticks of ``10**-price_decimals``, computed once."""

    open_t: NDArray[np.int64]
    close_t: NDArray[np.int64]
    close_px: NDArray[np.float64]  # close_t * tick: the marks of the equity curve
    tick: float
    top: int  # the highest price in ticks (bounds the exact slippage arithmetic)

    @classmethod
    def of(cls, bars: BarArrays, costs: Costs) -> _Prices:
        check_costs(costs)
        scale = float(10 ** bars.price_decimals)
        open_t = np.rint(bars.open * scale).astype(np.int64)
        close_t = np.rint(bars.close * scale).astype(np.int64)
        top = int(max(open_t.max(initial=0), close_t.max(initial=0)))
        tick = float(Decimal(1).scaleb(-bars.price_decimals))
        close_px = np.multiply(close_t, tick, dtype=np.float64)
        return cls(open_t, close_t, close_px, tick, top)


def _signals(bars: BarArrays, strategy_cls: type[Strategy], params: Mapping[str, Any],
             cache: IndicatorCache) -> tuple[dict[str, Any], AnySignals]:
    if not supports(strategy_cls):
        raise InvalidConfiguration(
            f"vectorised path: strategy {strategy_cls.name} declares no vector_signals; "
            "run it on the event engine")
    resolved = dict(strategy_cls(**dict(params)).param_values)  # coerced and validated
    hook = getattr(strategy_cls, "vector_signals")  # noqa: B009 (not on the base class)
    signals = hook(bars, resolved, cache)
    if not isinstance(signals, Signals | ThresholdSignals):
        raise TypeError(f"{strategy_cls.name}.vector_signals returned {type(signals).__name__}, "
                        "expected Signals or ThresholdSignals")
    return resolved, signals


def _market(costs: Costs, signals: AnySignals, prices: _Prices) -> NDArray[np.float64]:
    from heron.research import vector_kernels as vk

    slip = 1 + Fraction(Decimal(str(costs.slippage_bps))) / 10_000
    if prices.top * slip.numerator >= _MAX_INT:
        raise InvalidConfiguration(f"vectorised path: slippage_bps {costs.slippage_bps} is too "
                                   "fine for exact tick rounding; round it to 0.01 bps")
    sizing = signals.sizing
    lots = 0.0
    if sizing.quantity > 0:
        lots = round(sizing.quantity / costs.lot_size)
        if abs(lots * costs.lot_size - sizing.quantity) > 1e-9 * costs.lot_size:
            raise InvalidConfiguration(f"vectorised path: quantity {sizing.quantity} is not a "
                                       f"multiple of the lot size {costs.lot_size}")
    market = np.zeros(vk.MARKET_SIZE, dtype=np.float64)
    market[vk.M_TICK] = prices.tick
    market[vk.M_LOT] = costs.lot_size
    market[vk.M_FEE] = costs.fee_bps / 10_000.0
    market[vk.M_SLIP_NUM] = slip.numerator
    market[vk.M_SLIP_DEN] = slip.denominator
    market[vk.M_MARGIN] = 1.0 / costs.leverage if costs.kind == "perp" else 1.0
    market[vk.M_SHORTS] = 1.0 if costs.kind == "perp" else 0.0
    market[vk.M_NEXT_OPEN] = 1.0 if costs.fill == "next-open" else 0.0
    market[vk.M_FRACTION] = sizing.fraction
    market[vk.M_QTY_LOTS] = lots
    return market


def _account(costs: Costs) -> NDArray[np.float64]:
    from heron.research import vector_kernels as vk

    acc = np.zeros(vk.ACCOUNT_SIZE, dtype=np.float64)
    acc[vk.CASH] = costs.cash
    acc[vk.PEAK] = costs.cash
    return acc


_EMPTY_B = np.empty(0, dtype=np.bool_)
_EMPTY_F = np.empty(0, dtype=np.float64)


def _simulate(signals: AnySignals, prices: _Prices, market: NDArray[np.float64],
              acc: NDArray[np.float64], equity: NDArray[np.float64],
              trades: NDArray[np.float64], start: int, stop: int) -> None:
    from heron.research import vector_kernels as vk

    n = len(prices.close_t)
    if isinstance(signals, ThresholdSignals):
        score = _column(signals.score, n, "score")
        minus = _column(signals.minus, n, "minus") if signals.minus is not None else _EMPTY_F
        levels = np.array([signals.long_entry_above, signals.long_exit_at_or_below,
                           np.nan if signals.short_entry_below is None
                           else signals.short_entry_below,
                           signals.short_exit_at_or_above, float(signals.exit_on_nan)])
        vk.run_levels(score, minus, levels, prices.open_t, prices.close_px, prices.close_t,
                      market, acc, equity, trades, start, stop)
        return
    le = _flags(signals.long_entry, n, "long_entry")
    lx = _flags(signals.long_exit, n, "long_exit")
    shorts = signals.short_entry is not None
    se = _flags(signals.short_entry, n, "short_entry") if shorts else _EMPTY_B
    sx = (_flags(signals.short_exit, n, "short_exit")
          if shorts and signals.short_exit is not None
          else np.zeros(n, dtype=np.bool_) if shorts else _EMPTY_B)
    vk.run_bool(le, lx, se, sx, prices.open_t, prices.close_px, prices.close_t, market, acc,
                equity, trades, start, stop)


def _column(values: Any, n: int, name: str) -> NDArray[np.float64]:
    out = np.ascontiguousarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"signal {name} has shape {out.shape}, expected ({n},)")
    return out


def _flags(values: Any, n: int, name: str) -> NDArray[np.bool_]:
    out = np.ascontiguousarray(values, dtype=np.bool_)
    if out.shape != (n,):
        raise ValueError(f"signal {name} has shape {out.shape}, expected ({n},)")
    return out


def _trips(bars: BarArrays, rows: NDArray[np.float64]) -> Trips:
    entry = rows[:, 0].astype(np.int64)
    exit_ = rows[:, 1].astype(np.int64)
    return Trips(entry_ts=bars.ts[entry], exit_ts=bars.ts[exit_],
                 direction=rows[:, 2].astype(np.int64), qty=rows[:, 3].copy(),
                 entry_price=rows[:, 4].copy(), exit_price=rows[:, 5].copy(),
                 net_pnl=rows[:, 6].copy())


def _exposure(n: int, rows: NDArray[np.float64], open_from: int | None) -> NDArray[np.bool_]:
    """Bars that end holding a position (the event engine's ``exposed``): each closed
    trip from its entry bar up to, not including, its exit bar; an open one to the end."""
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, rows[:, 0].astype(np.int64), 1)
    np.add.at(delta, rows[:, 1].astype(np.int64), -1)
    held: NDArray[np.bool_] = np.cumsum(delta[:n]) > 0
    if open_from is not None:
        held[open_from:] = True
    return held
