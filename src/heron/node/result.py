"""What a backtest returns: metrics, round trips, fills and the equity curve.

Money columns are exact ``Decimal`` (polars ``Decimal`` dtype); analytics columns are
floats. ``to_dict`` is the ``--json`` document; its layout is documented in
docs/backtesting.md and stable across releases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl

from heron.analytics.metrics import PerformanceMetrics, compute_metrics, drawdown_series
from heron.core.files import write_text_atomic
from heron.model.events import OrderFilled
from heron.model.round_trips import RoundTrip
from heron.node.backtest import BacktestEngine
from heron.report.html import Fills, InstrumentSeries, metrics_for_report, write_report


@dataclass(frozen=True)
class BacktestResult:
    metrics: PerformanceMetrics
    trades: pl.DataFrame
    equity: pl.DataFrame
    fills: pl.DataFrame
    starting_cash: Decimal
    final_equity: Decimal
    bars: int
    orders: int
    journal_sha256: str
    open_trades: int
    rejections: tuple[tuple[str, str], ...]
    engine: BacktestEngine

    @property
    def return_pct(self) -> Decimal:
        return (self.final_equity / self.starting_cash - 1) * 100

    def to_dict(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "bars": self.bars,
            "orders": self.orders,
            "fills": self.fills.height,
            "trades": self.trades.height,
            "open_trades": self.open_trades,
            "starting_cash": str(self.starting_cash),
            "final_equity": _plain(self.final_equity),
            "return_pct": float(self.return_pct),
            "metrics": {
                "sharpe": m.sharpe_ratio, "sortino": m.sortino_ratio,
                "max_drawdown_pct": m.max_drawdown_pct, "win_rate": m.win_rate_pct,
                "profit_factor": m.profit_factor, "exposure_pct": m.exposure_pct,
                **msgspec.to_builtins(m),
            },
            "fills_list": [
                {"ts": ts, "instrument": iid, "side": side, "qty": str(qty),
                 "price": str(price), "fee": _plain(fee)}
                for ts, iid, side, qty, price, fee in self.fills.select(
                    "ts", "instrument", "side", "qty", "price", "fee").iter_rows()
            ],
            "rejections": [{"client_order_id": c, "reason": r} for c, r in self.rejections],
            "journal_sha256": self.journal_sha256,
        }

    def write_json(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    def write_report(self, path: str | Path, title: str = "heron backtest") -> None:
        eng = self.engine
        instruments = []
        for s in eng.series:
            mine = self.fills.filter(pl.col("instrument") == s.instrument.id)
            instruments.append(InstrumentSeries(
                symbol=s.instrument.symbol, ts=s.ts, open=s.prices["open"],
                high=s.prices["high"], low=s.prices["low"], close=s.prices["close"],
                fills=Fills(ts=mine["ts"].to_list(), side=mine["side"].to_list(),
                            qty=mine["qty"].to_list(), price=mine["price"].to_list(),
                            fee=mine["fee"].to_list())))
        trades = [{"side": row["direction"], **{k: (_plain(v) if isinstance(v, Decimal) else v)
                                                for k, v in row.items()}}
                  for row in self.trades.iter_rows(named=True)]
        write_report(path, title=title, instruments=instruments,
                     equity_ts=self.equity["ts"].to_numpy(),
                     equity=self.equity["equity"].to_numpy(),
                     metrics=metrics_for_report(self.metrics), trades=trades)


def build_result(engine: BacktestEngine, cash: Decimal) -> BacktestResult:
    """Collect an engine's finished run into a :class:`BacktestResult`."""
    pf = engine.portfolio
    ts, equity, exposed = engine.equity.curve(engine.series)
    trades = _trades_frame(engine, engine.om.trips.closed)
    fills = _fills_frame(engine)
    final = pf.money(pf.equity())
    scale = 10 ** pf.money_precision
    metrics = compute_metrics(
        ts=ts, equity=equity,
        trade_pnl=np.array([t.net / scale for t in engine.om.trips.closed]),
        trade_returns=trades["return_pct"].to_numpy() / 100 if trades.height else None,
        exposure=exposed, fees_paid=pf.fees / scale, turnover=pf.turnover / scale,
        starting_cash=float(cash))
    equity_frame = pl.DataFrame({"ts": ts, "equity": equity,
                                 "drawdown": drawdown_series(equity) if len(equity) else equity})
    return BacktestResult(
        metrics=metrics, trades=trades, equity=equity_frame, fills=fills, starting_cash=cash,
        final_equity=final, bars=engine.bars_processed, orders=len(engine.om.orders),
        journal_sha256=engine.journal.sha256, open_trades=len(engine.om.trips.open),
        rejections=tuple(engine.om.rejections), engine=engine)


