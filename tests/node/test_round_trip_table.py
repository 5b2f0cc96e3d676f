"""Round trips from a journal: hand-computed prices, PnL and slippage against decision
prices; the same figures as the backtest's own trade table on real data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import numpy as np
import polars as pl
import pytest

import heron
from heron.core.journal import decode_record
from heron.errors import InvalidConfiguration, JournalError
from heron.model.data import Bar
from heron.model.events import SubmitOrder
from heron.model.orders import OrderSide, OrderType
from heron.node.round_trip_table import (
    journal_round_trips,
    table_format,
    write_round_trips,
)

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
T0 = 1_704_067_200_000_000_000
MINUTE = 60_000_000_000
D = Decimal


def _bars(opens: list[float], closes: list[float]) -> pl.DataFrame:
    o, c = np.array(opens), np.array(closes)
    return pl.DataFrame({"ts": T0 + np.arange(len(c), dtype=np.int64) * MINUTE, "open": o,
                         "high": np.maximum(o, c) + 1, "low": np.minimum(o, c) - 1,
                         "close": c, "volume": np.full(len(c), 1000.0)})


class Script(heron.Strategy):
    """Market orders at fixed bars: buy 1, buy 1, sell 3 (a flip), buy 1 (flat)."""

    name = "script"

    def on_bar(self, bar: Bar) -> None:
        step = {1: ("buy", "1"), 2: ("buy", "1"), 3: ("sell", "3"), 4: ("buy", "1")}
        if bar.index in step:
            side, size = step[bar.index]
            self.submit(side=side, size=size)


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Decisions at the closes 100, 104, 110, 100; fills at the next opens 102, 103, 109,
    102 (fill="next-open", no fees)."""
    path = tmp_path_factory.mktemp("trips") / "j.sqlite"
    heron.backtest(_bars([100, 100, 102, 103, 109, 102], [100, 100, 104, 110, 100, 102]),
                   strategy=Script(), symbol="X", cash="100000", kind="perp", leverage="2",
                   fee_bps="0", tick_size="0.01", lot_size="1", journal=path)
    return path


def test_round_trip_table_long_then_flipped_short_by_hand(scripted: Path) -> None:
    rows = journal_round_trips(scripted).to_dicts()
    long, short = rows
    assert (long["direction"], long["closed"], long["qty"], long["exit_qty"]) == (
        "long", True, D(2), D(2))
    assert (long["entry_ts"], long["exit_ts"]) == (T0 + 2 * MINUTE, T0 + 4 * MINUTE)
    assert (long["entry_price"], long["exit_price"]) == (D("102.5"), D(109))
    assert (long["realised_pnl"], long["net_pnl"], long["fees"]) == (D(13), D(13), D(0))
    # entry: bought at 102 and 103 where the strategy saw 100 and 104 -> avg 102.5 vs 102
    assert (long["entry_decision_price"], long["entry_slippage"]) == (D(102), D("0.5"))
    assert long["entry_slippage_bps"] == D("49.019608")       # 0.5 / 102, half-even
    # exit: 2 of the 3 sold at 109 where the strategy saw 110: 1 below, a cost
    assert (long["exit_decision_price"], long["exit_slippage"]) == (D(110), D(1))
    assert long["exit_slippage_bps"] == D("90.909091")
    assert (short["direction"], short["qty"], short["entry_price"]) == ("short", D(1), D(109))
    assert (short["entry_slippage"], short["entry_slippage_bps"]) == (D(1), D("90.909091"))
    # bought back at 102 where the strategy saw 100: 2 above, a cost of 200 bps
    assert (short["exit_price"], short["exit_slippage"], short["exit_slippage_bps"]) == (
        D(102), D(2), D(200))
    assert (short["realised_pnl"], short["fills"]) == (D(7), 2)


