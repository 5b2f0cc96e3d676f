"""Fixtures shared across the test tree: real Binance BTCUSDT ticks on a catalog grid, and
the way to the shared data set.

The two Parquet files are bundled in ``data/`` (LGPL-3.0, see data/README.md), so the
tests that use them always run. The shared data set (recorded venue messages and REST
bodies, ``../shared/data`` beside the repository) is not bundled: a test reading it asks
:func:`need` for its files and is skipped where they are absent.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from heron.data.schemas import to_grid
from heron.model.instrument import Instrument

if TYPE_CHECKING:
    from heron.testing.exchange import ExchangeServer

DATA = Path(__file__).resolve().parents[1] / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
#: recorded venue messages and REST bodies, a folder a venue (``binance_usdm``, ``okx``...)
SHARED_VENUES = SHARED / "venues"
#: the grid the fixtures' integers are on (Binance spot BTCUSDT's tick and lot)
BTC_GRID = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment=Decimal("0.01"),
                      size_increment=Decimal("0.000001"))


def need(path: Path, *more: Path) -> Path:
    """``path``, once it and ``more`` exist; the test is skipped where one does not."""
    for each in (path, *more):
        if not each.exists():
            pytest.skip(f"shared data not present: {each}")
    return path


@contextlib.contextmanager
def loopback_exchange(key: str, secret: str, *, speed: float = 0.0,
                      lines: int | None = 200) -> Iterator[ExchangeServer]:
    """The loopback Binance USD-M exchange on the recorded BTCUSDT capture, with one API
    key and 10,000 USDT; ``lines`` of the capture (``None``: all of it) replayed at
    ``speed`` (0: as fast as sent)."""
    from heron.testing.exchange import ExchangeProfile, ExchangeServer

    usdm = SHARED_VENUES / "binance_usdm"
    need(usdm / "ws_capture_BTCUSDT_2024-08-08.txt.gz")
    profile = ExchangeProfile.recorded(usdm, keys={key: secret}, fund=Decimal(10000),
                                       lines=lines)
    with ExchangeServer(profile, speed=speed) as server:
        yield server


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (tests/pg_server.py; ``HERON_PG_URL``
    overrides); the test is skipped, saying why, where none can be started."""
    import pg_server

    try:
        server = pg_server.start()
    except pg_server.PgUnavailable as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield server.url
    finally:
        pg_server.stop(server)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a venue that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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
