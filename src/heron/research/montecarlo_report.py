"""The Monte Carlo report: one self-contained HTML page with an inline SVG fan chart.

Like the backtest report (heron.report.html) it must open years later on a laptop with
no network, so nothing is fetched: the charts are plain SVG drawn here (a fan of a few
hundred points and a histogram need no plotting library), the styles are inline, and
the page is written atomically. The fan shows, at each step, the 5-95% and 25-75%
bands of equity across all paths, their median, the path the backtest actually took
and the ruin level.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from heron.core.files import write_text_atomic
from heron.research.montecarlo import PERCENTILES, MonteCarloResult

__all__ = ["render_montecarlo_report", "write_montecarlo_report"]

_W: Final = 860
_H: Final = 360
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 20, 16, 44
_BINS: Final = 40


def write_montecarlo_report(result: MonteCarloResult, path: str | Path,
                            title: str = "heron Monte Carlo", source: str = "") -> Path:
    """Render the page and replace ``path`` with it atomically; return the path."""
    target = Path(path)
    write_text_atomic(target, render_montecarlo_report(result, title=title, source=source))
    return target


def render_montecarlo_report(result: MonteCarloResult, *, title: str = "heron Monte Carlo",
                             source: str = "") -> str:
    """The complete HTML page as a string (the same inputs give the same bytes)."""
    doc = result.to_dict()
    unit = "days" if doc["method"] == "daily" else "trades"
    head = html.escape(title)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{head}</title>", f"<style>{_CSS}</style></head><body>", f"<h1>{head}</h1>",
        f'<p class="note">{html.escape(_description(doc, source))}</p>',
        "<h2>Summary</h2>", _summary_table(doc, unit),
        "<h2>Distribution over paths</h2>", _percentile_table(doc, unit),
        f"<h2>Equity fan ({unit})</h2>", _fan_svg(result, unit),
        "<h2>Final equity</h2>", _histogram_svg(result.final_equity, doc["start_equity"]),
        "</body></html>", ""])


def _description(doc: dict[str, Any], source: str) -> str:
    block = "" if doc["scheme"] == "iid" else f", block {doc['block']}"
    origin = f" of {source}" if source else ""
    return (f"{doc['paths']:,} paths of {doc['steps']:,} {doc['method']} returns{origin}, "
            f"{doc['scheme']} bootstrap{block}, seed {doc['seed']}.")


def _summary_table(doc: dict[str, Any], unit: str) -> str:
    hist = doc["historical"]
    rows: list[tuple[str, object]] = [
        ("Paths", doc["paths"]), ("Steps per path", f"{doc['steps']:,} {unit}"),
        ("Returns resampled", doc["returns"]["count"]),
        ("Mean return per step [%]", doc["returns"]["mean"] * 100),
        ("Start equity", doc["start_equity"]),
        ("Ruin level", f"{_fmt(doc['ruin_equity'])} (loss of {doc['ruin_fraction']:.0%})"),
        ("Probability of ruin [%]", doc["probability_of_ruin"] * 100),
        ("Backtest final equity", hist["final_equity"]),
        ("Backtest max drawdown [%]", hist["max_drawdown_pct"]),
        (f"Backtest longest under water [{unit}]", hist["longest_under_water"]),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in rows)
    return f'<table class="metrics">{body}</table>'


def _percentile_table(doc: dict[str, Any], unit: str) -> str:
    cols = ["mean", *(f"p{q}" for q in PERCENTILES)]
    head = "<th></th>" + "".join(f"<th>{'mean' if c == 'mean' else c[1:] + '%'}</th>"
                                 for c in cols)
    rows = (("Final equity", "final_equity"), ("Total return [%]", "total_return_pct"),
            ("Max drawdown [%]", "max_drawdown_pct"),
            (f"Longest under water [{unit}]", "longest_under_water"))
    body = "".join(
        f"<tr><th>{html.escape(label)}</th>"
        + "".join(f"<td>{html.escape(_fmt(doc[key][c]))}</td>" for c in cols) + "</tr>"
        for label, key in rows)
    return f'<table class="dist"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _fan_svg(result: MonteCarloResult, unit: str) -> str:
    """Bands, median, the backtest's own path and the ruin level, on step x equity axes."""
    fan, x = result.fan, result.fan_steps.astype(np.float64)
    history = result.series.history if result.steps == len(result.series.returns) else None
    ruin_level = (1.0 - result.ruin) * result.series.start_equity
    lo = float(fan[0].min()) if history is None else min(float(fan[0].min()), history.min())
    hi = float(fan[-1].max()) if history is None else max(float(fan[-1].max()), history.max())
    if lo - (hi - lo) * 0.25 <= ruin_level <= hi:  # near enough to the paths to show
        lo = min(lo, ruin_level)
    sx, sy = _Scale(0.0, float(result.steps), _LEFT, _W - _RIGHT), _Scale(
        *_padded(lo, hi), _H - _BOTTOM, _TOP)
    parts = [_axes(sx, sy, unit)]
    for lower, upper, cls in ((0, 4, "outer"), (1, 3, "inner")):
        ring = _points(np.concatenate((x, x[::-1])),
                       np.concatenate((fan[upper], fan[lower][::-1])), sx, sy)
        parts.append(f'<polygon class="{cls}" points="{ring}"/>')
    parts.append(f'<polyline class="median" points="{_points(x, fan[2], sx, sy)}"/>')
    if history is not None:
        steps = np.arange(len(history), dtype=np.float64)
        parts.append(f'<polyline class="history" points="{_points(steps, history, sx, sy)}"/>')
    if sy.lo <= ruin_level <= sy.hi:
        y = sy(ruin_level)
        parts.append(f'<line class="ruin" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')
    legend = ('<p class="legend"><span class="k outer"></span>5–95% of paths '
              '<span class="k inner"></span>25–75% <span class="k median"></span>median '
              '<span class="k history"></span>backtest <span class="k ruin"></span>ruin level</p>')
    return _svg(parts, "Equity fan chart") + legend