def test_round_trip_table_open_trip_only_with_open_flag(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    heron.backtest(_bars([100, 100, 102, 103], [100, 100, 104, 110]), strategy=Script(),
                   symbol="X", cash="100000", fee_bps="10", tick_size="0.01", lot_size="1",
                   journal=path)
    assert journal_round_trips(path).is_empty()
    (trip,) = journal_round_trips(path, include_open=True).to_dicts()
    assert (trip["closed"], trip["exit_ts"], trip["exit_price"]) == (False, None, None)
    assert (trip["qty"], trip["entry_price"], trip["entry_slippage"]) == (D(2), D("102.5"),
                                                                         D("0.5"))
    assert trip["exit_slippage"] is None and trip["exit_slippage_bps"] is None
    assert trip["fees"] == D("0.2050") and trip["net_pnl"] == -D("0.2050")  # 10 bps of 205


def test_round_trip_table_matches_backtest_trades_on_real_data(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    result = heron.backtest(BTC, strategy="sma_cross", params={"fast": 10, "slow": 50},
                            symbol="BTC-PERP", journal=path)
    table = journal_round_trips(path)
    ours = table.select("entry_ts", "exit_ts", "qty", "entry_price", "exit_price",
                        pl.col("realised_pnl").alias("pnl"), "fees", "funding", "net_pnl")
    theirs = result.trades.select(ours.columns)
    assert table.height == theirs.height > 100
    assert ours.equals(theirs)
    # every order was decided on a bar close: no side lacks its decision price, and a
    # next-open fill against the previous close is never a cost of more than a few percent
    bps = pl.concat([table["entry_slippage_bps"], table["exit_slippage_bps"]])
    assert bps.null_count() == 0
    assert all(abs(v) < 500 for v in bps.to_list())


def test_round_trip_table_has_no_slippage_for_a_liquidation(tmp_path: Path) -> None:
    class Leveraged(heron.Strategy):
        def on_bar(self, bar: Bar) -> None:
            if bar.index == 1:
                self.buy(size="18")

    closes = [100.0, 100.0, 97.0, 94.0, 91.0, 88.0, 85.0, 85.0]
    path = tmp_path / "j.sqlite"
    heron.backtest(_bars([100.0, *closes[:-1]], closes), strategy=Leveraged(), symbol="X",
                   cash="100", kind="perp", leverage="20", maintenance_margin="0.05",
                   tick_size="0.01", lot_size="1", fee_bps="0", journal=path)
    (trip,) = journal_round_trips(path).to_dicts()
    assert trip["entry_slippage"] == D(0)  # bought at the next open, equal to the close
    assert trip["exit_decision_price"] is None and trip["exit_slippage_bps"] is None


def test_round_trip_table_instrument_filter_and_unknown(scripted: Path) -> None:
    assert journal_round_trips(scripted, instrument="X").height == 2
    assert journal_round_trips(scripted, instrument="X.SIM").height == 2
    with pytest.raises(InvalidConfiguration, match=r"no instrument 'Y'.*X\.SIM"):
        journal_round_trips(scripted, instrument="Y")


def test_round_trip_table_writes_exact_parquet_and_csv(scripted: Path, tmp_path: Path) -> None:
    table = journal_round_trips(scripted)
    write_round_trips(table, tmp_path / "t.parquet")
    write_round_trips(table, tmp_path / "t.csv")
    assert pl.read_parquet(tmp_path / "t.parquet").equals(table)
    back = pl.read_csv(tmp_path / "t.csv", infer_schema=False)
    assert back["entry_slippage_bps"].to_list() == ["49.019608", "90.909091"]
    assert [D(v) for v in back["entry_price"]] == [D("102.5"), D(109)]
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside them


def test_round_trip_table_refuses_bad_outputs_and_journals(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfiguration, match=r"\.parquet or \.csv"):
        table_format(tmp_path / "t.xlsx")
    with pytest.raises(InvalidConfiguration, match="does not exist"):
        table_format(tmp_path / "no" / "t.csv")
    with pytest.raises(JournalError, match="not found"):
        journal_round_trips(tmp_path / "missing.sqlite")


def test_submit_order_journaled_before_decision_prices_decodes_to_none() -> None:
    cmd = SubmitOrder(1, 1, "c", "s", "X.SIM", OrderSide.BUY, OrderType.MARKET, 3,
                      decision_price=12345)
    fields = msgspec.msgpack.decode(msgspec.msgpack.encode(cmd))
    assert fields[-1] == 12345
    old = decode_record(msgspec.msgpack.encode(fields[:-1]))  # the layout before the field
    assert isinstance(old, SubmitOrder) and old.decision_price is None
    assert msgspec.structs.replace(old, decision_price=12345) == cmd
