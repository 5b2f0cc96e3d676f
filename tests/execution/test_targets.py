"""Orders by intent through a running engine: the target executor sends the router's plan
and logs every decision with its reason, once the plan's requests are out.

A real paper engine (order manager, simulated venue, journal in memory) on one quote."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from heron.execution.router import Target
from heron.model.book import LinkedSequence
from heron.model.data import Quote
from heron.model.events import AmendOrder, CancelOrder, SubmitOrder
from heron.model.instrument import Instrument
from heron.model.orders import OrderSide
from heron.node.paper import PaperEngine
from heron.strategy.base import Strategy
from heron.venues.sim.config import SimVenueConfig

INST = Instrument(symbol="BTCUSDT", venue="BINANCE", price_increment=Decimal("0.1"),
                  size_increment=Decimal("0.001"), min_notional=Decimal("5"))


class Quoter(Strategy):
    """Sends nothing by itself: the test calls ``target_orders``."""

    name = "quoter"


class Lines(logging.Handler):
    """Each router line, with how many commands the journal held when it was written."""

    def __init__(self, engine: PaperEngine) -> None:
        super().__init__(logging.INFO)
        self.engine = engine
        self.lines: list[tuple[str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        sent = sum(isinstance(r, SubmitOrder | CancelOrder | AmendOrder)
                   for r in self.engine.journal.records)
        self.lines.append((record.getMessage(), sent))


@pytest.fixture
def engine() -> Iterator[PaperEngine]:
    engine = PaperEngine(
        instruments=[INST], strategies=[Quoter()], cash=Decimal(100_000),
        venue=SimVenueConfig(), journal_path=None, bar_ns=1_000_000_000, book_streams=set(),
        quote_streams={INST.id}, book_rules={INST.id: LinkedSequence()}, header={})
    engine.start()
    engine.consume(Quote(INST, 1_000, 1_000, INST.ticks(Decimal("60000")),
                         INST.ticks(Decimal("60000.1")), 10**6, 10**6, 0))
    yield engine
    engine.journal.close()


@pytest.fixture
def lines(engine: PaperEngine) -> Iterator[Lines]:
    handler = Lines(engine)
    logger = logging.getLogger("heron.execution.targets")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def bid(price: str, qty: str = "0.01") -> Target:
    return Target(OrderSide.BUY, INST.lots(Decimal(qty)), INST.ticks(Decimal(price)),
                  key="bid", post_only=True)


def test_every_decision_is_logged_with_its_reason_after_the_plans_requests(
        engine: PaperEngine, lines: Lines) -> None:
    quoter = engine.strategies[0]
    tiny = Target(OrderSide.SELL, INST.lots(Decimal("0.001")), INST.ticks(Decimal("61000")),
                  key="ask")  # 61 USDT of notional: kept
    dust = Target(OrderSide.SELL, INST.lots(Decimal("0.001")), INST.ticks(Decimal("10")),
                  key="dust")  # 0.01 USDT: below the minimum notional, dropped
    quoter.target_orders([bid("59000"), tiny, dust])
    [cid] = [o.client_order_id for o in engine.om.open_orders.values() if o.side is OrderSide.BUY]
    quoter.target_orders([bid("59000.5"), tiny])   # the bid moves: amended in place
    quoter.target_orders([])                        # nothing wanted: both canceled

    assert [sent for _, sent in lines.lines] == [2, 2, 2, 3, 5, 5]  # after the requests
    prefix = f"router quoter {INST.id}: "
    assert all(message.startswith(prefix) for message, _ in lines.lines)
    drop, *new = (message for message, _ in lines.lines[:3])
    assert drop.startswith(prefix + "drop ") and drop.endswith("(below_min_notional)")
    assert all(": new Target(" in m and m.endswith("(new_target)") for m in new)
    assert lines.lines[3][0] == prefix + f"amend {cid} (reprice)"
    cancels = [message for message, _ in lines.lines[4:]]
    assert all(": cancel " in m and m.endswith("(unmatched)") for m in cancels)
    assert any(cid in m for m in cancels)
    placed = [r for r in engine.journal.records if isinstance(r, SubmitOrder)]
    mark = engine.portfolio.marks[INST.id]
    assert mark and [r.decision_price for r in placed] == [mark, mark]  # slippage's base
