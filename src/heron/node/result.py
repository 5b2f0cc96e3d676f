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
        trades = [{k: (v if not isinstance(v, Decimal) else _plain(v)) for k, v in row.items()}
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
        trade_pnl=trades["net_pnl"].cast(pl.Float64).to_numpy() if trades.height else (),
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
    pf = engine.portfolio
    rows = []
    for t in trips:
        inst = pf.instruments[t.instrument_id]
        series = engine.series[engine.ctx.slots[t.instrument_id]]
        entry_px = Decimal(t.entry_cost) / t.entry_qty * inst.price_increment
        exit_px = Decimal(t.exit_cost) / t.exit_qty * inst.price_increment
        entry_notional = Decimal(t.entry_cost) * inst.price_increment * inst.size_increment \
            * inst.multiplier
        net = pf.money(t.net)
        rows.append({
            "instrument": t.instrument_id, "direction": "long" if t.direction > 0 else "short",
            "entry_ts": t.entry_ts, "exit_ts": t.exit_ts,
            "entry_bar": int(np.searchsorted(series.ts, t.entry_ts)),
            "exit_bar": int(np.searchsorted(series.ts, t.exit_ts)),
            "qty": inst.quantity(t.entry_qty), "entry_price": _round(entry_px),
            "exit_price": _round(exit_px), "pnl": pf.money(t.realised),
            "fees": pf.money(t.fees), "funding": pf.money(t.funding), "net_pnl": net,
            "return_pct": float(net / entry_notional * 100) if entry_notional else 0.0,
        })
    if not rows:
        return pl.DataFrame(schema={
            "instrument": pl.String, "direction": pl.String, "entry_ts": pl.Int64,
            "exit_ts": pl.Int64, "entry_bar": pl.Int64, "exit_bar": pl.Int64,
            "qty": pl.Decimal(38, 18), "entry_price": pl.Decimal(38, 18),
            "exit_price": pl.Decimal(38, 18), "pnl": pl.Decimal(38, 18),
            "fees": pl.Decimal(38, 18), "funding": pl.Decimal(38, 18),
            "net_pnl": pl.Decimal(38, 18), "return_pct": pl.Float64})
    return pl.DataFrame(rows, infer_schema_length=None)


def _fills_frame(engine: BacktestEngine) -> pl.DataFrame:
    from heron.model.events import OrderFilled

    pf = engine.portfolio
    rows = []
    for rec in engine.journal.records:
        if isinstance(rec, OrderFilled):
            inst = pf.instruments[rec.instrument_id]
            rows.append((rec.ts_event, rec.instrument_id, rec.client_order_id, rec.side.value,
                         inst.quantity(rec.last_qty), inst.price(rec.last_px),
                         pf.money(rec.fee), rec.liquidity))
    schema = {"ts": pl.Int64, "instrument": pl.String, "client_order_id": pl.String,
              "side": pl.String, "qty": pl.Object, "price": pl.Object, "fee": pl.Object,
              "liquidity": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _round(value: Decimal) -> Decimal:
    """Average prices are quotients: keep 18 significant decimals, exactly rounded."""
    return value.quantize(Decimal("1e-18")) if value.as_tuple().exponent < -18 else value


def _plain(value: Decimal) -> str:
    """Decimal as a plain string without exponent or redundant trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
