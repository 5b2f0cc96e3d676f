"""Live trading: the paper node with a real venue account behind the venue seam.

:class:`LiveEngine` is a :class:`~heron.node.paper.PaperEngine` (the same market-data
handling, bars, indicators, strategy hooks, order manager, portfolio and journal) whose
``venue`` is a :class:`~heron.execution.live.LiveExecution` instead of the simulated
venue, so a strategy runs unchanged from backtest to paper to live. What live adds:

* **sizing at send time**: an order sized as a fraction of equity (``equity_fraction``,
  sized by the simulated venue at its fill) is sized here, from the portfolio's equity
  and the last mark, because a real venue wants a quantity;
* **the trading state** (:mod:`heron.risk.state`, gated in the node as in every mode):
  a reconciliation with unresolved differences fires the ``reconcile`` trigger
  (``DEGRADED``: an order that could increase ``|position|`` is denied before it reaches
  the venue) and a clean pass clears it; ``HALTED`` denies every new order;
* **restart from the journal**: a live run's inputs (the venue's answers) cannot be
  replayed, so a restart rebuilds orders, positions and balance by re-journaling the
  previous journal's records (:meth:`LiveEngine.restore`), then asks the venue what
  happened meanwhile (reconciliation).
"""

from __future__ import annotations

import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

import msgspec

from heron.execution.live import LiveExecution
from heron.execution.port import VenueClient
from heron.execution.router import VenueTraits
from heron.model.book import SequenceRule
from heron.model.events import ClientIdsReserved, Record, SubmitOrder, TradingStateChanged
from heron.model.instrument import Instrument
from heron.node.paper import PaperEngine
from heron.strategy.base import Strategy
from heron.venues.sim.config import SimVenueConfig
from heron.venues.sim.margin import MarginDesk

#: client order numbers reserved at a time (a journal commit on the order path each)
ID_BLOCK = 10_000


class LiveEngine(PaperEngine):
    """Strategies on live market data, trading a venue account."""

    def __init__(self, *, client: VenueClient, instruments: list[Instrument],
                 strategies: list[Strategy], cash: Decimal, journal_path: Any, bar_ns: int,
                 book_streams: set[str], quote_streams: set[str],
                 book_rules: dict[str, SequenceRule | None], header: dict[str, Any],
                 id_tag: str, lost_grace_s: float = 1.0,
                 journal_run_id: str | None = None) -> None:
        super().__init__(instruments=instruments, strategies=strategies, cash=cash,
                         venue=SimVenueConfig(), journal_path=journal_path, bar_ns=bar_ns,
                         book_streams=book_streams, quote_streams=quote_streams,
                         book_rules=book_rules, header=header, id_tag=id_tag,
                         journal_run_id=journal_run_id)
        self.journal.header["kind"] = "live"
        self.execution = LiveExecution(client, self.om, self.emit, time.time_ns,
                                       lost_grace_s=lost_grace_s)
        self.venue = self.execution  # type: ignore[assignment]  # the same seam, live
        for router in self.targets.routers.values():
            router.traits = VenueTraits(supports_amend=client.supports_amend)
        self._margin = MarginDesk(self.portfolio, self.portfolio.instruments, None)
        self.ids.reserve_with(self._reserve_ids)

    # -- client order ids ----------------------------------------------------------------
    def _reserve_ids(self, first: int) -> int:
        """Commit a block of client order numbers from ``first`` before the first of them
        leaves (one synchronous journal commit per :data:`ID_BLOCK` orders)."""
        up_to = first + ID_BLOCK - 1
        now = self.clock.ts
        self.journal.append(ClientIdsReserved(now, now, up_to))
        self.journal.flush()
        return up_to

    # -- restart -------------------------------------------------------------------------
    def restore(self, records: list[Record]) -> None:
        """Re-journal a previous process's records and rebuild state from them. Client
        order ids go on past the last reserved block (and past every order journaled),
        never from a number a lost record may have used."""
        orders = reserved = 0
        for record in records:
            self._record(record)
            self.om.apply(record)
            self.execution.learn(record)
            if isinstance(record, TradingStateChanged):  # a halt outlives the process
                self.machine.restore(record)
            if isinstance(record, SubmitOrder):
                orders += 1
            elif isinstance(record, ClientIdsReserved):
                reserved = max(reserved, record.up_to)
            self.clock.ts = max(self.clock.ts, record.ts_event)
        self.ids.restore((max(orders, reserved), 0, 0))
        self.protective.rebuild()

    # -- commands ------------------------------------------------------------------------
    def send(self, cmd: Record) -> None:
        if isinstance(cmd, SubmitOrder):
            cmd = self._sized(cmd)  # the node's state gate needs the size
        super().send(cmd)

    def _sized(self, cmd: SubmitOrder) -> SubmitOrder:
        """An equity-fraction order with its quantity: the simulated venue's sizing rule,
        applied at the limit price or the last mark (margin at the instrument's rate,
        the taker fee on the whole notional)."""
        if cmd.quantity or cmd.equity_fraction is None:
            return cmd
        iid = cmd.instrument_id
        mark = cmd.price or self.portfolio.marks.get(iid)
        if not mark:
            return cmd  # stays 0 lots: the venue client refuses it with the reason
        lots = self._margin.lots_for_fraction(iid, Fraction(cmd.equity_fraction), mark,
                                              self.portfolio.instruments[iid].taker_fee)
        return msgspec.structs.replace(cmd, quantity=lots)


__all__ = ["LiveEngine"]
