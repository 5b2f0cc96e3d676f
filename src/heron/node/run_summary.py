"""A run's headline figures (equity, PnL, trading state, gross exposure), by one set of
rules for the API's run list and ``heron status``, so that the two never disagree.

* A backtest's come from its ``result.json`` (none until it has one).
* A paper or live run's journal gives figures at the marks of its last fills; the
  ``status.json`` the run writes every second has fresher ones (the feed's marks, the
  trading state now) and is laid over them (:func:`status_overlay`).
* A ``status.json`` that carries the PnL (every heron since it wrote one) is enough on
  its own (:func:`status_summary`): replaying a month-old live journal to learn what the
  run already wrote down took minutes.

Every amount is decimal text (:func:`~heron.node.run_status.decimal_text`); a field of
``status.json`` that is missing or not decimal text (an older or partial file) leaves the
journal's figure in place.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from heron.node.run_status import decimal_text


def backtest_summary(run_dir: Path) -> dict[str, Any] | None:
    """Final equity and PnL from ``result.json`` (None until the backtest has one)."""
    try:
        result = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
        final, cash = Decimal(result["final_equity"]), Decimal(result["starting_cash"])
    except (OSError, ValueError, KeyError, TypeError, InvalidOperation):
        return None
    return {"equity": decimal_text(final), "pnl": decimal_text(final - cash),
            "trading_state": None, "exposure": None}


def status_summary(status: dict[str, Any]) -> dict[str, Any] | None:
    """The summary from ``status.json`` alone; None when it has no PnL (an older heron's:
    lay it over the journal's figures with :func:`status_overlay` instead)."""
    equity, pnl = decimal_or_none(status.get("equity")), decimal_or_none(status.get("pnl"))
    if equity is None or pnl is None:
        return None
    return {"trading_state": _state(status), "equity": decimal_text(equity),
            "pnl": decimal_text(pnl), "exposure": decimal_text(_exposure(status)),
            **_feeds(status)}


def status_overlay(status: dict[str, Any], journal: dict[str, Any]) -> dict[str, Any]:
    """What ``status.json`` tells better than the journal's summary ``journal``: equity
    and exposure at the feed's marks (the PnL moved by as much), the trading state now,
    the feeds' health."""
    out: dict[str, Any] = _feeds(status)
    state = _state(status)
    if state is not None:
        out["trading_state"] = state
    equity = decimal_or_none(status.get("equity"))
    journal_equity = decimal_or_none(journal.get("equity"))
    journal_pnl = decimal_or_none(journal.get("pnl"))
    if equity is not None and journal_equity is not None and journal_pnl is not None:
        out.update(equity=decimal_text(equity),
                   pnl=decimal_text(equity - journal_equity + journal_pnl),
                   exposure=decimal_text(_exposure(status)))
    return out


def _state(status: dict[str, Any]) -> str | None:
    state = status.get("trading_state")
    return state if isinstance(state, str) else None


def _feeds(status: dict[str, Any]) -> dict[str, Any]:
    feeds = status.get("feeds")
    if isinstance(feeds, list) and all(isinstance(f, dict) for f in feeds):
        return {"feeds": feeds}
    return {}


def _exposure(status: dict[str, Any]) -> Decimal:
    """Gross exposure of ``status.json``'s positions at its marks."""
    marks = status.get("marks") or {}
    exposure = Decimal(0)
    for position in status.get("positions") or []:
        if not isinstance(position, dict):
            continue
        qty = decimal_or_none(position.get("quantity"))
        mark = decimal_or_none(marks.get(position.get("symbol")))
        if qty is not None and mark is not None:
            exposure += abs(qty) * mark
    return exposure


def decimal_or_none(value: Any) -> Decimal | None:
    """Decimal text (or an int) as a finite Decimal; None for anything else (a float is
    not exact money, and heron never writes one)."""
    if value is None or isinstance(value, bool | float):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


__all__ = ["backtest_summary", "decimal_or_none", "status_overlay", "status_summary"]
