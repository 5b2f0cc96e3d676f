"""Checks that a converted bar table is fit to drive a backtest.

A backtest over unsorted, duplicated or impossible bars does not fail: it
quietly produces wrong numbers. So every bar table is checked before heron
uses it, in bulk (one polars pass per group of checks, never a Python loop per
row), and the first offending bar is named with its row and time.
"""

from __future__ import annotations

import polars as pl

from heron.data.bar_columns import PRICE_COLUMNS, BarSource, iso


def _first_hit(frame: pl.DataFrame, masks: dict[str, pl.Expr]) -> tuple[str, int] | None:
    """The earliest row any mask flags, with the mask's name; ties go to the first mask."""
    firsts = frame.select(
        [mask.fill_null(True).arg_true().first().alias(name) for name, mask in masks.items()]
    ).row(0, named=True)
    hits = [(index, order, name) for order, (name, index) in enumerate(firsts.items())]
    found = [(index, order, name) for index, order, name in hits if index is not None]
    if not found:
        return None
    index, _, name = min(found)
    return name, int(index)


def check_order(ts: pl.Series, src: BarSource) -> None:
    """Times must strictly increase: replay order and bar lookup both depend on it."""
    step = ts.diff()
    back = step.lt(0).fill_null(False).arg_true()
    if back.len():
        i = int(back[0])
        raise src.error(
            f"times not sorted at {src.at(i)} ({iso(int(ts[i]))} after {iso(int(ts[i - 1]))})",
            "sort the file by time",
        )
    same = step.eq(0).fill_null(False).arg_true()
    if same.len():
        i = int(same[0])
        raise src.error(
            f"duplicate time {iso(int(ts[i]))} at {src.at(i)} (same as {src.at(i - 1)})",
            "drop the repeated bar",
        )


def _price_masks() -> dict[str, pl.Expr]:
    masks: dict[str, pl.Expr] = {}
    for role in PRICE_COLUMNS:
        masks[f"missing:{role}"] = pl.col(role).is_finite().not_()
    for role in PRICE_COLUMNS:
        masks[f"nonpositive:{role}"] = pl.col(role) <= 0
    masks["high"] = pl.col("high") < pl.max_horizontal("open", "close")
    masks["low"] = pl.col("low") > pl.min_horizontal("open", "close")
    masks["missing:volume"] = pl.col("volume").is_finite().not_()
    masks["negative:volume"] = pl.col("volume") < 0
    return masks


def _describe(kind: str, bar: dict[str, float], where: str) -> tuple[str, str]:
    """Problem and fix texts for the bar that failed check ``kind``."""
    check, _, role = kind.partition(":")
    if check == "missing":
        return (
            f"{role} is missing or not a number at {where}",
            f"fill in the {role} or drop the bar",
        )
    if check == "nonpositive":
        return f"{role} price {bar[role]} is not positive at {where}", "fix or drop the bar"
    if check == "negative":
        return f"negative volume {bar['volume']} at {where}", "fix or drop the bar"
    if check == "high":
        problem = f"high {bar['high']} is below max(open {bar['open']}, close {bar['close']})"
    else:
        problem = f"low {bar['low']} is above min(open {bar['open']}, close {bar['close']})"
    return f"inconsistent bar at {where}: {problem}", f"fix the bar's {check} or drop the bar"


def check_values(frame: pl.DataFrame, src: BarSource) -> None:
    """Prices must be finite and positive, high/low must bracket open and close, volume >= 0."""
    hit = _first_hit(frame, _price_masks())
    if hit is None:
        return
    kind, index = hit
    bar = frame.row(index, named=True)
    where = f"{src.at(index)} ({iso(int(bar['ts']))})"
    problem, fix = _describe(kind, bar, where)
    raise src.error(problem, fix)


def check_bars(frame: pl.DataFrame, src: BarSource) -> None:
    """Run every check on a frame with heron's bar columns; raise on the first problem."""
    check_order(frame["ts"], src)
    check_values(frame, src)
