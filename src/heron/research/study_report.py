"""Self-contained HTML reports for ``heron optimize`` and ``heron walkforward``.

Same conventions as the backtest report (:mod:`heron.report.html`): one file, no
network (the charts are small inline SVG, not a script from a CDN), the same styles and
number formats, exact UTC times, written atomically. The charts are drawn here in a few
lines of SVG because they are simple (bars of importances, one equity line) and an
optimisation report should open instantly, without 4.6 MB of plotly.js.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.core.files import write_text_atomic
from heron.report.html import _CSS, _format_ts, _format_value, _metrics_table
from heron.research.optimize import StudyResult, TrialRow
from heron.research.walkforward import WalkResult

__all__ = ["optimize_page", "walkforward_page", "write_page"]

_EXTRA_CSS = """
table.rows { display: block; max-height: 36rem; overflow: auto; }
table.rows thead th { position: sticky; top: 0; background: #f6f6f6; }
tr.fail td { color: #999; } tr.best td { font-weight: 600; }
tr.pruned td { color: #999; font-style: italic; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
"""
_W, _H = 720, 260


def write_page(path: str | Path, page: str) -> None:
    write_text_atomic(path, page)


def _page(title: str, body: Sequence[str]) -> str:
    t = html.escape(title)
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>{t}</title>", f"<style>{_CSS}{_EXTRA_CSS}</style></head><body>",
                      f"<h1>{t}</h1>", *body, "</body></html>", ""])


def optimize_page(result: StudyResult, title: str) -> str:
    """The study: best trial(s), parameter importance, every trial."""
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in result.objectives)
    pruned = sum(r.state == "PRUNED" for r in result.trials)
    body = [f'<p class="note">Study {html.escape(result.study)}: {len(result.trials)} trials '
            f"({result.added} added by this run{f', {pruned} pruned' if pruned else ''}); "
            f"objectives: {html.escape(objectives)}.</p>"]
    for row in result.best:
        body += [f"<h2>Best trial #{row.number}</h2>",
                 _metrics_table({**{f"param {k}": v for k, v in row.params.items()},
                                 **row.metrics})]
    body.append("<h2>Parameter importance</h2>")
    if result.importance:
        body.append(_bars_svg(sorted(result.importance.items(), key=lambda kv: -kv[1])))
    else:
        body.append('<p class="note">Not enough completed trials to estimate importance.</p>')
    body += ["<h2>Trials</h2>", _trials_table(result.trials, {r.number for r in result.best},
                                              [o.name for o in result.objectives])]
    return _page(title, body)


def walkforward_page(result: WalkResult, title: str) -> str:
    """Stitched out-of-sample curve and metrics first, then the folds."""
    ratio = result.degradation
    body = ["<h2>Out-of-sample (stitched) metrics</h2>",
            _metrics_table({**result.metrics, "degradation ratio (OOS/IS "
                            f"{result.objective})": ratio}),
            "<h2>Stitched out-of-sample equity</h2>",
            _line_svg(result.equity_ts, result.equity), "<h2>Folds</h2>",
            _folds_table(result)]
    return _page(title, body)


def _cells(values: Sequence[Any], tag: str = "td") -> str:
    return "".join(f"<{tag}>{html.escape(_format_value(v))}</{tag}>" for v in values)


def _trials_table(rows: Sequence[TrialRow], best: set[int], names: list[str]) -> str:
    params = sorted({k for r in rows for k in r.params})
    staged = any(r.intermediate for r in rows)  # pruning: the objective at each checkpoint
    head = _cells(["#", "state", *params, *names, *(["at checkpoints", "bars"] if staged
                                                   else []), "trades", "note"], "th")
    body = []
    for r in rows:
        values: list[float | None] = list(r.values) if r.values else [None] * len(names)
        css = ("best" if r.number in best else "pruned" if r.state == "PRUNED"
               else "fail" if r.state != "COMPLETE" else "")
        marks = [", ".join(f"{k}: {_format_value(v)}" for k, v in sorted(r.intermediate.items())),
                 r.bars] if staged else []
        body.append(f'<tr class="{css}">' + _cells(
            [r.number, r.state, *[r.params.get(p) for p in params], *values, *marks,
             r.metrics.get("trades"), r.note]) + "</tr>")
    return (f'<table class="rows"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _folds_table(result: WalkResult) -> str:
    head = _cells(["fold", "train from", "train to", "test from", "test to", "params",
                   f"IS {result.objective}", f"OOS {result.objective}", "OOS return %",
                   "OOS trades", "note"], "th")
    body = []
    for r in result.folds:
        f = r.fold
        params = ", ".join(f"{k}={v}" for k, v in (r.params or {}).items())
        body.append("<tr>" + _cells([f.index, _format_ts(f.train_start), _format_ts(f.train_end),
                                     _format_ts(f.test_start), _format_ts(f.test_end), params,
                                     r.is_value, r.oos_value, r.oos_metrics.get("return_pct"),
                                     r.oos_metrics.get("trades"), r.note]) + "</tr>")
    return (f'<table class="rows"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _bars_svg(items: Sequence[tuple[str, float]]) -> str:
    """Horizontal bars, one per parameter, longest first."""
    row, label_w = 22, 140
    height = row * len(items) + 10
    top = max((v for _, v in items), default=1.0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
             'role="img" aria-label="parameter importance">']
    for i, (name, value) in enumerate(items):
        y = 5 + i * row
        width = (_W - label_w - 80) * max(value, 0.0) / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
                     f"{html.escape(name)}</text>"
                     f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" '
                     'fill="#3b6ea8"/>'
                     f'<text x="{label_w + width + 6:.1f}" y="{y + 14}">{value:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _line_svg(ts: NDArray[np.int64], values: NDArray[np.float64],
              max_points: int = 2_000) -> str:
    """One equity line; long curves keep each bucket's low and high so no dip is lost."""
    if len(values) < 2:
        return '<p class="note">No out-of-sample equity (no fold completed).</p>'
    idx = _keep_extremes(values, max_points)
    x = ts[idx].astype(np.float64)
    y = values[idx]
    pad = 40
    sx = (x - x[0]) / max(x[-1] - x[0], 1.0) * (_W - 2 * pad) + pad
    lo, hi = float(y.min()), float(y.max())
    sy = _H - pad - (y - lo) / max(hi - lo, 1e-12) * (_H - 2 * pad)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(sx, sy, strict=True))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            'aria-label="stitched out-of-sample equity">'
            f'<polyline fill="none" stroke="#3b6ea8" stroke-width="1.2" points="{points}"/>'
            f'<text x="{pad}" y="{_H - 10}">{html.escape(_format_ts(int(ts[0])))}</text>'
            f'<text x="{_W - pad}" y="{_H - 10}" text-anchor="end">'
            f"{html.escape(_format_ts(int(ts[-1])))}</text>"
            f'<text x="4" y="{pad - 8}">{html.escape(_format_value(hi))}</text>'
            f'<text x="4" y="{_H - pad + 14}">{html.escape(_format_value(lo))}</text></svg>')


def _keep_extremes(values: NDArray[np.float64], max_points: int) -> NDArray[np.int64]:
    n = len(values)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    size = -(-n // (max_points // 2))
    keep = {0, n - 1}
    for start in range(0, n, size):
        chunk = values[start:start + size]
        keep.update((start + int(chunk.argmin()), start + int(chunk.argmax())))
    return np.array(sorted(keep), dtype=np.int64)

