"""What a backtest returns: metrics, round trips, fills and the equity curve.

Money columns are exact ``Decimal`` (polars ``Decimal`` dtype); analytics columns are
floats. ``to_dict`` is the ``--json`` document; its layout is documented in
docs/backtesting.md and stable across releases.
"""

from __future__ import annotations

import functools
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
from heron.model.round_trips import RoundTrip
from heron.node.frames import fills_frame, trades_frame
from heron.node.node import SimNode


@dataclass(frozen=True)
class BacktestResult:
    """A finished backtest. ``trades`` and ``fills`` are built on first use (they turn
    every round trip and fill into exact ``Decimal`` columns, which a parameter sweep
    that only reads ``metrics`` should not pay for)."""

    metrics: PerformanceMetrics
    equity: pl.DataFrame
    starting_cash: Decimal
    final_equity: Decimal
    bars: int
    orders: int
    journal_sha256: str
    open_trades: int
    rejections: tuple[tuple[str, str], ...]
    engine: SimNode

    @functools.cached_property
    def trades(self) -> pl.DataFrame:
        """One row per closed round trip (money columns exact)."""
        return trades_frame(self.engine, self.engine.om.trips.closed)

    @functools.cached_property
    def fills(self) -> pl.DataFrame:
        """Every fill, in order (money columns exact)."""
        return fills_frame(self.engine)

    @property
    def funding(self) -> Decimal:
        """Funding received (+) or paid (-) over the run, exact."""
        pf = self.engine.portfolio
        return pf.money(pf.funding)

    @property
    def fees(self) -> Decimal:
        """Fees paid over the run, exact."""
        pf = self.engine.portfolio
        return pf.money(pf.fees)

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
            "fees": _plain(self.fees),
            "funding": _plain(self.funding),
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
            "trades_list": [
                {"instrument": iid, "direction": d, "entry_ts": t0, "exit_ts": t1,
                 "net_pnl": _plain(pnl), "return_pct": ret}
                for iid, d, t0, t1, pnl, ret in self.trades.select(
                    "instrument", "direction", "entry_ts", "exit_ts", "net_pnl",
                    "return_pct").iter_rows()
            ],
            "equity_daily": _daily_equity(self.equity),
            "rejections": [{"client_order_id": c, "reason": r} for c, r in self.rejections],
            "journal_sha256": self.journal_sha256,
        }

    def write_json(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    def write_report(self, path: str | Path, title: str = "heron backtest") -> None:
        """Write the self-contained HTML report (plotly is imported only here)."""
        from heron.report.html import Fills, InstrumentSeries, metrics_for_report, write_report

        eng = self.engine
        instruments = []
        for s in getattr(eng, "series", []):
            mine = self.fills.filter(pl.col("instrument") == s.instrument.id)
            instruments.append(InstrumentSeries(
                symbol=s.instrument.symbol, ts=s.ts, open=s.prices["open"],
                high=s.prices["high"], low=s.prices["low"], close=s.prices["close"],
                fills=Fills(ts=mine["ts"].to_list(), side=mine["side"].to_list(),
                            qty=mine["qty"].to_list(), price=mine["price"].to_list(),
                            fee=mine["fee"].to_list())))
        trades = [{**{k: (_plain(v) if isinstance(v, Decimal) else v) for k, v in row.items()},
                   "side": row["direction"], "pnl": _plain(row["net_pnl"])}  # net of fees
                  for row in self.trades.iter_rows(named=True)]
        write_report(path, title=title, instruments=instruments,
                     equity_ts=self.equity["ts"].to_numpy(),
                     equity=self.equity["equity"].to_numpy(),
                     metrics=metrics_for_report(self.metrics), trades=trades)


def build_result(engine: SimNode, cash: Decimal) -> BacktestResult:
    """Collect an engine's finished run into a :class:`BacktestResult`."""
    pf = engine.portfolio
    ts, equity, exposed = engine.equity_curve()
    closed = engine.om.trips.closed
    final = pf.money(pf.equity())
    scale = 10 ** pf.money_precision
    metrics = compute_metrics(
        ts=ts, equity=equity,
        trade_pnl=np.array([t.net / scale for t in closed]),
        trade_returns=np.array([_trip_return(t, pf) for t in closed]) if closed else None,
        exposure=exposed, fees_paid=pf.fees / scale, turnover=pf.turnover / scale,
        starting_cash=float(cash))
    equity_frame = pl.DataFrame({"ts": ts, "equity": equity,
                                 "drawdown": drawdown_series(equity) if len(equity) else equity})
    return BacktestResult(
        metrics=metrics, equity=equity_frame, starting_cash=cash,
        final_equity=final, bars=engine.bars_processed, orders=len(engine.om.orders),
        journal_sha256=engine.journal.sha256, open_trades=len(engine.om.trips.open),
        rejections=tuple(engine.om.rejections), engine=engine)


def _trip_return(trip: RoundTrip, pf: Any) -> float:
    """Net PnL over the entry notional, as a fraction (for statistics: a float)."""
    inst = pf.instruments[trip.instrument_id]
    entry = inst.notional_raw(trip.entry_cost, 1)
    scale = 10 ** (pf.money_precision - inst.notional_precision)
    return trip.net / (entry * scale) if entry else 0.0


def _daily_equity(equity: pl.DataFrame) -> list[dict[str, Any]]:
    """The last equity sample of each UTC day, ``{ts, equity}`` (float, like the curve).

    A month of one-minute bars is 45,000 samples; the day closes are what daily
    statistics (and ``heron montecarlo --method daily``) need, at 0.1% of the size.
    """
    if equity.is_empty():
        return []
    last = (equity.with_columns((pl.col("ts") // _NS_PER_DAY).alias("day"))
            .group_by("day", maintain_order=True).agg(pl.col("ts").last(),
                                                      pl.col("equity").last()))
    return [{"ts": ts, "equity": value} for ts, value in last.select("ts", "equity").iter_rows()]


_NS_PER_DAY = 86_400 * 1_000_000_000


def _plain(value: Decimal) -> str:
    """Decimal as a plain string without exponent or redundant trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
