"""The k-way replay merge: exact order, runs, bounded memory."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from heron.data.replay import merge, merge_windows


def _batches(ts: list[int], tag: int, size: int) -> Iterator[pl.DataFrame]:
    frame = pl.DataFrame({"ts_event": ts, "row": list(range(len(ts))),
                          "tag": [tag] * len(ts)}, schema={"ts_event": pl.Int64,
                                                           "row": pl.Int64, "tag": pl.Int64})
    for start in range(0, max(len(ts), 1), size):
        yield frame.slice(start, size)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=60), min_size=1, max_size=5),
       st.integers(1, 7))
def test_merge_equals_a_stable_sort_by_time_then_source(series: list[list[int]],
                                                        batch: int) -> None:
    sources = [_batches(sorted(ts), tag, batch) for tag, ts in enumerate(series)]
    out = pl.concat([run for _, run in merge(sources)]) if any(series) else None
    expected = sorted((t, tag, row) for tag, ts in enumerate(series)
                      for row, t in enumerate(sorted(ts)))
    got = [] if out is None else list(zip(out["ts_event"], out["tag"], out["row"],
                                          strict=True))
    assert got == expected


def test_merge_runs_never_exceed_a_batch_and_name_their_source() -> None:
    a = list(range(0, 1000, 2))
    b = list(range(1, 1000, 10))
    for index, run in merge([_batches(a, 0, 64), _batches(b, 1, 64)]):
        assert 0 < run.height <= 64
        assert set(run["tag"].to_list()) == {index}


def test_merge_pulls_batches_lazily() -> None:
    pulled = [0, 0]

    def counting(tag: int) -> Iterator[pl.DataFrame]:
        for batch in _batches(list(range(tag, 100_000, 2)), tag, 1000):
            pulled[tag] += 1
            yield batch

    stream = merge([counting(0), counting(1)])
    _, first = next(stream)
    assert pulled == [1, 1]  # one batch per source in memory, not the whole series
    total = first.height + sum(run.height for _, run in stream)
    assert total == 100_000
    assert pulled == [50, 50]


def test_merge_long_runs_when_sources_do_not_interleave() -> None:
    early = list(np.arange(0, 500))
    late = list(np.arange(1000, 1500))
    runs = list(merge([_batches(late, 0, 10_000), _batches(early, 1, 10_000)]))
    assert [(i, r.height) for i, r in runs] == [(1, 500), (0, 500)]


def test_replay_from_catalog_puts_book_deltas_before_trades_at_equal_time(tmp_path) -> None:
    from heron.data.catalog import Catalog
    from heron.data.replay import Selection, replay
    from heron.data.schemas import DataKind
    from heron.model.instrument import Instrument

    catalog = Catalog(tmp_path)
    inst = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment="0.01",
                      size_increment="0.001")
    t0 = 1_700_000_000_000_000_000
    trades = pl.DataFrame({"ts_event": [t0, t0 + 5], "ts_recv": [t0, t0 + 5],
                           "price": [100, 101], "size": [1, 2], "aggressor": [1, -1],
                           "trade_id": ["a", "b"], "sequence": [1, 2]},
                          schema_overrides={"aggressor": pl.Int8})
    deltas = pl.DataFrame({"ts_event": [t0, t0 + 3], "ts_recv": [t0, t0 + 3],
                           "side": [1, -1], "price": [99, 102], "size": [5, 6],
                           "sequence": [10, 11], "is_last": [True, True]},
                          schema_overrides={"side": pl.Int8})
    catalog.write(inst, DataKind.TRADES, trades)
    catalog.write(inst, DataKind.BOOK_DELTAS, deltas)
    stream = replay(catalog, [Selection("BINANCE", "BTCUSDT", DataKind.TRADES),
                              Selection("BINANCE", "BTCUSDT", DataKind.BOOK_DELTAS)])
    order = [(sel.kind.value, ts) for sel, run in stream for ts in run["ts_event"]]
    assert order == [("book_deltas", t0), ("trades", t0), ("book_deltas", t0 + 3),
                     ("trades", t0 + 5)]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=60), min_size=1, max_size=5),
       st.integers(1, 7))
def test_merge_windows_equals_a_stable_sort_by_time_then_source(series: list[list[int]],
                                                                batch: int) -> None:
    sources = [_batches(sorted(ts), tag, batch) for tag, ts in enumerate(series)]
    got = []
    for window in merge_windows(sources):
        assert len(window.sources) > 0
        for src, row in zip(window.sources.tolist(), window.rows.tolist(), strict=True):
            frame = window.frames[src]
            got.append((frame["ts_event"][row], frame["tag"][row], frame["row"][row]))
    expected = sorted((t, tag, row) for tag, ts in enumerate(series)
                      for row, t in enumerate(sorted(ts)))
    assert got == expected


def test_merge_windows_takes_many_events_per_window_when_sources_interleave() -> None:
    a = list(range(0, 100_000, 2))
    b = list(range(1, 100_000, 2))
    windows = list(merge_windows([_batches(a, 0, 10_000), _batches(b, 1, 10_000)]))
    assert sum(len(w.sources) for w in windows) == 100_000
    assert len(windows) < 50  # a few per batch, not one per switch of source (100,000)
