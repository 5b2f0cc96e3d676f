"""Run the cross-venue arbitrage on Binance spot and USD-M BTCUSDT, recorded together.

    .venv/bin/python examples/cross_venue_arb.py [OUT_DIR]      (default OUT_DIR: out/)

The two bundled captures (data/binance_spot_BTCUSDT_ws_2024-08-08_150s.txt.gz and
data/binance_usdm_BTCUSDT_ws_2024-08-08_150s.txt.gz: the same 150 seconds of depth
updates and trades on both venues, recorded live) are imported into one catalog under
out/ and replayed together through heron's simulated venue with L2 matching: each leg's
immediate-or-cancel order walks that venue's book.

Three runs, one line each:

* Binance's standard taker fees (spot 10 bps, USD-M 5 bps; maker 10 and 2): the spread
  between the perpetual and spot never strays from its fair basis by the 30 bps a round
  trip costs, so the strategy does not trade. That is the answer for most accounts.
* no fees (what the edge itself is worth), orders reaching the venues at once;
* no fees, orders taking 100 ms to reach the venues: some legs find the book gone, the
  strategy closes the unbalanced leg at market, and less of the edge is kept.

The catalog's instruments carry no fees (the captures hold none), so each run gives the
venues theirs through ``heron.replay(fees=...)``. The parameters illustrate the strategy;
they are not tuned.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import heron
from heron.data.catalog import Catalog
from heron.data.importers import import_path

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = {"BINANCE": ROOT / "data" / "binance_spot_BTCUSDT_ws_2024-08-08_150s.txt.gz",
            "BINANCE_USDM": ROOT / "data" / "binance_usdm_BTCUSDT_ws_2024-08-08_150s.txt.gz"}
SPOT, PERP = "BTCUSDT.BINANCE", "BTCUSDT.BINANCE_USDM"
STANDARD_FEES = {SPOT: (10, 10), PERP: (2, 5)}  # (maker, taker) bps, Binance's base tier
NO_FEES = {SPOT: 0, PERP: 0}
PARAMS = {"leg_a": SPOT, "leg_b": PERP, "size": "0.002", "max_position": "0.01",
          "basis_halflife": 60.0, "warmup": 20.0, "entry_bps": 0.5, "adverse_bps": 0.2,
          "max_quote_age": 0.5}


def run(catalog: Catalog, fees: dict[str, object], latency: str) -> heron.BacktestResult:
    return heron.replay(catalog, instruments=[SPOT, PERP],
                        kinds=("book_snapshots", "book_deltas", "trades"),
                        strategy="cross_venue_arb", params=PARAMS, cash="100000",
                        fees=fees, latency=latency, sample="1s")


def summary(label: str, result: heron.BacktestResult) -> str:
    fills = result.fills
    legs = {iid: fills.filter(fills["instrument"] == iid).height for iid in (SPOT, PERP)}
    strategy = result.engine.strategies[0]
    pnl = Decimal(str(result.final_equity)) - Decimal("100000")
    return (f"{label}: fills spot {legs[SPOT]}, perp {legs[PERP]}, "
            f"repairs {getattr(strategy, 'repairs', 0)}, pnl {pnl:.4f} USDT")


def main(out: Path) -> None:
    catalog = Catalog(out / "cross_venue_arb_catalog")
    for venue, path in CAPTURES.items():
        import_path(catalog, path, venue=venue)  # idempotent: a re-run adds nothing
    print(summary("standard fees, no latency", run(catalog, STANDARD_FEES, "0")))
    print(summary("no fees, no latency", run(catalog, NO_FEES, "0")))
    late = run(catalog, NO_FEES, "100ms")
    print(summary("no fees, 100 ms latency", late))
    late.write_report(out / "cross_venue_arb.html", title="cross_venue_arb (100 ms latency)")
    print(f"report: {out / 'cross_venue_arb.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "out")
