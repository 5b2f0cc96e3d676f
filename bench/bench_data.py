"""Market-data benchmark: catalog import, and a tick + L2 replay into a strategy.

    python bench/bench_data.py [--trades N] [--deltas N] [--root DIR] [--peer-trades N]

1. Import: N synthetic trades (a random walk on a 0.01 tick, sizes in 0.001 lots, one
   trade every 10 ms) written to a fresh catalog with ``Catalog.write`` (validation,
   day partitioning, dedup, atomic Parquet writes): seconds and rows/s.
2. Replay: those trades plus N synthetic L2 deltas (two levels per message around the
   trade price) merged by ``heron.data.replay`` and fed through ``ReplayEngine``: the
   book applies every delta, the simulated venue watches it, and a strategy subscribed
   to ``on_trade`` and ``on_quote`` (best bid/ask changes) counts them: events/s and the
   peak resident memory of the replay process.

3. Peer: where NautilusTrader is installed (``make bench-peers``), the same replay through
   it (``bench/peers/data_nautilus.py``, in its own venv), from plain Parquet copies of
   the two synthetic frames (``trades.parquet``, ``deltas.parquet`` in ROOT) so the
   peer needs no heron. ``--peer-trades N`` runs it on the first N trades (and the
   book messages before the next one) when the full size would take too long.

Each step runs in its own process so peak memory is the step's own (ru_maxrss of the
child, from ``os.wait4``).
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
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from numpy.typing import NDArray

T0 = 1_704_067_200_000_000_000  # 2024-01-01


def _synthetic(n_trades: int, n_deltas: int) -> tuple[pl.DataFrame, pl.DataFrame]:
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


def _book_messages(rng: np.random.Generator, ts: NDArray[np.int64], price: NDArray[np.int64],
                   n_deltas: int) -> pl.DataFrame:
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
    parts: list[tuple[NDArray[np.int64], int, NDArray[np.int64], NDArray[np.int64] | int]] = []
    for side, offset in ((1, -1), (-1, 1)):
        parts.append((seq[moved], side, prev[moved] + offset, 0))          # delete old level
        parts.append((seq, side, mid + offset, rng.integers(1, 50_000, msgs)))
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
    inst = Instrument(symbol="SYN", venue="BENCH", price_increment=Decimal("0.01"),
                      size_increment=Decimal("0.001"))
    catalog = Catalog(Path(root))
    start = time.perf_counter()
    catalog.write(inst, DataKind.TRADES, trades)
    seconds = time.perf_counter() - start
    catalog.write(inst, DataKind.BOOK_DELTAS, deltas)
    _write_plain(Path(root), trades, deltas)
    return {"seconds": seconds, "rows": n_trades, "deltas": deltas.height}


def _write_plain(root: Path, trades: pl.DataFrame, deltas: pl.DataFrame) -> None:
    """The two frames as plain Parquet (integer ticks and lots), for peers without heron.

    Rows are in generation order: within a message the catalog may store the rows in
    another order, but a message never touches one level twice, so the book after each
    message (the only point where the top is compared) is the same.
    """
    trades.select("ts_event", "price", "size", "aggressor", "sequence").write_parquet(
        root / "trades.parquet")
    deltas.select("ts_event", "side", "price", "size", "sequence", "is_last").write_parquet(
        root / "deltas.parquet")


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


def _spawn(command: list[str], what: str) -> dict[str, float]:
    """Run one step in a child process: its last stdout line (JSON) and its peak RSS.

    ``ru_maxrss`` from ``os.wait4`` is the child's own peak, whatever it imported, so
    heron and a peer in another interpreter are measured the same way.
    """
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"bench step {what} failed (status {status})")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    result.setdefault("peak_mib", usage.ru_maxrss / 1024)
    return result


def _child(args: list[str]) -> dict[str, float]:
    return _spawn([sys.executable, __file__, *args], args[1])


def _peer_python() -> Path:
    """The NautilusTrader venv's interpreter (``bench/install_peers.sh`` puts it there)."""
    venvs = Path(os.environ.get("HERON_PEER_VENVS", Path(__file__).resolve().parent.parent
                                / ".bench-venvs"))
    return venvs / "nautilus" / "bin" / "python"


def _peer(root: str, trades: int | None) -> dict[str, float] | None:
    """The same replay through NautilusTrader, or None (with a note) when not installed."""
    python = _peer_python()
    if not python.exists():
        print("NautilusTrader not installed: run make bench-peers")
        return None
    script = Path(__file__).resolve().parent / "peers" / "data_nautilus.py"
    command = [str(python), str(script), root]
    if trades is not None:
        command += ["--trades", str(trades)]
    return _spawn(command, "nautilus")


