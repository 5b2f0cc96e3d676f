"""The paper run's input log: every event back as it went in; a torn tail is cut off."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from conftest import BTC_GRID
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.node.input_log import InputLog

PERP = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM", kind=InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.1"), size_increment=Decimal("0.001"))


def _events() -> list[object]:
    a, b = BTC_GRID, PERP
    return [
        Trade(a, 1, 2, 3_943_248, 263, "sell", "553287559"),
        Quote(b, 3, 4, 100, 101, 5, 6, 77),
        BookSnapshot(b, 5, 6, ((100, 1), (99, 2)), ((101, 3),), 10),
        BookDelta(b, 7, 8, BookSide.ASK, 102, 0, 11, True, 10, 9),
        BookDelta(b, 7, 8, BookSide.BID, 98, 4, 12, False),
        FundingRate(b, 9, 10, "-0.00012"),
        MarkPrice(b, 11, 12, 1000, None),
        MarkPrice(b, 13, 14, 1001, 999),
    ]


def test_events_come_back_equal_and_in_order(tmp_path: Path) -> None:
    log = InputLog(tmp_path / "inputs.bin", [BTC_GRID, PERP])
    for event in _events():
        log.append(event)
    log.close()
    again = InputLog(tmp_path / "inputs.bin", [BTC_GRID, PERP])
    assert list(again.replay()) == _events()
    assert again.torn_bytes == 0
    again.close()


def test_a_frame_torn_by_a_crash_is_cut_and_appends_go_on(tmp_path: Path) -> None:
    path = tmp_path / "inputs.bin"
    log = InputLog(path, [BTC_GRID, PERP])
    for event in _events():
        log.append(event)
    log.close()
    whole = path.read_bytes()
    path.write_bytes(whole[:-3])  # the last frame half-written
    log = InputLog(path, [BTC_GRID, PERP])
    assert log.torn_bytes > 0
    assert list(log.replay()) == _events()[:-1]
    log.append(_events()[-1])
    log.close()
    assert path.read_bytes() == whole
