"""Run the Avellaneda–Stoikov market maker on a real Binance USD-M order book.

    .venv/bin/python examples/market_maker.py [OUT_DIR]      (default OUT_DIR: out/)

The bundled capture (data/binance_usdm_BTCUSDT_ws_2024-08-08_150s.txt.gz: 150 seconds of
BTCUSDT depth updates, trades and book tickers, recorded live) is imported into a catalog
under out/, then replayed through heron's simulated venue with L2 matching: the quotes
rest in the book and fill when the book or a trade goes through them. Bars can't show
that, so this example is a script around ``heron.replay`` rather than a TOML config for
``heron backtest``. The parameters illustrate the strategy; they are not tuned.
"""

from __future__ import annotations

import sys
from pathlib import Path

import heron
from heron.data.catalog import Catalog
from heron.data.importers import import_path

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = ROOT / "data" / "binance_usdm_BTCUSDT_ws_2024-08-08_150s.txt.gz"


def main(out: Path) -> None:
    catalog = Catalog(out / "market_maker_catalog")
    import_path(catalog, CAPTURE, venue="BINANCE_USDM")  # idempotent: a re-run adds nothing
    result = heron.replay(
        catalog, instruments=["BTCUSDT.BINANCE_USDM"],
        kinds=("book_snapshots", "book_deltas", "trades"), strategy="market_maker",
        params={"size": "0.002", "gamma": 0.05, "k": 20.0, "horizon": 5.0,
                "max_inventory": 3},
        cash="100000", fee_bps="0", sample="1s")
    fills = result.fills
    print(f"fills {fills.height}, maker {fills['liquidity'].to_list().count('maker')}, "
          f"final equity {result.final_equity}")
    result.write_report(out / "market_maker.html", title="market_maker")
    print(f"report: {out / 'market_maker.html'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "out")
