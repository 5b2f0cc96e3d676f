"""NautilusTrader 1.221.0 on heron's market-data replay (bench/bench_data.py, step 3).

    .bench-venvs/nautilus/bin/python bench/peers/data_nautilus.py ROOT [--trades N]
    -> one JSON line {engine, version, events, messages, seconds, build_seconds,
                      trades_seen, quotes_seen}

ROOT holds ``trades.parquet`` and ``deltas.parquet`` written by bench_data.py (integer
ticks of 0.01 and lots of 0.001, so no heron import is needed here). ``--trades N``
replays a prefix: the first N trades and the book messages stamped before the next one.

How the same workload is expressed in NautilusTrader's own terms:

* Instrument: a ``CurrencyPair`` SYN/USD with price precision 2 and size precision 3;
  prices and sizes go in through ``from_raw`` with the wheel's fixed scale (10^16).
* Book data: one ``OrderBookDeltas`` per venue message (the rows sharing ``sequence``),
  ``F_LAST`` on its last delta, as NautilusTrader's own adapters emit them. A row of
  size 0 is ``DELETE``, any other row ``UPDATE``: in an L2_MBP book levels are keyed by
  price and an update of a missing level adds it, which is heron's "set the level".
* Venue: ``book_type=L2_MBP``, so the simulated exchange keeps its own book from the
  deltas, as heron's venue watches its book.
* Strategy: ``subscribe_trade_ticks`` and ``subscribe_order_book_deltas`` (managed: the
  data engine keeps the book in the cache and applies each message before the strategy
  sees it). After each message the strategy compares the top of the book (best bid and
  ask, price and size) with the previous one and counts a change when both sides are
  present: the rule heron uses for ``on_quote``.

``seconds`` is ``engine.run()`` alone. ``build_seconds`` covers building the data
objects, the engine, ``add_data`` (its merge sort by ``ts_init``) and the strategy,
not reading Parquet. ``events`` counts rows (trades plus deltas), as heron does;
``messages`` is what NautilusTrader iterates over (trades plus ``OrderBookDeltas``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

CHUNK = 1_000_000  # rows turned into Python lists at a time (bounds the temporary ints)
PRICE_PRECISION = 2
SIZE_PRECISION = 3


def _version() -> str:
    import nautilus_trader

    return str(nautilus_trader.__version__)


def _load(root: Path, trades: int | None) -> tuple[Any, Any]:
    """Both tables, cut to the first ``trades`` trades and the book messages before the
    next trade (so a prefix is a consistent stretch of the market)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    trade_table = pq.read_table(root / "trades.parquet")
    delta_table = pq.read_table(root / "deltas.parquet")
    if trades is not None and trades < trade_table.num_rows:
        cut = trade_table.column("ts_event")[trades].as_py()
        trade_table = trade_table.slice(0, trades)
        delta_table = delta_table.filter(pc.less(delta_table.column("ts_event"), cut))
    return trade_table, delta_table


def _columns(table: Any, names: tuple[str, ...]) -> Any:
    """Yield the table ``CHUNK`` rows at a time as Python lists, one per column."""
    for start in range(0, table.num_rows, CHUNK):
        part = table.slice(start, CHUNK)
        yield tuple(part.column(name).to_pylist() for name in names)


def _instrument() -> Any:
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.enums import CurrencyType
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Currency, Price, Quantity

    base = Currency("SYN", 8, 998, "Synthetic asset", CurrencyType.CRYPTO)
    return CurrencyPair(
        instrument_id=InstrumentId(Symbol("SYN/USD"), Venue("BENCH")),
        raw_symbol=Symbol("SYN/USD"),
        base_currency=base,
        quote_currency=USD,
        price_precision=PRICE_PRECISION,
        size_precision=SIZE_PRECISION,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.001"),
        ts_event=0,
        ts_init=0,
    )


def _trade_ticks(table: Any, instrument_id: Any) -> list[Any]:
    """One ``TradeTick`` per row; the trade id is the row's sequence, as in heron's data."""
    from nautilus_trader.model.data import TradeTick
    from nautilus_trader.model.enums import AggressorSide
    from nautilus_trader.model.identifiers import TradeId
    from nautilus_trader.model.objects import FIXED_PRECISION

    price_scale = 10 ** (FIXED_PRECISION - PRICE_PRECISION)
    size_scale = 10 ** (FIXED_PRECISION - SIZE_PRECISION)
    aggressor = {1: AggressorSide.BUYER, -1: AggressorSide.SELLER, 0: AggressorSide.NO_AGGRESSOR}
    make = TradeTick.from_raw
    ticks: list[Any] = []
    for ts, price, size, side, seq in _columns(
        table, ("ts_event", "price", "size", "aggressor", "sequence")
    ):
        ticks.extend(
            make(instrument_id, p * price_scale, PRICE_PRECISION, s * size_scale,
                 SIZE_PRECISION, aggressor[a], TradeId(str(q)), t, t)
            for t, p, s, a, q in zip(ts, price, size, side, seq, strict=True)
        )
    return ticks


