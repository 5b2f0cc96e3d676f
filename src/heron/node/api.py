"""``heron.backtest``: the Python API the CLI is a thin layer over.

It turns friendly inputs (a path, a frame, strings for money) into an engine: reads
and validates bars, builds each instrument on an exact grid, resolves the strategy
and its parameters, runs, and returns a :class:`~heron.node.result.BacktestResult`.
Every user mistake surfaces as an ``InputError`` subclass with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import polars as pl

from heron.data.bars import BarFrame, bars_from_frame, read_bars
from heron.data.catalog import Catalog
from heron.data.funding import read_funding
from heron.errors import InvalidConfiguration
from heron.model.fixed import to_decimal
from heron.model.instrument import Instrument, InstrumentKind
from heron.node.backtest import BacktestEngine
from heron.node.bar_series import BarSeries, bar_series
from heron.node.result import BacktestResult, build_result
from heron.risk.config import RiskConfig, load_risk
from heron.risk.limits import RiskLimits
from heron.strategy.base import Strategy
from heron.strategy.registry import strategy_class
from heron.venues.sim.config import FillAt, SimVenueConfig

DataInput = str | Path | pl.DataFrame | BarFrame | Any
FundingInput = str | Path | Sequence[tuple[int, object]]


def backtest(
    data: DataInput | Mapping[str, DataInput],
    *,
    strategy: str | type[Strategy] | Strategy | Sequence[Strategy] = "sma_cross",
    params: Mapping[str, Any] | None = None,
    symbol: str | None = None,
    cash: object = "100000",
    fee_bps: object = "10",
    slippage_bps: object = "0",
    fill: str = "next-open",
    tick_size: object = None,
    lot_size: object = None,
    kind: str = "spot",
    leverage: object = None,
    maintenance_margin: object = "0.005",
    volume_share: object = None,
    funding: FundingInput | Mapping[str, FundingInput] | None = None,
    journal: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    risk: RiskConfig | RiskLimits | str | Path | None = None,
    journal_run_id: str | None = None,
    checkpoints: Sequence[int] = (),
    at_checkpoint: Callable[[BacktestResult], bool] | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on ``data`` (one path/frame, or ``{symbol: path/frame}``).

    Money arguments take ``str``/``int``/``Decimal`` (never floats). ``fill`` is
    ``"next-open"`` or ``"close"``; ``kind`` is ``"spot"`` or ``"perp"`` (a linear
    perpetual margined at ``1/leverage`` with ``maintenance_margin``). ``funding`` is a
    funding-rate file or ``[(ts_ns, rate), ...]`` (for one instrument), or a mapping of
    symbol to either. ``risk`` is a risk file (``[limits]``, ``[state]``, ``[portfolio]``;
    docs/risk.md), its :class:`RiskConfig`, or just :class:`RiskLimits`; without it only
    minimum size and notional are checked. ``journal_run_id`` names the run in a journal
    database (``heron serve`` uses its own run id); by default a new id (a file: ``main``).
    ``checkpoints`` (ascending bar times, ns) pause the run before the first bar at or
    after each: ``at_checkpoint`` gets the result so far and returns False to stop the
    run there (that partial result is returned) or True to go on; the pauses change
    nothing else (optimisation pruning, see docs/research.md).
    """
    limits = (load_risk(risk) if isinstance(risk, (str, Path))
              else RiskConfig(risk) if isinstance(risk, RiskLimits) else risk)
    cash_d = _money(cash, "cash", positive=True)
    venue = _venue_config(fill, fee_bps, slippage_bps, volume_share, leverage)
    frames = _frames(data, symbol)
    fee = venue.fee_rate or Decimal(0)
    series = [bar_series(frame.frame, _instrument(sym, frame, tick_size, lot_size, kind, fee,
                                                  leverage, maintenance_margin), frame.source)
              for sym, frame in frames.items()]
    strategies = _strategies(strategy, params)
    engine = BacktestEngine(series=series, strategies=strategies, cash=cash_d, venue=venue,
                            journal_path=journal, funding=_funding(funding, list(frames)),
                            journal_run_id=journal_run_id)
    if limits is not None:
        engine.use_risk_config(limits)
    for stop_ts in checkpoints:
        engine.run_until(stop_ts, progress)
        if at_checkpoint is not None:
            so_far = build_result(engine, cash_d)
            if not at_checkpoint(so_far):
                engine.abandon()
                return so_far
    engine.run(progress)
    return build_result(engine, cash_d)


