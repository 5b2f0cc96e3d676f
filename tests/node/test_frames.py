"""Exact Decimal columns for the trade and fill tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import heron
from heron.model.fixed import EXACT
from heron.node.frames import decimal_column

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"


@settings(max_examples=60, deadline=None)
@given(scale=st.integers(0, 24), data=st.data())
def test_decimal_column_is_exact(scale: int, data: st.DataObject) -> None:
    bound = 10**38 - 1
    raw = data.draw(st.lists(st.integers(-bound, bound), min_size=1, max_size=200))
    column = decimal_column("x", raw, scale)
    assert column.to_list() == [Decimal(r).scaleb(-scale, EXACT) for r in raw]


def test_trades_and_fills_tables_match_the_engine_exactly() -> None:
    result = heron.backtest(DATA, strategy="sma_cross", params={"fast": 10, "slow": 50})
    pf = result.engine.portfolio
    trips = result.engine.om.trips.closed
    assert result.trades.height == len(trips)
    assert result.trades["net_pnl"].to_list() == [pf.money(t.net) for t in trips]
    assert result.trades["fees"].to_list() == [pf.money(t.fees) for t in trips]
    fills = result.fills
    assert fills.height == pf.fill_count
    assert sum(fills["fee"].to_list(), Decimal(0)) == pf.money(pf.fees)
    inst = next(iter(pf.instruments.values()))
    first = next(t for t in trips)
    assert result.trades["entry_price"][0] == (
        Decimal(first.entry_cost) * inst.price_increment / first.entry_qty).quantize(
        Decimal("1e-18"))
