"""Memory a live engine keeps per order: does a run left trading grow without end?

    python bench/bench_memory.py [--fill N] [--cycles N] [--json FILE]

The client is ``bench_exec``'s (what ``heron live`` runs, on the loopback Binance USD-M
emulator started as a subprocess, private stream followed, journal flushed every
100 ms). One cycle is ``bench_exec``'s ``submit`` cycle: a resting post-only limit
order, then its cancel, each waiting for its reply.

Two engines, each on a fresh emulator:

* **bounded**: as ``heron live`` runs once restored (``LiveEngine.bound_memory``: the
  newest 50,000 journal records and 10,000 closed orders in memory);
* **unbounded**: the same engine without that call (every record and order kept).

Python's ``tracemalloc`` traces every allocation from before the engine is built (so
what the bound lets go of counts as freed). Each engine first runs ``--fill`` cycles
(default 15,000: past both bounds), the garbage is collected and the traced heap read;
``--cycles`` more cycles run (default 10,000), and the heap is read again after another
collection. The figure is the growth divided by the cycles: what each order costs for
the rest of the run's life.
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


async def retained(bounded: bool, fill: int, cycles: int) -> dict[str, Any]:
    """Bytes and objects kept per cycle after ``fill`` cycles, over ``cycles`` more."""
    with tempfile.TemporaryDirectory() as tmp, \
            bench_exec.Emulator(bench_exec.DEFAULT_VENUE) as emu:
        tracemalloc.start()  # from the start: what the bound lets go of is counted too
        heron = bench_exec.Heron(emu.url, Path(tmp), streams=True, bounded=bounded)
        await heron.open()
        try:
            await heron.worker(0, fill)  # no samples: the bench itself keeps nothing
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            await heron.worker(fill, cycles)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
            engine = heron.engine
            return {"bounded": bounded, "fill": fill, "cycles": cycles,
                    "bytes_per_cycle": (after - before) / cycles,
                    "orders_in_memory": len(engine.om.orders),
                    "records_in_memory": len(engine.journal.records),
                    "records_journaled": engine.journal.seq}
        finally:
            await heron.close()
            tracemalloc.stop()


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [f"Command: `{command}`", "",
             "| engine | cycles before | measured over | retained per cycle | orders in "
             "memory | records in memory | records journaled |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {'bounded (heron live)' if r['bounded'] else 'unbounded'} | "
            f"{r['fill']:,} | {r['cycles']:,} | {r['bytes_per_cycle']:,.0f} B | "
            f"{r['orders_in_memory']:,} | {r['records_in_memory']:,} | "
            f"{r['records_journaled']:,} |")
    facts = machine_facts()
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fill", type=int, default=15_000)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [asyncio.run(retained(bounded, args.fill, args.cycles))
            for bounded in (True, False)]
    command = "python bench/bench_memory.py" + "".join(
        f" --{name} {value}" for name, value in (("fill", args.fill), ("cycles", args.cycles))
        if value != parser.get_default(name))
    print(markdown(rows, command))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
