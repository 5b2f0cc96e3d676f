"""The round-trip and fill tables of a run, as polars frames with exact Decimal columns.

Money and sizes are integers inside the engine; here they become polars ``Decimal``
columns without passing through a float. Building 30,000 Python ``Decimal`` objects
and handing them to polars costs more than the backtest loop that made them, so each
column is written as decimal text from the integers and cast to ``Decimal(38, scale)``
by polars in one go (tests/node/test_frames.py checks it against ``Decimal`` exactly).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from heron.model.events import OrderFilled
from heron.model.fixed import round_raw

if TYPE_CHECKING:
    from collections.abc import Sequence

    from heron.model.round_trips import RoundTrip
    from heron.node.node import SimNode

PRICE_SCALE = 18  # average prices are quotients: 18 decimals, rounded half-even


def decimal_column(name: str, raw: list[int], scale: int) -> pl.Series:
    """``raw[i] * 10**-scale`` as an exact ``Decimal(38, scale)`` column."""
    texts = []
    for value in raw:
        digits = str(-value if value < 0 else value).rjust(scale + 1, "0")
        cut = len(digits) - scale
        text = f"{digits[:cut]}.{digits[cut:]}" if scale else digits
        texts.append("-" + text if value < 0 else text)
    return pl.Series(name, texts, dtype=pl.String).cast(pl.Decimal(38, scale))


def trades_frame(engine: SimNode, trips: Sequence[RoundTrip]) -> pl.DataFrame:
    """One row per closed round trip, in the order they closed."""
    pf = engine.portfolio
    money = min(pf.money_precision, 24)
    cut = 10 ** (pf.money_precision - money)
    size_scale = max(i.size_precision for i in pf.instruments.values())
    cols: dict[str, list[Any]] = {k: [] for k in (
        "instrument", "direction", "entry_ts", "exit_ts", "qty", "entry_price", "exit_price",
        "pnl", "fees", "funding", "net_pnl", "return_pct")}
    for t in trips:
        inst = pf.instruments[t.instrument_id]
        to_price = inst.tick_raw * 10 ** (PRICE_SCALE - inst.price_precision)
        entry_notional = inst.notional_raw(t.entry_cost, 1) * 10 ** (
            pf.money_precision - inst.notional_precision)
        for key, value in (
            ("instrument", t.instrument_id), ("direction", "long" if t.direction > 0 else "short"),
            ("entry_ts", t.entry_ts), ("exit_ts", t.exit_ts),
            ("qty", t.entry_qty * inst.lot_raw * 10 ** (size_scale - inst.size_precision)),
            ("entry_price", round_raw(t.entry_cost * to_price, t.entry_qty)),
            ("exit_price", round_raw(t.exit_cost * to_price, t.exit_qty)),
            ("pnl", round_raw(t.realised, cut)), ("fees", round_raw(t.fees, cut)),
            ("funding", round_raw(t.funding, cut)), ("net_pnl", round_raw(t.net, cut)),
            ("return_pct", t.net / entry_notional * 100 if entry_notional else 0.0)):
            cols[key].append(value)
    entry_bar, exit_bar = _bar_indexes(engine, trips)
    return pl.DataFrame([
        pl.Series("instrument", cols["instrument"], dtype=pl.String),
        pl.Series("direction", cols["direction"], dtype=pl.String),
        pl.Series("entry_ts", cols["entry_ts"], dtype=pl.Int64),
        pl.Series("exit_ts", cols["exit_ts"], dtype=pl.Int64),
        pl.Series("entry_bar", entry_bar, dtype=pl.Int64),
        pl.Series("exit_bar", exit_bar, dtype=pl.Int64),
        decimal_column("qty", cols["qty"], size_scale),
        decimal_column("entry_price", cols["entry_price"], PRICE_SCALE),
        decimal_column("exit_price", cols["exit_price"], PRICE_SCALE),
        *(decimal_column(k, cols[k], money) for k in ("pnl", "fees", "funding", "net_pnl")),
        pl.Series("return_pct", cols["return_pct"], dtype=pl.Float64),
    ])


def _bar_indexes(engine: SimNode, trips: Sequence[RoundTrip]) -> tuple[list[int], list[int]]:
    """Index, in its instrument's series, of each trip's entry and exit bar (vectorised)."""
    entry, exit_ = [0] * len(trips), [0] * len(trips)
    slots = engine.ctx.slots
    for slot, series in enumerate(getattr(engine, "series", [])):  # tick replays have none
        mine = [k for k, t in enumerate(trips) if slots[t.instrument_id] == slot]
        if not mine:
            continue
        found_in = np.searchsorted(series.ts, [trips[k].entry_ts for k in mine]).tolist()
        found_out = np.searchsorted(series.ts, [trips[k].exit_ts for k in mine]).tolist()
        for k, a, b in zip(mine, found_in, found_out, strict=True):
            entry[k], exit_[k] = a, b
    return entry, exit_


def fills_frame(engine: SimNode) -> pl.DataFrame:
    """Every fill of the run in order, read from the journal."""
    pf = engine.portfolio
    money = min(pf.money_precision, 24)
    cut = 10 ** (pf.money_precision - money)
    size_scale = max(i.size_precision for i in pf.instruments.values())
    price_scale = max(i.price_precision for i in pf.instruments.values())
    ts, iid, coid, side, qty, price, fee, liq = [], [], [], [], [], [], [], []
    for rec in engine.journal.records:
        if type(rec) is OrderFilled:
            inst = pf.instruments[rec.instrument_id]
            ts.append(rec.ts_event)
            iid.append(rec.instrument_id)
            coid.append(rec.client_order_id)
            side.append(rec.side.value)
            qty.append(rec.last_qty * inst.lot_raw * 10 ** (size_scale - inst.size_precision))
            price.append(rec.last_px * inst.tick_raw * 10 ** (price_scale - inst.price_precision))
            fee.append(round_raw(rec.fee, cut))
            liq.append(rec.liquidity)
    return pl.DataFrame([
        pl.Series("ts", ts, dtype=pl.Int64), pl.Series("instrument", iid, dtype=pl.String),
        pl.Series("client_order_id", coid, dtype=pl.String),
        pl.Series("side", side, dtype=pl.String), decimal_column("qty", qty, size_scale),
        decimal_column("price", price, price_scale), decimal_column("fee", fee, money),
        pl.Series("liquidity", liq, dtype=pl.String),
    ])
