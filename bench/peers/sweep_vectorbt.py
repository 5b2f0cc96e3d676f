"""vectorbt on bench/bench_sweep.py's SMA grid, as vectorbt users write a sweep.

Runs in vectorbt's own venv (``bench/install_peers.sh vectorbt``)::

    python bench/peers/sweep_vectorbt.py --bars-file PATH --grid-file GRID.json
        [--chunk C] [--warmup W]
    -> one JSON line {engine, version, bars, combos, seconds, chunks, trades, final_equity}
    python bench/peers/sweep_vectorbt.py --version

Per chunk of combinations (all combinations of a chunk are columns of one run):
``vbt.MA.run`` for the fast and the slow windows, ``entries = fast > slow`` (a state
signal; vectorbt ignores an entry while long and an exit while flat), ``exits = ~entries``,
then ``vbt.Portfolio.from_signals(close, entries, exits, size=QTY, fees=FEE,
init_cash=CASH)``: fills at the signal bar's close, a fixed size, the fee on every
fill's notional. ``trades`` counts round trips per combination (an open one at the
end included), ``final_equity`` is ``final_value()``. ``seconds`` is the sum over
chunks of the MA, signal and portfolio time, after a warm-up on the first W bars
that pays for numba's compilation. Chunks bound memory: one float column of 1M bars
is 8 MB, so 1,000 columns of each array would need 8 GB apiece.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_pandas  # stdlib-only helper beside this file


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars-file")
    parser.add_argument("--grid-file", help="JSON: {fast: [...], slow: [...], fee, cash, qty}")
    parser.add_argument("--chunk", type=int, default=100, help="combinations per run")
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--version", action="store_true")
    return parser.parse_args()


def run_grid(close, fast: list[int], slow: list[int], spec: dict, chunk: int):  # type: ignore[no-untyped-def]
    """Trades and final value per combination, and the seconds spent, chunk by chunk."""
    import numpy as np
    import vectorbt as vbt

    trades: list[int] = []
    finals: list[float] = []
    seconds = 0.0
    for lo in range(0, len(fast), chunk):
        f, s = fast[lo:lo + chunk], slow[lo:lo + chunk]
        start = time.perf_counter()
        fast_ma = vbt.MA.run(close, window=f, short_name="fast")
        slow_ma = vbt.MA.run(close, window=s, short_name="slow")
        entries = fast_ma.ma_above(slow_ma)
        exits = ~entries
        pf = vbt.Portfolio.from_signals(close, entries, exits, size=spec["qty"],
                                        fees=spec["fee"], init_cash=spec["cash"], freq="1min")
        counts = pf.trades.count().to_numpy()
        values = pf.final_value().to_numpy()
        seconds += time.perf_counter() - start
        trades.extend(int(c) for c in counts)
        finals.extend(float(v) for v in np.asarray(values, dtype=float))
        del fast_ma, slow_ma, entries, exits, pf
    return trades, finals, seconds


def main() -> int:
    args = _args()
    import vectorbt as vbt

    if args.version:
        print(vbt.__version__)
        return 0
    spec = json.loads(Path(args.grid_file).read_text())
    close = load_pandas(args.bars_file)["close"]
    if args.warmup:
        run_grid(close.iloc[: args.warmup], spec["fast"][:4], spec["slow"][:4], spec, 4)
    trades, finals, seconds = run_grid(close, spec["fast"], spec["slow"], spec, args.chunk)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"engine": "vectorbt", "version": vbt.__version__, "bars": len(close),
                      "combos": len(trades), "seconds": seconds, "chunk": args.chunk,
                      "peak_mib": peak_mib, "trades": trades, "final_equity": finals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