def replay(
    catalog: str | Path | Catalog | None,
    *,
    instruments: Sequence[str],
    kinds: Sequence[str] = ("trades",),
    strategy: str | type[Strategy] | Strategy | Sequence[Strategy] = "sma_cross",
    params: Mapping[str, Any] | None = None,
    cash: object = "100000",
    fee_bps: object = None,
    slippage_bps: object = "0",
    leverage: object = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    sample: str = "1m",
    journal: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    fees: Mapping[str, object] | None = None,
    latency: str | int = 0,
) -> BacktestResult:
    """Backtest on replayed catalog data (trades, quotes, L2 book) instead of bars.

    ``instruments`` are ``SYMBOL.VENUE`` ids as ``heron data list`` shows them; ``kinds``
    any of trades, quotes, book_deltas, book_snapshots, funding, mark. Fees are the
    instruments' own unless ``fee_bps`` is given (one rate for all), or ``fees`` gives some
    instruments theirs in basis points: ``{"BTCUSDT.BINANCE": 10}`` (maker and taker) or
    ``{"BTCUSDT.BINANCE_USDM": (2, 5)}`` (maker, taker). ``latency`` (``"5ms"``, or ns)
    delays every order command on its way to matching. Equity is sampled every ``sample``.
    """
    from heron.analytics.bar_builders import interval_ns
    from heron.data.replay import Selection
    from heron.data.schemas import DataKind
    from heron.node.replay_engine import ReplayEngine

    store = catalog if isinstance(catalog, Catalog) else Catalog(
        Path(catalog) if catalog is not None else None)
    selections = [Selection(*_venue_symbol(ref), DataKind.parse(kind))
                  for ref in instruments for kind in kinds]
    cash_d = _money(cash, "cash", positive=True)
    if fees and fee_bps is not None:
        raise InvalidConfiguration("give fee_bps (one rate for every instrument) or fees (per "
                                   "instrument), not both")
    venue = msgspec.structs.replace(_venue_config("next-open", fee_bps, slippage_bps, None,
                                                  leverage), latency_ns=_latency_ns(latency))
    engine = ReplayEngine(catalog=store, selections=selections,
                          strategies=_strategies(strategy, params), cash=cash_d, venue=venue,
                          start_ns=start_ns, end_ns=end_ns, journal_path=journal,
                          sample_ns=interval_ns(sample),
                          fees=_instrument_fees(fees, [f"{s.symbol}.{s.venue}"
                                                       for s in selections]))
    engine.run(progress)
    return build_result(engine, cash_d)


def _latency_ns(latency: str | int) -> int:
    from heron.analytics.bar_builders import interval_ns

    if latency in (0, "0"):
        return 0
    try:
        return interval_ns(latency)
    except InvalidConfiguration:
        raise InvalidConfiguration(f"latency {latency!r} is not a duration; give e.g. '5ms', "
                                   "an int of ns, or 0 for none") from None


def _instrument_fees(fees: Mapping[str, object] | None, ids: list[str]
                     ) -> dict[str, tuple[Decimal, Decimal]]:
    """Per-instrument ``(maker, taker)`` rates from basis points (a number or a pair)."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for iid, given in (fees or {}).items():
        if iid not in ids:
            raise InvalidConfiguration(f"fees given for {iid!r}, which is not replayed "
                                       f"({', '.join(dict.fromkeys(ids))}); use one of those")
        pair = given if isinstance(given, tuple | list) else (given, given)
        if len(pair) != 2:
            raise InvalidConfiguration(f"fees for {iid} must be bps or (maker, taker) bps, "
                                       f"got {given!r}")
        maker, taker = (_money(v, f"fees for {iid}") / 10_000 for v in pair)
        if taker < 0:
            raise InvalidConfiguration(f"taker fee for {iid} must not be negative (a rebate "
                                       f"is a negative maker fee), got {taker * 10_000} bps")
        out[iid] = (maker, taker)
    return out


def _venue_symbol(ref: str) -> tuple[str, str]:
    symbol, dot, venue = ref.rpartition(".")
    if not dot or not symbol or not venue:
        raise InvalidConfiguration(f"instrument {ref!r} is not SYMBOL.VENUE; "
                                   "see `heron data list` for the ids in the catalog")
    return venue, symbol


def _funding(given: Any, symbols: list[str]) -> dict[str, list[tuple[int, Decimal]]]:
    """Funding events per instrument id, rates exact; a bare file or list needs one symbol."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        if len(symbols) != 1:
            raise InvalidConfiguration("funding for several instruments needs a mapping "
                                       "{symbol: file or [(ts, rate), ...]}")
        given = {symbols[0]: given}
    out = {}
    for sym, events in given.items():
        if str(sym) not in symbols:
            raise InvalidConfiguration(f"funding given for {sym!r}, which is not in the data "
                                       f"({', '.join(symbols)}); use one of those symbols")
        rows = read_funding(events) if isinstance(events, str | Path) else events
        out[f"{sym}.SIM"] = [(int(ts), _money(rate, "funding rate")) for ts, rate in rows]
    return out


