"""Memory a live engine keeps per order: does a run left trading grow without end?

    python bench/bench_memory.py [--kinds order,trip] [--fill N] [--cycles N] [--json FILE]

The client is ``bench_exec``'s (what ``heron live`` runs, on the loopback Binance USD-M
emulator started as a subprocess, private stream followed, journal flushed every
100 ms). Two kinds of cycle:

* **order**: ``bench_exec``'s ``submit`` cycle: a resting post-only limit order, then its
  cancel, each waiting for its reply;
* **trip**: a market buy, then a market sell, each waiting for its fill: two fills and
  one closed round trip a cycle.

Two engines of each, each on a fresh emulator:

* **bounded**: as ``heron live`` runs once restored (``LiveEngine.bound_memory``: the
  newest 50,000 journal records, 10,000 closed orders and as many closed round trips,
  20,000 trade ids besides open orders' in memory);
* **unbounded**: the same engine without that call (everything kept).

Python's ``tracemalloc`` traces every allocation from before the engine is built (so
what the bound lets go of counts as freed). Each engine first runs ``--fill`` cycles
(default 15,000 orders or 12,000 trips: past the bounds), the garbage is collected and
the traced heap read; ``--cycles`` more cycles run (default 10,000), and the heap is read
again after another collection. The figure is the growth divided by the cycles: what
each order costs for the rest of the run's life.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_exec
from bench_backtest import machine_facts

#: cycles run before measuring: past the bounds on closed orders (10,000) and closed
#: trips (10,000); for trips, also at the same point of the trade ids' sweep (every
#: 20,000 fills) as the measurement's end
FILL = {"order": 15_000, "trip": 12_000}
CYCLE = {"order": "place + cancel", "trip": "market buy + market sell"}


async def round_trips(heron: bench_exec.Heron, count: int) -> None:
    """``count`` round trips: a market buy, then a market sell, each waited for filled
    (two fills, two closed orders and one closed round trip a cycle)."""
    from heron.model.orders import OrderStatus

    trader = heron.trader
    for _ in range(count):
        for order in (trader.buy, trader.sell):
            await trader.expect(order(size=bench_exec.QTY), OrderStatus.FILLED)


async def retained(bounded: bool, kind: str, fill: int, cycles: int) -> dict[str, Any]:
    """Bytes and objects kept per cycle after ``fill`` cycles, over ``cycles`` more."""
    with tempfile.TemporaryDirectory() as tmp, \
            bench_exec.Emulator(bench_exec.DEFAULT_VENUE) as emu:
        tracemalloc.start()  # from the start: what the bound lets go of is counted too
        heron = bench_exec.Heron(emu.url, Path(tmp), streams=True, bounded=bounded)
        await heron.open()
        try:
            # no samples kept: the bench itself holds nothing per cycle
            run = (lambda start, count: round_trips(heron, count)) if kind == "trip" \
                else heron.worker
            await run(0, fill)
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            await run(fill, cycles)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            engine = heron.engine
            return {"bounded": bounded, "kind": kind, "fill": fill, "cycles": cycles,
                    "bytes_per_cycle": (after - before) / cycles,
                    "orders_in_memory": len(engine.om.orders),
                    "trips_in_memory": len(engine.om.trips.closed),
                    "trade_ids_in_memory": len(engine.om.trade_ids),
                    "records_in_memory": len(engine.journal.records),
                    "records_journaled": engine.journal.seq}
        finally:
            await heron.close()
            tracemalloc.stop()


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [f"Command: `{command}`", "",
             "| cycle | engine | cycles before | measured over | retained per cycle | "
             "orders in memory | closed trips in memory | trade ids in memory | records in "
             "memory | records journaled |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {CYCLE[r['kind']]} | {'bounded (heron live)' if r['bounded'] else 'unbounded'}"
            f" | {r['fill']:,} | {r['cycles']:,} | {round(r['bytes_per_cycle']):,} B | "
            f"{r['orders_in_memory']:,} | {r['trips_in_memory']:,} | "
            f"{r['trade_ids_in_memory']:,} | {r['records_in_memory']:,} | "
            f"{r['records_journaled']:,} |")
    facts = machine_facts()
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="order,trip",
                        help="order: place + cancel; trip: market buy + market sell")
    parser.add_argument("--fill", type=int, default=None, help=(
        "cycles before measuring (default 15,000 orders, 12,000 trips)"))
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    rows = [asyncio.run(retained(bounded, kind, args.fill or FILL[kind], args.cycles))
            for kind in kinds for bounded in (True, False)]
    command = "python bench/bench_memory.py" + "".join(
        f" --{name} {value}" for name, value in (("kinds", args.kinds), ("fill", args.fill),
                                                 ("cycles", args.cycles))
        if value != parser.get_default(name))
    print(markdown(rows, command))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
