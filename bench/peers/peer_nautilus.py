"""NautilusTrader 1.221.0 on the benchmark workload.

Configuration that makes it follow the shared rules:

* A ``BacktestEngine`` with one simulated venue using bar execution: each bar is replayed
  open → high → low → close before ``on_bar`` runs, so a market order submitted in
  ``on_bar`` fills at the bar's close.
* Bars come from ``BarDataWrangler`` with a huge volume (1e12) instead of the data's:
  each O/H/L/C point offers volume/4 of liquidity, and an order larger than that walks
  a tick.
* The account is MARGIN (leverage 1, margin 0). The instrument is an ``Equity`` quoted in
  a synthetic 16-dp currency (USX), so fees (0.1% taker, 11 dp) and PnL are not rounded
  to cents; prices have 8 dp and quantities are whole units.
* Indicators: the built-in ``SimpleMovingAverage`` registered for the bars, so both are
  updated before ``on_bar``; trading starts once the slow one is initialised (bar 49).

Trades are counted from BUY fills; the final equity is the account balance (cash after
fees and realised PnL) plus the open position marked at the last close. The timed part
covers wrangling, engine setup, ``run()`` (with its default post-run analysis) and
disposal of the engine.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any

import common
import pandas as pd

BAR_VOLUME = 1e12
VENUE = "SIM"
SYMBOL = "SYN"


def _version() -> str:
    import nautilus_trader

    return str(nautilus_trader.__version__)


def _strategy(bar_type: Any, instrument_id: Any) -> Any:
    from nautilus_trader.indicators.averages import SimpleMovingAverage
    from nautilus_trader.model.enums import OrderSide
    from nautilus_trader.model.objects import Quantity
    from nautilus_trader.trading.strategy import Strategy

    class SmaCross(Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.fast = SimpleMovingAverage(common.FAST)
            self.slow = SimpleMovingAverage(common.SLOW)
            self.quantity = Quantity.from_int(common.QUANTITY)
            self.long = False
            self.entries = 0

        def on_start(self) -> None:
            self.register_indicator_for_bars(bar_type, self.fast)
            self.register_indicator_for_bars(bar_type, self.slow)
            self.subscribe_bars(bar_type)

        def on_bar(self, bar: Any) -> None:
            if not self.slow.initialized:
                return
            want_long = self.fast.value > self.slow.value
            if want_long != self.long:
                side = OrderSide.BUY if want_long else OrderSide.SELL
                order = self.order_factory.market(
                    instrument_id, side, self.quantity, reduce_only=not want_long
                )
                self.submit_order(order)
                self.long = want_long

        def on_order_filled(self, event: Any) -> None:
            if event.order_side == OrderSide.BUY:
                self.entries += 1

    return SmaCross()


def _instrument(currency: Any) -> Any:
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import Equity
    from nautilus_trader.model.objects import Price, Quantity

    fee = Decimal(str(common.FEE_RATE))
    return Equity(
        instrument_id=InstrumentId(Symbol(SYMBOL), Venue(VENUE)),
        raw_symbol=Symbol(SYMBOL),
        currency=currency,
        price_precision=8,
        price_increment=Price.from_str("0.00000001"),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
        maker_fee=fee,
        taker_fee=fee,
    )


def _engine(currency: Any) -> Any:
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig, LoggingConfig
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    engine = BacktestEngine(
        BacktestEngineConfig(trader_id="BENCH-001", logging=LoggingConfig(log_level="ERROR"))
    )
    engine.add_venue(
        venue=Venue(VENUE),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=currency,
        starting_balances=[Money(common.CASH, currency)],
        default_leverage=Decimal(1),
        bar_execution=True,
    )
    return engine


def _final_equity(engine: Any, currency: Any, last_close: float) -> Decimal:
    from nautilus_trader.model.identifiers import Venue

    account = engine.portfolio.account(Venue(VENUE))
    equity = account.balance_total(currency).as_decimal()
    tick = Decimal("0.00000001")
    for position in engine.cache.positions_open():
        entry = Decimal(repr(position.avg_px_open)).quantize(tick)
        mark = Decimal(repr(last_close)).quantize(tick)
        equity += position.signed_decimal_qty() * (mark - entry)
    return Decimal(equity)


def _head(bars: pd.DataFrame, n: int) -> pd.DataFrame:
    return bars.iloc[:n]


def _run(bars: pd.DataFrame) -> common.Outcome:
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.enums import CurrencyType
    from nautilus_trader.model.objects import Currency
    from nautilus_trader.persistence.wranglers import BarDataWrangler

    currency = Currency("USX", 16, 999, "Synthetic dollar", CurrencyType.FIAT)
    instrument = _instrument(currency)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    frame = bars.assign(volume=BAR_VOLUME)
    engine = _engine(currency)
    engine.add_instrument(instrument)
    engine.add_data(BarDataWrangler(bar_type, instrument).process(frame))
    strategy = _strategy(bar_type, instrument.id)
    engine.add_strategy(strategy)
    engine.run()
    outcome = strategy.entries, _final_equity(engine, currency, float(bars["close"].iloc[-1]))
    engine.dispose()
    return outcome


if __name__ == "__main__":
    sys.exit(common.main("NautilusTrader", _version, load=common.load_pandas, head=_head, run=_run))
