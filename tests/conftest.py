"""Fixtures shared across the test tree: real Binance BTCUSDT ticks on a catalog grid.

The two Parquet files are bundled in ``data/`` (LGPL-3.0, see data/README.md), so the
tests that use them always run.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from heron.data.schemas import to_grid
from heron.model.instrument import Instrument

DATA = Path(__file__).resolve().parents[1] / "data"
#: the grid the fixtures' integers are on (Binance spot BTCUSDT's tick and lot)
BTC_GRID = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment=Decimal("0.01"),
                      size_increment=Decimal("0.000001"))


@pytest.fixture(scope="session")
def btc_trades() -> pl.DataFrame:
    """2,001 trades of 2021-01-08 in the catalog's trades schema; sequence = trade id."""
    src = pl.read_parquet(DATA / "binance_spot_BTCUSDT_trades_2021-01-08.parquet")
    ts = src["timestamp"].dt.epoch("ns")
    seller_took = src["buyer_maker"] == "True"  # the buyer was the maker
    return pl.DataFrame({
        "ts_event": ts, "ts_recv": ts,
        "price": to_grid(src["price"], BTC_GRID.price_increment, what="price"),
        "size": to_grid(src["quantity"], BTC_GRID.size_increment, what="size"),
        "aggressor": (1 - 2 * seller_took.cast(pl.Int8)).cast(pl.Int8),
        "trade_id": src["trade_id"].cast(pl.String),
        "sequence": src["trade_id"],
    })


@pytest.fixture(scope="session")
def btc_quotes() -> pl.DataFrame:
    """451 best bid/ask rows; the file has no update id, so sequence is the row number."""
    src = pl.read_parquet(DATA / "binance_spot_BTCUSDT_quotes_2021-01-08.parquet")
    ts = src["timestamp"].dt.epoch("ns")
    steps = {"bid": BTC_GRID.price_increment, "ask": BTC_GRID.price_increment,
             "bid_size": BTC_GRID.size_increment, "ask_size": BTC_GRID.size_increment}
    return pl.DataFrame({
        "ts_event": ts, "ts_recv": ts,
        **{name: to_grid(src[name], step, what=name) for name, step in steps.items()},
        "sequence": pl.int_range(src.height, eager=True, dtype=pl.Int64),
    })
