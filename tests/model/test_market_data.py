"""Market data structs: positional construction, field access, and msgspec round trips."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from heron.model.data import (
    BookDelta,
    BookSide,
    BookSnapshot,
    Liquidation,
    MarkPrice,
    OpenInterest,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide

BTC = Instrument("BTCUSDT", venue="BINANCE", kind=InstrumentKind.LINEAR_PERPETUAL,
                 price_increment=Decimal("0.1"), size_increment=Decimal("0.001"))


def test_book_delta_positional_fields_in_documented_order() -> None:
    delta = BookDelta(BTC, 10, 11, BookSide.BID, 204_728, 1_770, 99, False, 95, 90)
    assert (delta.instrument, delta.ts_event, delta.ts_recv) == (BTC, 10, 11)
    assert (delta.side, delta.price, delta.size) == (BookSide.BID, 204_728, 1_770)
    assert (delta.sequence, delta.is_last) == (99, False)
    assert (delta.first_sequence, delta.prev_sequence) == (95, 90)


def test_book_delta_without_range_defaults_first_and_prev_to_none() -> None:
    delta = BookDelta(BTC, 1, 2, BookSide.ASK, 5, 0, 7, True)
    assert delta.first_sequence is None
    assert delta.prev_sequence is None


def test_book_delta_is_last_is_required() -> None:
    with pytest.raises(TypeError):
        BookDelta(BTC, 1, 2, BookSide.ASK, 5, 0, 7)  # type: ignore[call-arg]


def test_book_side_values_are_bid_and_ask() -> None:
    assert [s.value for s in BookSide] == ["bid", "ask"]
    assert BookSide("ask") is BookSide.ASK


def test_book_snapshot_holds_levels_and_sequence() -> None:
    snap = BookSnapshot(BTC, 1, 2, ((100, 5), (99, 1)), ((101, 3),), 42)
    assert snap.bids[0] == (100, 5)
    assert snap.asks == ((101, 3),)
    assert snap.sequence == 42


def test_mark_price_index_optional_and_mark_price_is_exact_decimal() -> None:
    mark = MarkPrice(BTC, 1, 2, 617_993)
    assert mark.index is None
    assert mark.mark_price == Decimal("61799.3")
    assert MarkPrice(BTC, 1, 2, 617_993, 617_990).index == 617_990


def test_liquidation_side_price_size() -> None:
    liq = Liquidation(BTC, 1, 2, OrderSide.SELL, 617_000, 25)
    assert (liq.side, liq.price, liq.size) == (OrderSide.SELL, 617_000, 25)


def test_open_interest_size_in_lots() -> None:
    oi = OpenInterest(BTC, 1, 2, 81_234_567)
    assert BTC.quantity(oi.size) == Decimal("81234.567")


def test_market_data_structs_are_frozen() -> None:
    delta = BookDelta(BTC, 1, 2, BookSide.ASK, 5, 0, 7, True)
    with pytest.raises(AttributeError):
        delta.size = 3  # type: ignore[misc]


EXAMPLES = [
    BookDelta(BTC, 1, 2, BookSide.BID, 204_728, 1_770, 99, True, 95, 90),
    BookDelta(BTC, 1, 2, BookSide.ASK, 204_729, 0, 99, False),
    BookSnapshot(BTC, 3, 4, ((100, 5), (99, 1)), ((101, 3),), 42),
    MarkPrice(BTC, 5, 6, 617_993, None),
    MarkPrice(BTC, 5, 6, 617_993, 617_990),
    Liquidation(BTC, 7, 8, OrderSide.BUY, 617_000, 25),
    OpenInterest(BTC, 9, 10, 81_234_567),
]


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_market_data_msgpack_round_trip_is_equal(value: msgspec.Struct) -> None:
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(value), type=type(value))
    assert decoded == value
    assert decoded.instrument.id == "BTCUSDT.BINANCE"  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", EXAMPLES, ids=lambda v: type(v).__name__)
def test_market_data_json_round_trip_is_equal(value: msgspec.Struct) -> None:
    assert msgspec.json.decode(msgspec.json.encode(value), type=type(value)) == value


def test_book_side_encodes_as_its_string_value() -> None:
    raw = msgspec.json.decode(msgspec.json.encode(EXAMPLES[0]))
    assert raw["side"] == "bid"