def _book_messages(table: Any, instrument_id: Any) -> list[Any]:
    """One ``OrderBookDeltas`` per venue message (rows up to ``is_last``), F_LAST on its
    last delta: the engine and the managed book then apply a message as one unit."""
    from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas
    from nautilus_trader.model.enums import BookAction, OrderSide, RecordFlag
    from nautilus_trader.model.objects import FIXED_PRECISION

    price_scale = 10 ** (FIXED_PRECISION - PRICE_PRECISION)
    size_scale = 10 ** (FIXED_PRECISION - SIZE_PRECISION)
    sides = {1: OrderSide.BUY, -1: OrderSide.SELL}
    update, delete, f_last = BookAction.UPDATE, BookAction.DELETE, int(RecordFlag.F_LAST)
    make = OrderBookDelta.from_raw
    messages: list[Any] = []
    pending: list[Any] = []
    for ts, side, price, size, seq, last in _columns(
        table, ("ts_event", "side", "price", "size", "sequence", "is_last")
    ):
        for t, d, p, s, q, end in zip(ts, side, price, size, seq, last, strict=True):
            pending.append(make(instrument_id, update if s else delete, sides[d],
                                p * price_scale, PRICE_PRECISION, s * size_scale,
                                SIZE_PRECISION, 0, f_last if end else 0, q, t, t))
            if end:
                messages.append(OrderBookDeltas(instrument_id, pending))
                pending = []
    if pending:  # a prefix cut inside a message: keep what the book would have applied
        messages.append(OrderBookDeltas(instrument_id, pending))
    return messages


def _strategy(instrument_id: Any) -> Any:
    from nautilus_trader.model.enums import BookType
    from nautilus_trader.trading.strategy import Strategy

    class Counter(Strategy):  # type: ignore[misc]
        """Counts trades and best bid/ask changes, reading the top from the managed book."""

        def __init__(self) -> None:
            super().__init__()
            self.trades = 0
            self.quotes = 0
            self.top: tuple[Any, ...] = (None, None, None, None)
            self.book: Any = None

        def on_start(self) -> None:
            self.subscribe_trade_ticks(instrument_id)
            self.subscribe_order_book_deltas(instrument_id, book_type=BookType.L2_MBP)

        def on_trade_tick(self, tick: Any) -> None:
            self.trades += 1

        def on_order_book_deltas(self, deltas: Any) -> None:
            book = self.book
            if book is None:
                book = self.book = self.cache.order_book(instrument_id)
            bid, ask = book.best_bid_price(), book.best_ask_price()
            top = (bid, book.best_bid_size(), ask, book.best_ask_size())
            if top != self.top and bid is not None and ask is not None:
                self.quotes += 1
            self.top = top

    return Counter()


def _engine(instrument: Any) -> Any:
    """A backtest engine with one L2_MBP venue; logging at ERROR so that logging is not
    what gets measured."""
    from decimal import Decimal

    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.enums import AccountType, BookType, OmsType
    from nautilus_trader.model.objects import Money

    engine = BacktestEngine(
        BacktestEngineConfig(trader_id="BENCH-001", logging=LoggingConfig(log_level="ERROR"))
    )
    engine.add_venue(
        venue=instrument.id.venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(1_000_000, USD)],
        default_leverage=Decimal(1),
        book_type=BookType.L2_MBP,
    )
    engine.add_instrument(instrument)
    return engine


def _build(trade_table: Any, delta_table: Any) -> tuple[Any, Any, int]:
    """Engine, strategy and the number of data objects the engine will iterate over."""
    instrument = _instrument()
    engine = _engine(instrument)
    # Book data first: add_data looks at the first element of each list to register the
    # instrument as having book data (required for an L2_MBP venue). The second call
    # sorts the whole stream by ts_init; the sort is stable, and trades and book
    # messages never share a timestamp in this data.
    messages = _book_messages(delta_table, instrument.id)
    count = len(messages)
    engine.add_data(messages, sort=False)
    ticks = _trade_ticks(trade_table, instrument.id)
    count += len(ticks)
    engine.add_data(ticks, sort=True)
    del messages, ticks
    strategy = _strategy(instrument.id)
    engine.add_strategy(strategy)
    return engine, strategy, count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="NautilusTrader on heron's L2 replay.")
    parser.add_argument("root", type=Path, help="folder with trades.parquet, deltas.parquet")
    parser.add_argument("--trades", type=int, default=None, help="replay a prefix")
    args = parser.parse_args(argv)
    trade_table, delta_table = _load(args.root, args.trades)
    rows = trade_table.num_rows + delta_table.num_rows
    start = time.perf_counter()
    engine, strategy, messages = _build(trade_table, delta_table)
    build_seconds = time.perf_counter() - start
    del trade_table, delta_table
    start = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "engine": "NautilusTrader", "version": _version(), "events": rows,
        "messages": messages, "seconds": seconds, "build_seconds": build_seconds,
        "trades_seen": strategy.trades, "quotes_seen": strategy.quotes}))
    sys.stdout.flush()
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