def _money(value: object, what: str, *, positive: bool = False) -> Decimal:
    try:
        dec = to_decimal(value, what=what)
    except (TypeError, ValueError) as exc:
        raise InvalidConfiguration(f"{exc}; pass a decimal number such as 100000") from None
    if positive and dec <= 0:
        raise InvalidConfiguration(f"{what} must be positive, got {dec}")
    return dec


def _venue_config(fill: str, fee_bps: object, slippage_bps: object, volume_share: object,
                  leverage: object) -> SimVenueConfig:
    try:
        fill_at = FillAt(fill)
    except ValueError:
        raise InvalidConfiguration(f"unknown fill convention {fill!r}; use next-open or close"
                                   ) from None
    fee = _money(fee_bps, "fee_bps") if fee_bps is not None else None
    slip = _money(slippage_bps, "slippage_bps")
    if slip < 0:
        raise InvalidConfiguration(f"slippage_bps must not be negative, got {slip}")
    share = _money(volume_share, "volume_share") if volume_share is not None else None
    if share is not None and not Decimal(0) < share <= Decimal(1):
        raise InvalidConfiguration(f"volume_share must be in (0, 1], got {share}")
    lev = _money(leverage, "leverage", positive=True) if leverage is not None else None
    return SimVenueConfig(fill_at=fill_at, slippage_bps=slip, volume_share=share,
                          fee_rate=None if fee is None else fee / 10_000, leverage=lev)


def _frames(data: Any, symbol: str | None) -> dict[str, BarFrame]:
    if isinstance(data, Mapping):
        if not data:
            raise InvalidConfiguration("no data given; pass at least one bar file")
        return {str(sym): _frame(item) for sym, item in data.items()}
    frame = _frame(data)
    name = symbol or frame.symbol or (Path(str(data)).name.split(".")[0].split("_")[0]
                                      if isinstance(data, str | Path) else "DATA")
    return {name: frame}


def _frame(item: Any) -> BarFrame:
    if isinstance(item, BarFrame):
        return item
    if isinstance(item, str | Path):
        return read_bars(item)
    return bars_from_frame(item)


def _instrument(symbol: str, frame: BarFrame, tick_size: object, lot_size: object, kind: str,
                fee: Decimal, leverage: object, maint: object) -> Instrument:
    if kind not in ("spot", "perp"):
        raise InvalidConfiguration(f"unknown instrument kind {kind!r}; use spot or perp")
    tick = (_money(tick_size, "tick_size", positive=True) if tick_size is not None
            else Decimal(1).scaleb(-frame.price_decimals))
    lot = (_money(lot_size, "lot_size", positive=True) if lot_size is not None
           else Decimal("0.00000001"))
    perp = kind == "perp"
    lev = _money(leverage, "leverage", positive=True) if leverage is not None else Decimal(1)
    return Instrument(
        symbol=symbol, kind=InstrumentKind.LINEAR_PERPETUAL if perp else InstrumentKind.SPOT,
        price_increment=tick, size_increment=lot, maker_fee=fee, taker_fee=fee,
        margin_init=(Decimal(1) / lev) if perp else Decimal(1),
        margin_maint=_money(maint, "maintenance_margin") if perp else Decimal(0))


def _strategies(strategy: Any, params: Mapping[str, Any] | None) -> list[Strategy]:
    if isinstance(strategy, Strategy):
        return [strategy]
    if isinstance(strategy, Sequence) and not isinstance(strategy, str):
        if not all(isinstance(s, Strategy) for s in strategy):
            raise InvalidConfiguration("strategy list must hold Strategy instances")
        return list(strategy)
    cls = strategy_class(strategy) if isinstance(strategy, str) else strategy
    return [cls(**dict(params or {}))]


__all__ = ["BacktestResult", "BarSeries", "backtest", "replay"]
