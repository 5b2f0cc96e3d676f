"""Market-data benchmark: catalog import, and a tick + L2 replay into a strategy.

    python bench/bench_data.py [--trades N] [--deltas N] [--root DIR]

1. Import: N synthetic trades (a random walk on a 0.01 tick, sizes in 0.001 lots, one
   trade every 10 ms) written to a fresh catalog with ``Catalog.write`` (validation,
   day partitioning, dedup, atomic Parquet writes): seconds and rows/s.
2. Replay: those trades plus N synthetic L2 deltas (two levels per message around the
   trade price) merged by ``heron.data.replay`` and fed through ``ReplayEngine``: the
   book applies every delta, the simulated venue watches it, and a strategy subscribed
   to ``on_trade`` and ``on_quote`` (best bid/ask changes) counts them: events/s and the
   peak resident memory of the replay process.

Each step runs in its own process so peak memory is the step's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = 1_704_067_200_000_000_000  # 2024-01-01


def _synthetic(n_trades: int, n_deltas: int) -> tuple[object, object]:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    price = 4_200_000 + np.cumsum(rng.integers(-2, 3, n_trades))
    ts = T0 + np.arange(n_trades, dtype=np.int64) * 10_000_000
    trades = pl.DataFrame({
        "ts_event": ts, "ts_recv": ts, "price": price.astype(np.int64),
        "size": rng.integers(1, 500, n_trades).astype(np.int64),
        "aggressor": rng.choice(np.array([1, -1], dtype=np.int8), n_trades),
        "trade_id": pl.int_range(0, n_trades, eager=True).cast(pl.String),
        "sequence": np.arange(n_trades, dtype=np.int64)})
    deltas = _book_messages(rng, ts, price, n_deltas)
    return trades, deltas


def _book_messages(rng: object, ts: object, price: object, n_deltas: int) -> object:
    """A consistent one-level-a-side book that follows the trades: each message sets the
    bid one tick under and the ask one tick over the last trade, and deletes the
    previous levels when the price moved (so the book never holds stale levels)."""
    import numpy as np
    import polars as pl

    msgs = max(n_deltas // 3, 1)  # about three rows a message
    at = np.minimum(np.arange(msgs) * len(ts) // msgs, len(ts) - 1)
    mid = price[at].astype(np.int64)
    prev = np.concatenate([[mid[0]], mid[:-1]])
    moved = mid != prev
    seq = np.arange(msgs, dtype=np.int64) + 1
    parts = []
    for side, offset in ((1, -1), (-1, 1)):
        parts.append((seq[moved], side, prev[moved] + offset, 0))          # delete old level
        parts.append((seq, side, mid + offset, rng.integers(1, 50_000, msgs)))  # type: ignore[attr-defined]
    seqs = np.concatenate([np.broadcast_to(p[0], np.shape(p[0])) for p in parts])
    sides = np.concatenate([np.full(len(p[0]), p[1], dtype=np.int8) for p in parts])
    prices = np.concatenate([p[2] for p in parts])
    sizes = np.concatenate([np.broadcast_to(p[3], np.shape(p[0])) for p in parts])
    order = np.lexsort((sizes != 0, seqs))  # per message: deletes first, then sets
    seqs, sides, prices, sizes = seqs[order], sides[order], prices[order], sizes[order]
    last = np.append(seqs[1:] != seqs[:-1], True)
    stamps = ts[at][seqs - 1] + 5_000_000
    return pl.DataFrame({"ts_event": stamps, "ts_recv": stamps, "side": sides,
                         "price": prices.astype(np.int64), "size": sizes.astype(np.int64),
                         "sequence": seqs, "is_last": last})


def step_import(root: str, n_trades: int, n_deltas: int) -> dict[str, float]:
    from heron.data.catalog import Catalog
    from heron.data.schemas import DataKind
    from heron.model.instrument import Instrument

    trades, deltas = _synthetic(n_trades, n_deltas)
    inst = Instrument(symbol="SYN", venue="BENCH", price_increment="0.01",
                      size_increment="0.001")
    catalog = Catalog(Path(root))
    start = time.perf_counter()
    catalog.write(inst, DataKind.TRADES, trades)
    seconds = time.perf_counter() - start
    catalog.write(inst, DataKind.BOOK_DELTAS, deltas)
    return {"seconds": seconds, "rows": n_trades}


def step_replay(root: str) -> dict[str, float]:
    import heron
    from heron.data.catalog import Catalog
    from heron.model.book import L2Book
    from heron.model.data import Quote, Trade

    class Counter(heron.Strategy):
        name = "counter"

        def on_start(self) -> None:
            self.trades = 0
            self.quotes = 0

        def on_trade(self, trade: Trade) -> None:
            self.trades += 1

        def on_quote(self, quote: Quote) -> None:
            self.quotes += 1

    catalog = Catalog(Path(root))
    counter = Counter()
    start = time.perf_counter()
    result = heron.replay(catalog, instruments=["SYN.BENCH"],
                          kinds=("trades", "book_deltas"), strategy=counter, cash="1000000")
    seconds = time.perf_counter() - start
    book: L2Book = result.engine.books["SYN.BENCH"]  # type: ignore[attr-defined]
    events = result.engine.events_processed  # type: ignore[attr-defined]
    return {"seconds": seconds, "events": events, "trades_seen": counter.trades,
            "quotes_seen": counter.quotes, "book_gaps": book.gaps}


def _child(args: list[str]) -> dict[str, float]:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"bench step {args[1]} failed (status {status})")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result.setdefault("peak_mib", usage.ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--deltas", type=int, default=10_000_000)
    parser.add_argument("--root", default=None)
    parser.add_argument("--step", choices=("import", "replay"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "import":
        print(json.dumps(step_import(args.root, args.trades, args.deltas)))
        return
    if args.step == "replay":
        result = step_replay(args.root)
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    root = args.root or tempfile.mkdtemp(prefix="heron-bench-data-")
    imp = _child(["--step", "import", "--root", root, "--trades", str(args.trades),
                  "--deltas", str(args.deltas)])
    rep = _child(["--step", "replay", "--root", root])
    print(f"| step | events | seconds | events/s | peak MiB |\n|---|---:|---:|---:|---:|\n"
          f"| import trades to catalog | {int(imp['rows']):,} | {imp['seconds']:.2f} | "
          f"{imp['rows'] / imp['seconds']:,.0f} | {imp.get('peak_mib', 0):.0f} |\n"
          f"| replay trades + L2 deltas into a strategy | {int(rep['events']):,} | "
          f"{rep['seconds']:.2f} | {rep['events'] / rep['seconds']:,.0f} | "
          f"{rep['peak_mib']:.0f} |")
    print(f"\nstrategy saw {int(rep['trades_seen']):,} trades and {int(rep['quotes_seen']):,} "
          f"best bid/ask changes; book gaps {int(rep['book_gaps'])}")


if __name__ == "__main__":
    main()
