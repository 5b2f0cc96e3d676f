"""One self-contained, interactive HTML file per run: charts, metrics and trades.

The report has to open years later on a laptop with no network, so plotly.js is
embedded inline (about 4.6 MB) and nothing is fetched from a CDN. Inputs are plain
data (``ReportData``), not engine objects, so a report can be drawn from a journal,
a results file or a notebook alike.

Long series are reduced before plotting, because a browser chokes on a million
candlesticks and the file would grow past 100 MB:

* price bars beyond ``max_points`` are aggregated into OHLC buckets of an equal
  *number of bars* (first open, highest high, lowest low, last close, placed at the
  bucket's first timestamp); the chart title says how many bars one candle holds;
* the equity and drawdown lines keep, per bucket, the samples with the lowest and
  the highest value, so every peak and trough of the curve survives;
* fills are never reduced: every buy and sell is drawn at its exact time and price.

Times go to plotly as float milliseconds since the epoch on date axes (plotly.js
reads numbers on a date axis that way, in UTC), which keeps them in compact binary
arrays instead of date strings; hover texts of fills and the tables show the exact
nanosecond times. The file is written atomically: a crash never leaves half a report.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray
from plotly.subplots import make_subplots  # type: ignore[import-untyped]

from heron.analytics.metrics import PerformanceMetrics, drawdown_series
from heron.core.files import write_text_atomic
from heron.errors import DataError, InputError, InvalidConfiguration

__all__ = [
    "TRADE_COLUMNS",
    "Fills",
    "InstrumentSeries",
    "ReportData",
    "build_figure",
    "metrics_for_report",
    "render_report",
    "write_report",
]

MetricValue = float | int | str | None
Exact = str | Decimal | float | int  # quantities, prices and fees: decimal strings preferred

TRADE_COLUMNS: Final = (
    "entry_ts",
    "exit_ts",
    "side",
    "qty",
    "entry_price",
    "exit_price",
    "pnl",
    "return_pct",
    "fees",
)
_TRADE_HEADERS: Final = (
    "Entry time (UTC)",
    "Exit time (UTC)",
    "Side",
    "Qty",
    "Entry price",
    "Exit price",
    "PnL",
    "Return [%]",
    "Fees",
)
_TS_COLUMNS: Final = frozenset({"entry_ts", "exit_ts"})
_NS_PER_MS: Final = 1_000_000
_NS_PER_DAY: Final = 86_400 * 1_000_000_000
_GL_THRESHOLD: Final = 10_000  # above this many points a line is drawn with WebGL
_MISSING: Final = "—"


def _int_ns(values: ArrayLike, name: str) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim != 1 or (len(arr) and not np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"{name} must be a 1-D array of int64 nanoseconds")
    out = arr.astype(np.int64, copy=False)
    if len(out) > 1 and not bool(np.all(np.diff(out) > 0)):
        raise DataError(f"{name} must be strictly increasing")
    return out


def _floats(values: ArrayLike, name: str, length: int) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (length,):
        raise DataError(f"{name} has shape {arr.shape}, expected ({length},) to match its ts")
    return arr


@dataclass(frozen=True, kw_only=True, eq=False)
class Fills:
    """The executions of one instrument, column by column.

    ``side`` is ``"buy"`` or ``"sell"``; quantities, prices and fees are best given
    as decimal strings so the hover text shows them exactly as the engine booked them.
    """

    ts: Sequence[int] = ()
    side: Sequence[str] = ()
    qty: Sequence[Exact] = ()
    price: Sequence[Exact] = ()
    fee: Sequence[Exact] = ()

    def __post_init__(self) -> None:
        lengths = {len(self.ts), len(self.side), len(self.qty), len(self.price), len(self.fee)}
        if len(lengths) != 1:
            raise DataError("fills columns ts/side/qty/price/fee must all have the same length")
        bad = sorted(set(self.side) - {"buy", "sell"})
        if bad:
            raise DataError(f"fill side must be 'buy' or 'sell', got {bad[:3]}")


@dataclass(frozen=True, kw_only=True, eq=False)
class InstrumentSeries:
    """Price bars of one instrument (ts in int64 UTC nanoseconds) and its fills."""

    symbol: str
    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    fills: Fills = field(default_factory=Fills)

    def __post_init__(self) -> None:
        # Coerce once here, so lists are accepted and later code sees clean arrays.
        ts = _int_ns(self.ts, f"{self.symbol} ts")
        object.__setattr__(self, "ts", ts)
        for name in ("open", "high", "low", "close"):
            values = _floats(getattr(self, name), f"{self.symbol} {name}", len(ts))
            object.__setattr__(self, name, values)


@dataclass(frozen=True, kw_only=True, eq=False)
class ReportData:
    """Everything a report shows, as plain data.

    ``metrics`` are shown in the given order (see ``metrics_for_report``); each of
    ``trades`` needs the keys in ``TRADE_COLUMNS``; times are int ns or strings,
    the other values numbers or (exact) decimal strings.
    """

    title: str
    instruments: Sequence[InstrumentSeries] = ()
    equity_ts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    equity: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, np.float64))
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)
    trades: Sequence[Mapping[str, object]] = ()

    def __post_init__(self) -> None:
        ts = _int_ns(self.equity_ts, "equity_ts")
        object.__setattr__(self, "equity_ts", ts)
        object.__setattr__(self, "equity", _floats(self.equity, "equity", len(ts)))
        for i, trade in enumerate(self.trades):
            missing = [key for key in TRADE_COLUMNS if key not in trade]
            if missing:
                raise InputError(f"trade {i} lacks {missing}: every trade needs {TRADE_COLUMNS}")


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    instruments: Sequence[InstrumentSeries] = (),
    equity_ts: ArrayLike = (),
    equity: ArrayLike = (),
    metrics: Mapping[str, MetricValue] | None = None,
    trades: Sequence[Mapping[str, object]] = (),
    max_points: int = 50_000,
    max_trade_rows: int | None = 10_000,
) -> Path:
    """Render the report and write it to ``path`` atomically; return the path.

    The whole page is rendered in memory first and then written with
    ``write_text_atomic``, so an error while rendering or writing leaves any
    previous report at ``path`` untouched and no temporary file behind.
    """
    data = ReportData(
        title=title,
        instruments=instruments,
        equity_ts=np.asarray(equity_ts, dtype=np.int64),
        equity=np.asarray(equity, dtype=np.float64),
        metrics=metrics or {},
        trades=trades,
    )
    page = render_report(data, max_points=max_points, max_trade_rows=max_trade_rows)
    target = Path(path)
    write_text_atomic(target, page)
    return target


def render_report(
    data: ReportData, *, max_points: int = 50_000, max_trade_rows: int | None = 10_000
) -> str:
    """Return the complete HTML page; ``max_trade_rows=None`` lists every trade."""
    figure = build_figure(data, max_points=max_points)
    chart = figure.to_html(
        full_html=False,
        include_plotlyjs=True,  # inline, so the file works offline
        div_id="heron-chart",  # fixed id: the same run gives the same bytes
        config={"displaylogo": False, "scrollZoom": True, "responsive": True},
    )
    title = html.escape(data.title)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{title}</title>",
            f"<style>{_CSS}</style></head><body>",
            f"<h1>{title}</h1>",
            "<h2>Metrics</h2>",
            _metrics_table(data.metrics),
            chart,
            "<h2>Trades</h2>",
            _trades_table(data.trades, max_trade_rows),
            "</body></html>",
            "",
        ]
    )


def build_figure(data: ReportData, *, max_points: int = 50_000) -> Any:
    """Build the plotly figure: a price row per instrument, then equity and drawdown.

    All rows share one time axis, so zooming on a trade zooms the equity with it.
    Returns a ``plotly.graph_objects.Figure``.
    """
    if max_points < 2:
        raise InvalidConfiguration(f"max_points {max_points} must be at least 2")
    titles = [_price_title(inst, max_points) for inst in data.instruments]
    titles += ["Equity", "Drawdown [%]"]
    rows = len(titles)
    heights = [3.0] * len(data.instruments) + [2.0, 1.5]
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.06, 0.25 / rows),
        row_heights=heights,
        subplot_titles=titles,
    )
    for row, inst in enumerate(data.instruments, start=1):
        _add_price(fig, inst, row, max_points)
        _add_fills(fig, inst, row)
    _add_equity(fig, data.equity_ts, data.equity, rows - 1, max_points)
    fig.update_xaxes(type="date", rangeslider_visible=False, showspikes=True, spikemode="across")
    fig.update_yaxes(title_text="Equity", row=rows - 1, col=1)
    fig.update_yaxes(title_text="%", row=rows, col=1)
    fig.update_layout(
        template="plotly_white",
        height=int(sum(heights) * 130 + 120),
        hovermode="closest",
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom"},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def metrics_for_report(metrics: PerformanceMetrics) -> dict[str, MetricValue]:
    """Label and order ``PerformanceMetrics`` for people: units in the labels,
    times as UTC dates, durations as ``"3d 04:05:06"``, an infinite profit factor
    spelled out."""
    m = metrics
    profit_factor: MetricValue = m.profit_factor
    if profit_factor is None and m.num_trades and m.win_rate_pct == 100.0:
        profit_factor = "∞ (no losing trade)"
    return {
        "Start": _format_ts(m.start_ts),
        "End": _format_ts(m.end_ts),
        "Duration": _format_duration(m.duration_ns),
        "Start equity": m.start_equity,
        "End equity": m.end_equity,
        "Total return [%]": m.total_return_pct,
        "Annual return [%]": m.annual_return_pct,
        "Annual volatility [%]": m.annual_volatility_pct,
        "Sharpe ratio": m.sharpe_ratio,
        "Sortino ratio": m.sortino_ratio,
        "Calmar ratio": m.calmar_ratio,
        "Max drawdown [%]": m.max_drawdown_pct,
        "Max drawdown duration": _format_duration(m.max_drawdown_duration_ns),
        "Max drawdown duration [bars]": m.max_drawdown_duration_periods,
        "Trades": m.num_trades,
        "Win rate [%]": m.win_rate_pct,
        "Profit factor": profit_factor,
        "Avg trade PnL": m.avg_trade_pnl,
        "Best trade PnL": m.best_trade_pnl,
        "Worst trade PnL": m.worst_trade_pnl,
        "Avg trade return [%]": m.avg_trade_return_pct,
        "Best trade return [%]": m.best_trade_return_pct,
        "Worst trade return [%]": m.worst_trade_return_pct,
        "Exposure [%]": m.exposure_pct,
        "Turnover": m.turnover,
        "Fees paid": m.fees_paid,
        "Periods per year": m.periods_per_year,
    }


# --- figure pieces ----------------------------------------------------------------


class _Ohlc(NamedTuple):
    ts: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]


def _bucket_size(n: int, max_buckets: int) -> int:
    return max(1, math.ceil(n / max_buckets))


def _buckets(values: NDArray[Any], size: int) -> NDArray[Any]:
    """Reshape into rows of ``size``, padding the last row with its final value."""
    rows = math.ceil(len(values) / size)
    return np.pad(values, (0, rows * size - len(values)), mode="edge").reshape(rows, size)


def _downsample_ohlc(inst: InstrumentSeries, max_points: int) -> _Ohlc:
    """Aggregate to at most ``max_points`` candles of an equal number of bars."""
    size = _bucket_size(len(inst.ts), max_points)
    if size == 1:
        return _Ohlc(inst.ts, inst.open, inst.high, inst.low, inst.close)
    return _Ohlc(
        ts=inst.ts[::size],
        open=_buckets(inst.open, size)[:, 0],
        high=_buckets(inst.high, size).max(axis=1),
        low=_buckets(inst.low, size).min(axis=1),
        close=_buckets(inst.close, size)[:, -1],
    )


def _downsample_line(
    ts: NDArray[np.int64], values: NDArray[np.float64], max_points: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Keep each bucket's lowest and highest sample (plus both ends), in time order."""
    n = len(values)
    if n <= max_points:
        return ts, values
    size = _bucket_size(n, max_points // 2)
    shaped = _buckets(values, size)
    first = np.arange(len(shaped)) * size
    keep = np.concatenate(
        (first + shaped.argmin(axis=1), first + shaped.argmax(axis=1), [0, n - 1])
    )
    idx = np.unique(np.minimum(keep, n - 1))
    return ts[idx], values[idx]


def _ms(ts: NDArray[np.int64]) -> NDArray[np.float64]:
    return ts.astype(np.float64) / _NS_PER_MS


def _line_trace(n_points: int) -> Any:
    return go.Scattergl if n_points > _GL_THRESHOLD else go.Scatter


def _price_title(inst: InstrumentSeries, max_points: int) -> str:
    size = _bucket_size(len(inst.ts), max_points)
    label = html.escape(inst.symbol)
    return label if size == 1 else f"{label} (1 candle = {size} bars)"


def _add_price(fig: Any, inst: InstrumentSeries, row: int, max_points: int) -> None:
    bars = _downsample_ohlc(inst, max_points)
    fig.add_trace(
        go.Candlestick(
            x=_ms(bars.ts),
            open=bars.open,
            high=bars.high,
            low=bars.low,
            close=bars.close,
            name=inst.symbol,
            showlegend=False,
        ),
        row=row,
        col=1,
    )


def _add_fills(fig: Any, inst: InstrumentSeries, row: int) -> None:
    """Buys as green up-triangles, sells as red down-triangles, every one of them."""
    fills = inst.fills
    styles = {"buy": ("triangle-up", "#1a9850"), "sell": ("triangle-down", "#d73027")}
    for side, (symbol, color) in styles.items():
        picked = [i for i, s in enumerate(fills.side) if s == side]
        if not picked:
            continue
        ts = np.array([fills.ts[i] for i in picked], dtype=np.int64)
        custom = [
            [str(fills.qty[i]), str(fills.price[i]), str(fills.fee[i]), _format_ts(fills.ts[i])]
            for i in picked
        ]
        fig.add_trace(
            _line_trace(len(picked))(
                x=_ms(ts),
                y=np.array([float(fills.price[i]) for i in picked], dtype=np.float64),
                mode="markers",
                name=f"{inst.symbol} {side}",
                marker={"symbol": symbol, "color": color, "size": 11},
                customdata=custom,
                hovertemplate=(
                    f"<b>{side.upper()}</b> %{{customdata[0]}} @ %{{customdata[1]}}"
                    "<br>fee %{customdata[2]}<br>%{customdata[3]}"
                    f"<extra>{html.escape(inst.symbol)}</extra>"
                ),
            ),
            row=row,
            col=1,
        )


def _add_equity(
    fig: Any, ts: NDArray[np.int64], equity: NDArray[np.float64], row: int, max_points: int
) -> None:
    """Equity on ``row`` and its underwater curve (``-100 * drawdown``) below it."""
    # Drawdown from the full curve, then reduced: reducing first could miss a peak.
    underwater = -100.0 * drawdown_series(equity)
    eq_ts, eq_values = _downsample_line(ts, equity, max_points)
    dd_ts, dd_values = _downsample_line(ts, underwater, max_points)
    trace = _line_trace(len(eq_values))
    fig.add_trace(
        trace(
            x=_ms(eq_ts),
            y=eq_values,
            mode="lines",
            name="Equity",
            line={"color": "#3366cc"},
            showlegend=False,
        ),
        row=row,
        col=1,
    )
    fig.add_trace(
        trace(
            x=_ms(dd_ts),
            y=dd_values,
            mode="lines",
            fill="tozeroy",
            name="Drawdown",
            line={"color": "#d73027"},
            showlegend=False,
        ),
        row=row + 1,
        col=1,
    )


# --- tables -----------------------------------------------------------------------


def _format_ts(ns: int) -> str:
    """UTC ``YYYY-mm-dd HH:MM:SS[.fraction]``, exact to the nanosecond."""
    secs, frac = divmod(int(ns), 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    return base if frac == 0 else f"{base}.{frac:09d}".rstrip("0")


def _format_duration(ns: int) -> str:
    days, rest = divmod(int(ns), _NS_PER_DAY)
    secs = rest // 1_000_000_000
    clock = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
    return f"{days}d {clock}" if days else clock


def _format_value(value: object) -> str:
    """Numbers readably (thousands separators above 1,000), strings exactly as given."""
    if value is None:
        return _MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.6g}"


def _format_cell(column: str, value: object) -> str:
    if column in _TS_COLUMNS and isinstance(value, int | np.integer):
        return _format_ts(int(value))
    return _format_value(value)


def _metrics_table(metrics: Mapping[str, MetricValue]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(_format_value(value))}</td></tr>"
        for name, value in metrics.items()
    )
    return f'<table class="metrics">{rows}</table>'


def _trades_table(trades: Sequence[Mapping[str, object]], max_rows: int | None) -> str:
    """All trades up to ``max_rows``; a note says how many were left out beyond it."""
    shown = trades if max_rows is None else trades[:max_rows]
    head = "".join(f"<th>{h}</th>" for h in _TRADE_HEADERS)
    body = "".join(
        '<tr class="trade">'
        + "".join(f"<td>{html.escape(_format_cell(c, t[c]))}</td>" for c in TRADE_COLUMNS)
        + "</tr>"
        for t in shown
    )
    note = ""
    if len(shown) < len(trades):
        note = (
            f'<p class="note">Showing the first {len(shown):,} of {len(trades):,} trades; '
            "the results files hold them all.</p>"
        )
    if not trades:
        note = '<p class="note">No trades.</p>'
    table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
    return f'{note}<table class="trades">{table}</table>'


_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #e4e4e4; text-align: right; }
table.metrics th { text-align: left; font-weight: 500; }
table.trades { display: block; max-height: 32rem; overflow: auto; }
table.trades thead th { position: sticky; top: 0; background: #f6f6f6; }
.note { color: #666; font-size: 0.85rem; }
"""
