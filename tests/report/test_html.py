"""The HTML report: whole, offline, every fill marked, long series reduced."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from heron.analytics.metrics import compute_metrics
from heron.errors import DataError, InputError, InvalidConfiguration
from heron.report.html import (
    Fills,
    InstrumentSeries,
    ReportData,
    build_figure,
    metrics_for_report,
    render_report,
    write_report,
)

MINUTE_NS = 60 * 1_000_000_000
T0 = 1_640_995_200_000_000_000  # 2022-01-01 00:00:00 UTC
ONES2 = np.ones(2)
ONES3 = np.ones(3)


def _ns(values: list[int]) -> NDArray[np.int64]:
    return np.array(values, dtype=np.int64)


def _bars(symbol: str, n: int, seed: int = 0, fills: Fills | None = None) -> InstrumentSeries:
    rng = np.random.default_rng(seed)
    close = 40_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0.0, 5.0, n))
    return InstrumentSeries(
        symbol=symbol,
        ts=T0 + np.arange(n, dtype=np.int64) * MINUTE_NS,
        open=open_,
        high=np.maximum(open_, close) + spread,
        low=np.minimum(open_, close) - spread,
        close=close,
        fills=fills or Fills(),
    )


def _fills() -> Fills:
    return Fills(
        ts=[
            T0 + 5 * MINUTE_NS,
            T0 + 20 * MINUTE_NS + 123,
            T0 + 40 * MINUTE_NS,
            T0 + 50 * MINUTE_NS,
            T0 + 70 * MINUTE_NS,
        ],
        side=["buy", "sell", "buy", "buy", "sell"],
        qty=["0.015", "0.015", "0.2", "0.1", "0.3"],
        price=["40012.5", "40110", "39950.25", "39900", "40200.75"],
        fee=["0.24", "0.24", "3.2", "1.6", "4.8"],
    )


def _trades() -> list[dict[str, object]]:
    return [
        {"entry_ts": T0 + 5 * MINUTE_NS, "exit_ts": T0 + 20 * MINUTE_NS + 123, "side": "long",
         "qty": "0.015", "entry_price": "40012.5", "exit_price": "40110", "pnl": 0.98,
         "return_pct": 0.16, "fees": "0.48"},
        {"entry_ts": T0 + 40 * MINUTE_NS, "exit_ts": T0 + 70 * MINUTE_NS, "side": "long",
         "qty": "0.3", "entry_price": "39933.5", "exit_price": "40200.75", "pnl": 70.58,
         "return_pct": 0.67, "fees": "9.6"},
    ]  # fmt: skip


def _equity(n: int, seed: int = 1) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * MINUTE_NS
    return ts, 10_000.0 * np.exp(np.cumsum(rng.normal(0.0, 5e-4, n)))


def _small_report() -> ReportData:
    ts, equity = _equity(100)
    return ReportData(
        title="SMA cross on BTC-PERP",
        instruments=[_bars("BTC-PERP", 100, fills=_fills()), _bars("ETH-PERP", 100, seed=3)],
        equity_ts=ts,
        equity=equity,
        metrics={"Sharpe ratio": 1.25, "Trades": 2, "Profit factor": None},
        trades=_trades(),
    )


def _write(path: Path, data: ReportData) -> Path:
    return write_report(
        path,
        title=data.title,
        instruments=data.instruments,
        equity_ts=data.equity_ts,
        equity=data.equity,
        metrics=data.metrics,
        trades=data.trades,
    )


def _traces(fig: Any, name: str) -> list[Any]:
    return [t for t in fig.data if t.name == name]


# --- the written page ------------------------------------------------------------


def test_write_report_writes_whole_self_contained_page(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.html", _small_report())
    page = path.read_text(encoding="utf-8")

    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    assert "<title>SMA cross on BTC-PERP</title>" in page
    for title in ("BTC-PERP", "ETH-PERP", "Equity", "Drawdown [%]", "Metrics", "Trades"):
        assert title in page
    assert "plotly.js v" in page  # the library itself is inline
    assert '<div id="heron-chart"' in page
    assert page.count('<tr class="trade">') == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


def test_write_report_has_no_remote_scripts_or_styles(tmp_path: Path) -> None:
    page = _write(tmp_path / "run.html", _small_report()).read_text(encoding="utf-8")

    assert not re.search(r"<script[^>]*\ssrc\s*=", page, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*\shref\s*=\s*[\"']?(https?:)?//", page, flags=re.I)


def test_write_report_trade_rows_show_exact_values_and_utc_times(tmp_path: Path) -> None:
    page = _write(tmp_path / "run.html", _small_report()).read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="trade">(.*?)</tr>', page)
    cells = re.findall(r"<td>(.*?)</td>", rows[0])

    assert cells == [
        "2022-01-01 00:05:00",
        "2022-01-01 00:20:00.000000123",
        "long",
        "0.015",
        "40012.5",
        "40110",
        "0.98",
        "0.16",
        "0.48",
    ]


def test_write_report_metrics_table_formats_values(tmp_path: Path) -> None:
    page = _write(tmp_path / "run.html", _small_report()).read_text(encoding="utf-8")
    table = re.search(r'<table class="metrics">(.*?)</table>', page)

    assert table is not None
    assert "<tr><th>Sharpe ratio</th><td>1.25</td></tr>" in table.group(1)
    assert "<tr><th>Profit factor</th><td>—</td></tr>" in table.group(1)


def test_write_report_escapes_user_text(tmp_path: Path) -> None:
    data = _small_report()
    trades = [{**_trades()[0], "side": "<b>long</b>"}]
    path = write_report(
        tmp_path / "r.html",
        title="<script>alert(1)</script>",
        instruments=[_bars("A&B", 10)],
        equity_ts=data.equity_ts,
        equity=data.equity,
        metrics={"<i>x</i>": "<img>"},
        trades=trades,
    )
    page = path.read_text(encoding="utf-8")

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;long&lt;/b&gt;" in page
    assert "<img>" not in page
    assert "A&amp;B" in page


def test_write_report_without_trades_says_so(tmp_path: Path) -> None:
    ts, equity = _equity(10)
    page = write_report(tmp_path / "r.html", title="empty", equity_ts=ts, equity=equity).read_text(
        encoding="utf-8"
    )

    assert "No trades." in page
    assert '<tr class="trade">' not in page


def test_write_report_caps_trade_rows_with_a_note(tmp_path: Path) -> None:
    data = _small_report()
    trades = [_trades()[0]] * 25
    page = write_report(
        tmp_path / "r.html",
        title="many",
        equity_ts=data.equity_ts,
        equity=data.equity,
        trades=trades,
        max_trade_rows=10,
    ).read_text(encoding="utf-8")

    assert page.count('<tr class="trade">') == 10
    assert "Showing the first 10 of 25 trades" in page


def test_render_report_same_data_gives_same_bytes() -> None:
    assert render_report(_small_report()) == render_report(_small_report())


# --- atomicity ---------------------------------------------------------------------


class _ExplodingFloat(float):
    """A metric value that blows up when the table formats it, mid-render."""

    def __format__(self, spec: str) -> str:
        raise RuntimeError("formatting failed")


def test_write_report_render_failure_leaves_no_file_or_temp(tmp_path: Path) -> None:
    data = _small_report()
    with pytest.raises(RuntimeError, match="formatting failed"):
        write_report(
            tmp_path / "run.html",
            title="boom",
            equity_ts=data.equity_ts,
            equity=data.equity,
            metrics={"Sharpe ratio": _ExplodingFloat(1.0)},
        )

    assert list(tmp_path.iterdir()) == []


def test_write_report_render_failure_keeps_previous_report(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.html", _small_report())
    before = path.read_bytes()
    data = _small_report()

    with pytest.raises(RuntimeError):
        write_report(
            path,
            title="boom",
            equity_ts=data.equity_ts,
            equity=data.equity,
            metrics={"x": _ExplodingFloat(2.0)},
        )

    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


# --- the figure ----------------------------------------------------------------------


def test_build_figure_marks_every_fill_with_triangles() -> None:
    fig = build_figure(_small_report())
    (buys,) = _traces(fig, "BTC-PERP buy")
    (sells,) = _traces(fig, "BTC-PERP sell")

    assert len(buys.x) == 3
    assert len(sells.x) == 2
    assert buys.marker.symbol == "triangle-up"
    assert sells.marker.symbol == "triangle-down"
    assert list(buys.y) == [40012.5, 39950.25, 39900.0]
    # Hover shows qty, price and fee exactly as given, and the ns-exact time.
    assert [list(c) for c in sells.customdata] == [
        ["0.015", "40110", "0.24", "2022-01-01 00:20:00.000000123"],
        ["0.3", "40200.75", "4.8", "2022-01-01 01:10:00"],
    ]
    assert _traces(fig, "ETH-PERP buy") == []


def test_build_figure_rows_share_one_date_axis() -> None:
    fig = build_figure(_small_report())
    layout = fig.layout
    titles = [a.text for a in layout.annotations]

    assert titles == ["BTC-PERP", "ETH-PERP", "Equity", "Drawdown [%]"]
    assert [layout[f"xaxis{i}"].type for i in ("", 2, 3, 4)] == ["date"] * 4
    # Zooming any row zooms them all: every axis follows the bottom one.
    assert [layout[f"xaxis{i}"].matches for i in ("", 2, 3)] == ["x4"] * 3
    (candles,) = [t for t in fig.data if t.type == "candlestick" and t.name == "BTC-PERP"]
    assert candles.x[0] == pytest.approx(T0 / 1e6)  # ms since the epoch


def test_build_figure_drawdown_is_underwater_percent() -> None:
    fig = build_figure(
        ReportData(
            title="dd",
            equity_ts=T0 + np.arange(4, dtype=np.int64) * MINUTE_NS,
            equity=np.array([100.0, 120.0, 90.0, 130.0]),
        )
    )
    (drawdown,) = _traces(fig, "Drawdown")

    np.testing.assert_allclose(drawdown.y, [0.0, 0.0, -25.0, 0.0])


def test_build_figure_long_series_is_aggregated_to_ohlc_buckets() -> None:
    n = 120_000
    inst = _bars("BTC-PERP", n, fills=_fills())
    fig = build_figure(ReportData(title="long", instruments=[inst]), max_points=50_000)
    (candles,) = [t for t in fig.data if t.type == "candlestick"]

    # ceil(120000 / 50000) = 3 bars per candle -> 40000 candles.
    assert len(candles.x) == 40_000
    assert candles.open[0] == inst.open[0]
    assert candles.close[-1] == inst.close[-1]
    assert candles.high[0] == inst.high[:3].max()
    assert candles.low[1] == inst.low[3:6].min()
    assert candles.high.max() == inst.high.max()
    assert candles.low.min() == inst.low.min()
    assert "BTC-PERP (1 candle = 3 bars)" in [a.text for a in fig.layout.annotations]
    # Fills are never reduced.
    (buys,) = _traces(fig, "BTC-PERP buy")
    assert len(buys.x) == 3


def test_build_figure_uneven_last_bucket_keeps_final_close() -> None:
    inst = _bars("X", 10)
    fig = build_figure(ReportData(title="t", instruments=[inst]), max_points=4)
    (candles,) = [t for t in fig.data if t.type == "candlestick"]

    assert len(candles.x) == 4  # buckets of 3: [0..2] [3..5] [6..8] [9]
    assert candles.close[-1] == inst.close[-1]
    assert candles.open[-1] == inst.open[9]
    assert candles.high[-1] == inst.high[9]


def test_build_figure_long_equity_keeps_peaks_and_troughs() -> None:
    ts, equity = _equity(200_000)
    fig = build_figure(ReportData(title="eq", equity_ts=ts, equity=equity), max_points=10_000)
    (line,) = _traces(fig, "Equity")
    (drawdown,) = _traces(fig, "Drawdown")
    y = np.asarray(line.y)

    assert len(y) <= 10_002
    assert y.max() == equity.max()
    assert y.min() == equity.min()
    assert y[0] == equity[0] and y[-1] == equity[-1]
    assert bool(np.all(np.diff(np.asarray(line.x)) > 0))
    depth = 1 - equity / np.maximum.accumulate(equity)
    assert np.min(drawdown.y) == pytest.approx(-100 * depth.max())


def test_write_report_million_bars_stays_small(tmp_path: Path) -> None:
    n = 1_000_000
    inst = _bars("BTC-PERP", n, fills=_fills())
    path = write_report(
        tmp_path / "big.html",
        title="1M bars",
        instruments=[inst],
        equity_ts=inst.ts,
        equity=inst.close / 4,
        trades=_trades(),
    )

    assert path.stat().st_size < 15_000_000


def test_build_figure_rejects_tiny_max_points() -> None:
    with pytest.raises(InvalidConfiguration):
        build_figure(_small_report(), max_points=1)


# --- input validation ----------------------------------------------------------------


def test_instrument_series_rejects_mismatched_columns() -> None:
    with pytest.raises(DataError, match="close"):
        InstrumentSeries(symbol="X", ts=_ns([1, 2, 3]), open=ONES3, high=ONES3, low=ONES3,
                         close=np.ones(2))  # fmt: skip


def test_instrument_series_rejects_unsorted_ts() -> None:
    with pytest.raises(DataError, match="increasing"):
        InstrumentSeries(symbol="X", ts=_ns([2, 1]), open=ONES2, high=ONES2, low=ONES2,
                         close=ONES2)  # fmt: skip


def test_fills_reject_unknown_side_and_ragged_columns() -> None:
    with pytest.raises(DataError, match="side"):
        Fills(ts=[1], side=["long"], qty=["1"], price=["1"], fee=["0"])
    with pytest.raises(DataError, match="same length"):
        Fills(ts=[1, 2], side=["buy"], qty=["1"], price=["1"], fee=["0"])


def test_report_data_rejects_trade_without_required_keys() -> None:
    trade = {k: v for k, v in _trades()[0].items() if k != "fees"}
    with pytest.raises(InputError, match="fees"):
        ReportData(title="t", trades=[trade])


def test_report_data_rejects_equity_length_mismatch() -> None:
    with pytest.raises(DataError, match="equity"):
        ReportData(title="t", equity_ts=_ns([1, 2, 3]), equity=np.ones(2))


# --- metrics for people ----------------------------------------------------------------


def test_metrics_for_report_labels_units_and_durations() -> None:
    ts = T0 + np.arange(6, dtype=np.int64) * 3_600 * 1_000_000_000
    metrics = compute_metrics(
        ts=ts,
        equity=[100.0, 110.0, 99.0, 105.0, 121.0, 120.0],
        trade_pnl=[5.0, 16.0],
    )
    shown = metrics_for_report(metrics)

    assert shown["Start"] == "2022-01-01 00:00:00"
    assert shown["Duration"] == "05:00:00"
    assert shown["Max drawdown duration"] == "03:00:00"
    assert shown["Max drawdown [%]"] == pytest.approx(10.0)
    assert shown["Profit factor"] == "∞ (no losing trade)"
    assert shown["Trades"] == 2
    assert shown["Exposure [%]"] is None


def test_metrics_for_report_no_trades_profit_factor_stays_missing() -> None:
    metrics = compute_metrics(ts=[T0, T0 + 2 * 86_400 * 10**9 + 1], equity=[1.0, 1.0])
    shown = metrics_for_report(metrics)

    assert shown["Profit factor"] is None
    assert shown["Duration"] == "2d 00:00:00"