def _row(name: str, run: dict[str, float], heron_rate: float | None) -> list[str]:
    rate = run["events"] / run["seconds"]
    build = run.get("build_seconds")
    ratio = "1.0" if heron_rate is None else f"{heron_rate / rate:.1f}"
    return [name, f"{int(run['events']):,}", f"{run['seconds']:.2f}", f"{rate:,.0f}",
            "" if build is None else f"{build:.2f}", f"{run['peak_mib']:,.0f}",
            f"{int(run['trades_seen']):,}", f"{int(run['quotes_seen']):,}", ratio]


REPLAY_HEADERS = ["engine", "events", "seconds", "events/s", "build s", "peak MiB",
                  "trades seen", "bid/ask changes", "heron ×"]


def replay_table(heron: dict[str, float], peer: dict[str, float] | None,
                 peer_trades: int | None = None) -> list[list[str]]:
    """Rows of the replay comparison; heron × is heron's events/s over the engine's."""
    heron_rate = heron["events"] / heron["seconds"]
    rows = [_row("heron", heron, None)]
    if peer is not None:
        name = f"NautilusTrader {peer.get('version', '')}".strip()
        if peer_trades is not None:
            name += f" (first {peer_trades:,} trades)"
        rows.append(_row(name, peer, heron_rate))
    return rows


def _plain(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in col) for col in zip(headers, *rows, strict=True)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                               enumerate(zip(line, widths, strict=True))) for line in lines)


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    align = ["---" if i == 0 else "---:" for i in range(len(headers))]
    return "\n".join("| " + " | ".join(line) + " |" for line in [headers, align, *rows])


def _notes(heron: dict[str, float], peer: dict[str, float] | None,
           peer_trades: int | None) -> list[str]:
    """What the table's numbers mean, and whether the engines saw the same stream."""
    notes = [f"heron book gaps {int(heron['book_gaps'])}; events = trade rows + L2 delta rows "
             "for both engines. heron's seconds read the catalog (Parquet), merge, apply the "
             "book and call the strategy."]
    if peer is None:
        return notes
    notes.append(f"NautilusTrader: seconds = engine.run() over {int(peer['messages']):,} data "
                 "objects in memory (trade ticks + one OrderBookDeltas per venue message); "
                 "build s = building those objects, the engine and add_data (Parquet "
                 "reading excluded).")
    if peer_trades is not None:
        notes.append(f"NautilusTrader ran on a prefix (--peer-trades {peer_trades:,}): "
                     "its events/s is at that size and its counts cover the prefix only.")
    else:
        same = (peer["trades_seen"], peer["quotes_seen"]) == (heron["trades_seen"],
                                                              heron["quotes_seen"])
        notes.append("counts agree: same trades and best bid/ask changes seen"
                     if same else "COUNTS DIFFER between heron and NautilusTrader")
    return notes


def _report(imp: dict[str, float], rep: dict[str, float], peer: dict[str, float] | None,
            peer_trades: int | None) -> None:
    print(f"| step | events | seconds | events/s | peak MiB |\n|---|---:|---:|---:|---:|\n"
          f"| import trades to catalog | {int(imp['rows']):,} | {imp['seconds']:.2f} | "
          f"{imp['rows'] / imp['seconds']:,.0f} | {imp.get('peak_mib', 0):.0f} |\n")
    rows = replay_table(rep, peer, peer_trades)
    notes = _notes(rep, peer, peer_trades)
    print("replay: trades + L2 deltas through the book into a strategy "
          "(trades, best bid/ask changes)\n")
    print(_plain(REPLAY_HEADERS, rows))
    print("\n" + "\n".join(notes) + "\n")
    print(_markdown(REPLAY_HEADERS, rows))
    print("\n" + "\n".join(f"- {note}" for note in notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--deltas", type=int, default=10_000_000)
    parser.add_argument("--root", default=None)
    parser.add_argument("--peer-trades", type=int, default=None,
                        help="run NautilusTrader on the first N trades only")
    parser.add_argument("--no-peer", action="store_true", help="skip NautilusTrader")
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
    peer_trades = args.peer_trades if args.peer_trades and args.peer_trades < args.trades \
        else None
    peer = None if args.no_peer else _peer(root, peer_trades)
    _report(imp, rep, peer, peer_trades)


if __name__ == "__main__":
    main()