def _trades_frame(engine: BacktestEngine, trips: list[RoundTrip]) -> pl.DataFrame:
    """One row per closed round trip; prices and money as exact polars Decimals."""
    pf = engine.portfolio
    cols: dict[str, list[Any]] = {name: [] for name in _TRADE_SCHEMA}
    bars = _bar_indexes(engine, trips)
    for t, (entry_bar, exit_bar) in zip(trips, bars, strict=True):
        inst = pf.instruments[t.instrument_id]
        cost_unit = inst.price_increment * inst.size_increment * inst.multiplier
        entry_notional = t.entry_cost * cost_unit
        values = (
            t.instrument_id, "long" if t.direction > 0 else "short", t.entry_ts, t.exit_ts,
            entry_bar, exit_bar, inst.quantity(t.entry_qty),
            _avg_price(t.entry_cost, t.entry_qty, inst.price_increment),
            _avg_price(t.exit_cost, t.exit_qty, inst.price_increment), pf.money(t.realised),
            pf.money(t.fees), pf.money(t.funding), pf.money(t.net),
            float(pf.money(t.net) / entry_notional * 100) if entry_notional else 0.0)
        for name, value in zip(_TRADE_SCHEMA, values, strict=True):
            cols[name].append(value)
    money = pl.Decimal(38, min(pf.money_precision, 24))
    schema = {name: (money if dtype is None else dtype) for name, dtype in _TRADE_SCHEMA.items()}
    return pl.DataFrame(cols, schema=schema)


def _bar_indexes(engine: BacktestEngine, trips: list[RoundTrip]) -> list[tuple[int, int]]:
    """Index, in its instrument's series, of each trip's entry and exit bar (vectorised)."""
    out: list[tuple[int, int]] = [(0, 0)] * len(trips)
    for slot, series in enumerate(engine.series):
        mine = [k for k, t in enumerate(trips) if engine.ctx.slots[t.instrument_id] == slot]
        if not mine:
            continue
        entry = np.searchsorted(series.ts, [trips[k].entry_ts for k in mine])
        exit_ = np.searchsorted(series.ts, [trips[k].exit_ts for k in mine])
        for k, a, b in zip(mine, entry.tolist(), exit_.tolist(), strict=True):
            out[k] = (a, b)
    return out


_PRICE = pl.Decimal(38, 18)
#: trade columns; None = money (scale = the run's money precision)
_TRADE_SCHEMA: dict[str, Any] = {
    "instrument": pl.String, "direction": pl.String, "entry_ts": pl.Int64, "exit_ts": pl.Int64,
    "entry_bar": pl.Int64, "exit_bar": pl.Int64, "qty": _PRICE, "entry_price": _PRICE,
    "exit_price": _PRICE, "pnl": None, "fees": None, "funding": None, "net_pnl": None,
    "return_pct": pl.Float64,
}


def _avg_price(cost: int, qty: int, increment: Decimal) -> Decimal:
    """Average of ``cost / qty`` ticks as a price, rounded half-even to 18 decimals."""
    return (Decimal(cost) * increment / qty).quantize(Decimal("1e-18"))


def _fills_frame(engine: BacktestEngine) -> pl.DataFrame:
    """Every fill of the run, in order, from the journal."""
    pf = engine.portfolio
    cols: dict[str, list[Any]] = {name: [] for name in _FILL_SCHEMA}
    for rec in engine.journal.records:
        if isinstance(rec, OrderFilled):
            inst = pf.instruments[rec.instrument_id]
            values = (rec.ts_event, rec.instrument_id, rec.client_order_id, rec.side.value,
                      inst.quantity(rec.last_qty), inst.price(rec.last_px), pf.money(rec.fee),
                      rec.liquidity)
            for name, value in zip(_FILL_SCHEMA, values, strict=True):
                cols[name].append(value)
    money = pl.Decimal(38, min(pf.money_precision, 24))
    schema = {name: (money if dtype is None else dtype) for name, dtype in _FILL_SCHEMA.items()}
    return pl.DataFrame(cols, schema=schema)


_FILL_SCHEMA: dict[str, Any] = {
    "ts": pl.Int64, "instrument": pl.String, "client_order_id": pl.String, "side": pl.String,
    "qty": _PRICE, "price": _PRICE, "fee": None, "liquidity": pl.String,
}


def _plain(value: Decimal) -> str:
    """Decimal as a plain string without exponent or redundant trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
