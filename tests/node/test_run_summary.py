"""A run's headline figures (``heron.node.run_summary``): the rules the API's run list and
``heron status`` share, so that the two show the same numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heron.node.run_summary import backtest_summary, status_overlay, status_summary

STATUS: dict[str, Any] = {
    "trading_state": "READY", "equity": "10012.50", "pnl": "12.5",
    "marks": {"BTCUSDT": "60000.0", "ETHUSDT": "3000"},
    "positions": [{"symbol": "BTCUSDT", "quantity": "-0.2"},
                  {"symbol": "ETHUSDT", "quantity": "1.5"},
                  {"symbol": "SOLUSDT", "quantity": "3"}],   # no mark yet: not counted
    "feeds": [{"state": "live", "lag_ms": 12}],
}


def test_a_status_file_with_its_pnl_is_the_whole_summary() -> None:
    assert status_summary(STATUS) == {
        "trading_state": "READY", "equity": "10012.5", "pnl": "12.5",
        "exposure": "16500", "feeds": STATUS["feeds"]}


def test_an_older_status_file_is_laid_over_the_journals_figures() -> None:
    older = {k: v for k, v in STATUS.items() if k != "pnl"}
    assert status_summary(older) is None
    journal = {"equity": "10000", "pnl": "0", "trading_state": "DEGRADED", "exposure": "1"}
    assert status_overlay(older, journal) == {
        "trading_state": "READY", "equity": "10012.5", "pnl": "12.5",
        "exposure": "16500", "feeds": STATUS["feeds"]}


def test_figures_that_are_not_decimal_text_leave_the_journals_in_place() -> None:
    for bad in (1.5, "NaN", "Infinity", "abc", True, None):
        status = {**STATUS, "equity": bad}
        assert status_summary(status) is None
        assert "equity" not in status_overlay(status, {"equity": "1", "pnl": "0"})
    assert status_overlay({"trading_state": 3}, {"equity": "1", "pnl": "0"}) == {}


def test_a_backtest_has_its_figures_once_it_has_a_result(tmp_path: Path) -> None:
    assert backtest_summary(tmp_path) is None
    (tmp_path / "result.json").write_text(json.dumps(
        {"final_equity": "10250.00", "starting_cash": "10000"}))
    assert backtest_summary(tmp_path) == {"equity": "10250", "pnl": "250",
                                          "trading_state": None, "exposure": None}
    (tmp_path / "result.json").write_text("{not json")
    assert backtest_summary(tmp_path) is None
