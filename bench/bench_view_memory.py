"""Memory ``heron serve`` keeps per order for a run it follows: does a view grow?

    python bench/bench_view_memory.py [--fill N] [--cycles N] [--json FILE]

A served run's view (:class:`heron.api.read_models.RunView`, what the API and the
dashboard read) is fed the journal records of two kinds of cycle, as a live run on
Binance USD-M writes them (one BTCUSDT grid, 0.001 BTC):

* **order**: a resting limit buy placed, accepted, then canceled (4 records);
* **trip**: a market buy then a market sell, each submitted, accepted and filled (8
  records, two fills, one closed round trip).

Two views of each: a **paper/live** run's (bounded as the run is: its newest 10,000
closed orders and round trips, fills read from the journal, the curve thinned) and a
**backtest**'s, which keeps every order (a backtest's journal is finished: its view is
as large as the run, once). ``tracemalloc`` traces from before the view is built; each
view applies ``--fill`` cycles (default 15,000: past the bound), then the heap is read,
``--cycles`` more (default 10,000), and the heap is read again. The figure is the growth
per cycle: what each cycle costs the server for the rest of the run's life.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backtest import machine_facts
from heron.api.read_models import RunView
from heron.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    Record,
    SubmitOrder,
)
from heron.model.instrument import Instrument, InstrumentKind
from heron.model.orders import OrderSide, OrderType

INST = Instrument(symbol="BTCUSDT", venue="BINANCE_USDM", kind=InstrumentKind.LINEAR_PERPETUAL,
                  price_increment=Decimal("0.10"), size_increment=Decimal("0.001"))
HEADER = {"money_precision": 8, "starting_cash": "1000000", "instruments": [INST.to_dict()]}
KINDS = ("order", "trip")


def cycles(kind: str, start: int, count: int) -> Iterator[Record]:
    """The records of ``count`` cycles of ``kind``, numbered from ``start``."""
    iid = INST.id
    for n in range(start, start + count):
        t = 1_700_000_000_000_000_000 + n * 1_000_000_000
        if kind == "order":
            cid = f"B-q-{n}"
            yield SubmitOrder(t, t, cid, "q", iid, OrderSide.BUY, OrderType.LIMIT, 1, 300_000,
                              post_only=True, decision_price=600_000)
            yield OrderSubmitted(t, t, cid, iid)
            yield OrderAccepted(t, t, cid, iid, f"V{n}")
            yield OrderCanceled(t, t, cid, iid)
            continue
        for side, px in ((OrderSide.BUY, 600_000 + n % 50), (OrderSide.SELL, 600_010)):
            cid = f"B-t-{n}-{side.value}"
            yield SubmitOrder(t, t, cid, "t", iid, side, OrderType.MARKET, 1,
                              decision_price=600_000)
            yield OrderSubmitted(t, t, cid, iid)
            yield OrderAccepted(t, t, cid, iid, f"V{cid}")
            yield OrderFilled(t, t, cid, iid, f"V{cid}", f"T{cid}", "t", side, 1, px, 24_000,
                              "taker", 1)


def retained(kind: str, bounded: bool, fill: int, count: int) -> dict[str, Any]:
    gc.collect()
    tracemalloc.start()
    view = RunView("bench", {**HEADER, "kind": "live" if bounded else "backtest"})
    seq = 0
    for record in cycles(kind, 0, fill):
        seq += 1
        view.apply(seq, record)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    for record in cycles(kind, fill, count):
        seq += 1
        view.apply(seq, record)
    spent = time.perf_counter() - started
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert not view.problems, view.problems[:3]
    return {"kind": kind, "view": "paper/live" if bounded else "backtest",
            "cycles": count, "bytes_per_cycle": (after - before) / count,
            "orders_in_memory": len(view.om.orders), "equity_points": len(view.equity),
            "records_per_s": seq / spent if spent else 0.0}


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [f"Command: `{command}`", "",
             "| cycle | view | retained per cycle | orders in memory | equity points |",
             "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['view']} | {r['bytes_per_cycle']:,.0f} B | "
                     f"{r['orders_in_memory']:,} | {r['equity_points']:,} |")
    facts = machine_facts()
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in facts.items())]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fill", type=int, default=15_000)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [retained(kind, bounded, args.fill, args.cycles)
            for kind in KINDS for bounded in (True, False)]
    command = "python bench/bench_view_memory.py " + " ".join(sys.argv[1:])
    print(markdown(rows, command.strip()))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
