"""Strategies on replayed ticks: real Binance trades and quotes from the catalog."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import heron
from heron.data.catalog import Catalog
from heron.data.schemas import DataKind
from heron.model.data import Quote, Trade
from heron.model.events import OrderFilled
from heron.model.instrument import Instrument
from heron.model.orders import Order

INST = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment=Decimal("0.01"),
                  size_increment=Decimal("0.000001"), taker_fee=Decimal("0.001"),
                  maker_fee=Decimal("0.001"))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, btc_trades: pl.DataFrame,
            btc_quotes: pl.DataFrame) -> Catalog:
    store = Catalog(tmp_path_factory.mktemp("catalog"))
    store.write(INST, DataKind.TRADES, btc_trades)
    store.write(INST, DataKind.QUOTES, btc_quotes)
    return store


class TapeReader(heron.Strategy):
    """Buys at the first quote, then offers the position one tick above the ask."""

    name = "tape_reader"

    def on_start(self) -> None:
        self.trades: list[Trade] = []
        self.quotes: list[Quote] = []
        self.fills: list[OrderFilled] = []
        self.exit_sent = False

    def on_trade(self, trade: Trade) -> None:
        self.trades.append(trade)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)
        if len(self.quotes) == 1:
            self.buy(size="0.002")
        elif self.position.is_long and not self.exit_sent:
            self.sell(size="0.002", price=self.instrument.price(quote.ask + 1))
            self.exit_sent = True

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        self.fills.append(fill)


def _run(catalog: Catalog, tmp_path: Path | None = None) -> tuple[heron.BacktestResult,
                                                                   TapeReader]:
    strategy = TapeReader()
    result = heron.replay(catalog, instruments=["BTCUSDT.BINANCE"],
                          kinds=("trades", "quotes"), strategy=strategy, cash="1000",
                          sample="1s", journal=None if tmp_path is None else tmp_path / "j.db")
    return result, strategy


def test_replay_delivers_every_trade_and_quote_in_time_order(catalog: Catalog) -> None:
    result, strat = _run(catalog)
    assert len(strat.trades) == 2001
    assert len(strat.quotes) == 451
    stamps = sorted([t.ts_event for t in strat.trades] + [q.ts_event for q in strat.quotes])
    assert stamps[0] == strat.trades[0].ts_event
    assert [t.ts_event for t in strat.trades] == sorted(t.ts_event for t in strat.trades)
    assert result.equity.height >= 40  # one sample a second over 46 s of data


def test_replay_market_buy_takes_the_quoted_ask_and_limit_exit_fills_as_maker(
        catalog: Catalog) -> None:
    result, strat = _run(catalog)
    first_quote = strat.quotes[0]
    entry, exit_ = strat.fills
    assert (entry.side.value, entry.last_px, entry.liquidity) == ("buy", first_quote.ask,
                                                                   "taker")
    # the offer rests one tick above the second quote's ask and fills at its limit, as a
    # maker, once a trade or the bid goes through it
    assert (exit_.liquidity, exit_.last_px) == ("maker", strat.quotes[1].ask + 1)
    assert exit_.ts_event > strat.quotes[1].ts_event
    assert result.trades.height == 1
    assert result.engine.portfolio.positions["BTCUSDT.BINANCE"].qty == 0


def test_replay_is_deterministic_and_its_journal_replays(catalog: Catalog,
                                                         tmp_path: Path) -> None:
    from heron.node.replay import replay_journal

    first, _ = _run(catalog, tmp_path)
    second, _ = _run(catalog)
    assert first.journal_sha256 == second.journal_sha256
    assert replay_journal(tmp_path / "j.db").portfolio.snapshot() == \
        first.engine.portfolio.snapshot()


def test_replay_unknown_instrument_is_a_clear_error(catalog: Catalog) -> None:
    from heron.errors import HeronError

    with pytest.raises(HeronError, match="ETHUSDT"):
        heron.replay(catalog, instruments=["ETHUSDT.BINANCE"], strategy=TapeReader())