def _histogram_svg(values: NDArray[np.float64], start: float) -> str:
    counts, edges = np.histogram(values, bins=_BINS)
    sx = _Scale(float(edges[0]), float(edges[-1]) or 1.0, _LEFT, _W - _RIGHT)
    sy = _Scale(0.0, float(counts.max()) * 1.05 or 1.0, _H - _BOTTOM, _TOP)
    parts = [_axes(sx, sy, "final equity", y_label="paths")]
    for c, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        x0, x1, y = sx(float(left)), sx(float(right)), sy(float(c))
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}"'
                     f' height="{sy(0.0) - y:.1f}"/>')
    if sx.lo <= start <= sx.hi:
        parts.append(f'<line class="ruin" x1="{sx(start):.1f}" x2="{sx(start):.1f}" '
                     f'y1="{_TOP}" y2="{_H - _BOTTOM}"/>')
    return _svg(parts, "Histogram of final equity") + (
        '<p class="legend"><span class="k ruin"></span>start equity</p>')


class _Scale:
    """Linear map from data ``[lo, hi]`` to pixels ``[a, b]``."""

    def __init__(self, lo: float, hi: float, a: float, b: float) -> None:
        self.lo, self.hi, self.a, self.b = lo, hi if hi > lo else lo + 1.0, a, b

    def __call__(self, v: float) -> float:
        return self.a + (v - self.lo) / (self.hi - self.lo) * (self.b - self.a)


def _padded(lo: float, hi: float) -> tuple[float, float]:
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round-numbered ticks (1, 2 or 5 x 10^k apart) inside ``[lo, hi]``."""
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _axes(sx: _Scale, sy: _Scale, x_label: str, y_label: str = "equity") -> str:
    out = [f'<rect class="frame" x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" '
           f'height="{_H - _TOP - _BOTTOM}"/>']
    for v in _ticks(sy.lo, sy.hi):
        y = sy(v)
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{_fmt(v)}</text>')
    for v in _ticks(sx.lo, sx.hi):
        x = sx(v)
        out.append(f'<text x="{x:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">'
                   f"{_fmt(v)}</text>")
    out.append(f'<text x="{(_LEFT + _W - _RIGHT) / 2}" y="{_H - 8}" text-anchor="middle">'
               f"{html.escape(x_label)}</text>")
    out.append(f'<text x="14" y="{(_TOP + _H - _BOTTOM) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(_TOP + _H - _BOTTOM) / 2})">'
               f"{html.escape(y_label)}</text>")
    return "".join(out)


def _points(xs: NDArray[np.float64], ys: NDArray[np.float64], sx: _Scale, sy: _Scale) -> str:
    return " ".join(f"{sx(float(a)):.1f},{sy(float(b)):.1f}"
                    for a, b in zip(xs, ys, strict=True))


def _svg(parts: Sequence[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" width="{_W}" '
            f'height="{_H}" role="img" aria-label="{html.escape(label)}">{"".join(parts)}</svg>')


def _fmt(value: object) -> str:
    """Numbers readably (thousands separators from 1,000 up), strings as given."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) >= 1:
        return f"{int(v):,}"
    return f"{v:,.2f}" if abs(v) >= 1000 else f"{v:.4g}"


_CSS: Final = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; }
table { border-collapse: collapse; font-size: 0.85rem; font-variant-numeric: tabular-nums; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #e4e4e4; text-align: right; }
table.metrics th, table.dist tbody th { text-align: left; font-weight: 500; }
table.dist thead th { background: #f6f6f6; }
.note, .legend { color: #666; font-size: 0.85rem; }
svg { font-size: 11px; fill: #444; max-width: 100%; height: auto; }
svg .frame { fill: none; stroke: #bbb; } svg .grid { stroke: #eee; }
svg .outer, .k.outer { fill: #c6dbef; stroke: none; background: #c6dbef; }
svg .inner, .k.inner { fill: #6baed6; stroke: none; background: #6baed6; }
svg .median { fill: none; stroke: #08519c; stroke-width: 2; }
svg .history { fill: none; stroke: #e6550d; stroke-width: 1.5; }
svg .ruin { stroke: #d73027; stroke-dasharray: 5 4; }
svg .bar { fill: #6baed6; }
.k { display: inline-block; width: 1.4em; height: 0.7em; margin: 0 0.3em 0 0.9em; }
.k.median { background: #08519c; } .k.history { background: #e6550d; }
.k.ruin { background: #d73027; }
"""
