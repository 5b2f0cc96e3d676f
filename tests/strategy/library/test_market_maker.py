"""The Avellaneda–Stoikov market maker on a real Binance USD-M L2 stream.

Two and a half minutes of BTCUSDT depth updates, trades and book tickers recorded live
(data/binance_usdm_BTCUSDT_ws_2024-08-08_150s.txt.gz) are imported into a catalog and
replayed. The quotes
the strategy wants are checked against the paper's formulas worked here by hand from the
same top-of-book stream: the microprice, an exponentially weighted variance of its log
changes per second, the reservation price and the spread in basis points.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pytest

import heron
from heron.data.catalog import Catalog
from heron.data.importers import import_path
from heron.data.schemas import DataKind
from heron.errors import InvalidConfiguration
from heron.model.data import Quote
from heron.model.events import SubmitOrder
from heron.strategy.library.market_maker import MarketMaker, avellaneda_stoikov, microprice

CAPTURE = Path(__file__).resolve().parents[3] / "data" / \
    "binance_usdm_BTCUSDT_ws_2024-08-08_150s.txt.gz"
INSTRUMENT = "BTCUSDT.BINANCE_USDM"
TWO_MINUTES = 120 * 1_000_000_000


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    store = Catalog(tmp_path_factory.mktemp("catalog"))
    import_path(store, CAPTURE, venue="BINANCE_USDM")
    return store


class Recorded(MarketMaker):
    """The library strategy, keeping what it saw and what it wanted."""

    name = "recorded_market_maker"

    def on_start(self) -> None:
        super().on_start()
        self.seen: list[tuple[Quote, int]] = []           # quote, position in lots before
        self.wanted: dict[int, tuple[int | None, int | None]] = {}  # index in seen -> quotes

    def on_quote(self, quote: Quote) -> None:
        self.seen.append((quote, self.position.qty))
        super().on_quote(quote)

    def requote(self, quote: Quote, bid: int | None, ask: int | None) -> None:
        self.wanted[len(self.seen) - 1] = (bid, ask)
        super().requote(quote, bid, ask)


def _replay(catalog: Catalog, strategy: MarketMaker) -> heron.BacktestResult:
    start = catalog.scan("BINANCE_USDM", "BTCUSDT", DataKind.TRADES
                         ).collect()["ts_event"].min()
    return heron.replay(catalog, instruments=[INSTRUMENT],
                        kinds=("book_snapshots", "book_deltas", "trades"), strategy=strategy,
                        cash="100000", fee_bps="0", sample="1s",
                        end_ns=int(start) + TWO_MINUTES)


def _by_hand(seen: list[tuple[Quote, int]], params: dict[str, float], lots: int
             ) -> dict[int, tuple[int | None, int | None]]:
    """The quotes the formulas give after each book top, worked without heron's code."""
    halflife_ns = params["vol_halflife"] * 1e9
    variance, updates, anchor, anchor_ts = 0.0, 0, None, 0
    out: dict[int, tuple[int | None, int | None]] = {}
    for i, (quote, position) in enumerate(seen):
        if quote.bid <= 0 or quote.ask <= quote.bid:
            continue
        total = quote.bid_size + quote.ask_size
        mid = (quote.bid * quote.ask_size + quote.ask * quote.bid_size) / total
        if anchor is None:
            anchor, anchor_ts = mid, quote.ts_event
            continue
        if quote.ts_event > anchor_ts:
            dt = quote.ts_event - anchor_ts
            step = math.log(mid / anchor) ** 2 * 1e9 / dt
            weight = 1 - 0.5 ** (dt / halflife_ns)
            variance = variance + weight * (step - variance)
            anchor, anchor_ts, updates = mid, quote.ts_event, updates + 1
        if updates < params["warmup"]:
            continue
        q = position / lots
        sigma2 = variance * 1e8  # in basis points squared per second
        risk = params["gamma"] * sigma2 * params["horizon"]
        half = (risk + 2 / params["gamma"] * math.log(1 + params["gamma"] / params["k"])) / 2
        bid = min(math.floor(mid * (1 + (-q * risk - half) / 1e4)), quote.ask - 1)
        ask = max(math.ceil(mid * (1 + (-q * risk + half) / 1e4)), quote.bid + 1)
        out[i] = (None if q >= params["max_inventory"] else bid,
                  None if q <= -params["max_inventory"] else ask)
    return out


def test_formulas_worked_by_hand() -> None:
    # s 100, q 2, sigma 0.5, gamma 0.1, k 1.5, tau 10: risk 0.25, reservation 99.5,
    # half-spread (0.25 + 20 ln(1 + 1/15)) / 2 = 0.77038521...
    bid, ask = avellaneda_stoikov(100.0, 2.0, 0.5, 0.1, 1.5, 10.0)
    half = (0.25 + 20 * math.log(1 + 0.1 / 1.5)) / 2
    assert bid == pytest.approx(99.5 - half, abs=1e-12)
    assert ask == pytest.approx(99.5 + half, abs=1e-12)
    assert round(half, 7) == 0.7703852
    inst = heron.Instrument(symbol="X", price_increment=Decimal("0.1"))
    # bid 100 x 3, ask 101 x 1: the mid leans to the thin ask, 100.75
    assert microprice(Quote(inst, 1, 1, 100, 101, 3, 1)) == 100.75


def test_quotes_follow_the_formulas_on_a_real_book(catalog: Catalog) -> None:
    params = {"gamma": 0.05, "k": 20.0, "horizon": 5.0, "vol_halflife": 30.0, "warmup": 50,
              "max_inventory": 3}
    strategy = Recorded(size="0.002", **params)
    result = _replay(catalog, strategy)
    want = _by_hand(strategy.seen, params, strategy.lots)
    assert len(want) > 1000
    assert strategy.wanted == want
    fills = result.fills
    assert fills.height > 20  # the book moved through the quotes both ways
    assert set(fills["liquidity"].to_list()) == {"maker"}
    assert set(fills["side"].to_list()) == {"buy", "sell"}
    submitted = [r for r in result.engine.journal.records if isinstance(r, SubmitOrder)]
    assert submitted and all(r.post_only for r in submitted)
    inventory = [abs(position) for _, position in strategy.seen]
    assert max(inventory) <= (params["max_inventory"] + 1) * strategy.lots
    pulled = [w for w in want.values() if None in w]
    assert all(w != (None, None) for w in want.values())
    skewed = {i for i, (_, position) in enumerate(strategy.seen) if position and i in want}
    assert skewed  # some quotes carried inventory, so the skew term was exercised
    assert pulled or max(inventory) < params["max_inventory"] * strategy.lots


def test_a_size_below_one_lot_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InvalidConfiguration, match="below one lot"):
        _replay(catalog, MarketMaker(size="0.0000001"))
