"""The paper run's input log: every event back as it went in; a torn tail is cut off."""

from __future__ import annotations

import struct
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from conftest import BTC_GRID
from heron.errors import DataError
from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    FundingRate,
    MarkPrice,
    Quote,
    Trade,
)
from heron.model.feed import FeedHealth, FeedState
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


def _health(state: FeedState, ts: int) -> FeedHealth:
    return FeedHealth(ts=ts, venue="binanceusdm", symbol="BTC/USDT:USDT", stream="trades",
                      state=state, last_message_age_ns=-1 if ts == 1 else 2_000_000_000,
                      messages=ts, reconnects=0, gaps=1, parse_errors=0, reason="quiet")


def test_feed_health_changes_come_back_between_the_same_events(tmp_path: Path) -> None:
    events = _events()
    mixed = [events[0], _health(FeedState.LIVE, 1), *events[1:3],
             _health(FeedState.STALE, 2), *events[3:]]
    log = InputLog(tmp_path / "inputs.bin", [BTC_GRID, PERP])
    assert log.health_changed(_health(FeedState.LIVE, 1))
    for event in mixed:
        log.append(event)
    assert not log.health_changed(_health(FeedState.STALE, 3))  # a report, not a change
    log.close()
    again = InputLog(tmp_path / "inputs.bin", [BTC_GRID, PERP])
    assert list(again.replay()) == mixed
    assert not again.health_changed(_health(FeedState.STALE, 4))  # known from the replay
    assert again.health_changed(_health(FeedState.LIVE, 5))
    again.close()


def test_an_entry_from_a_newer_heron_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "inputs.bin"
    frame = msgspec.msgpack.encode([42, 0, 1, 2])
    path.write_bytes(struct.pack("<I", len(frame)) + frame)
    log = InputLog(path, [BTC_GRID])
    with pytest.raises(DataError, match="kind 42, written by a newer heron"):
        list(log.replay())
    log.close()
