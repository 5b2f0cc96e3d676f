"""``mirror``: follow the fills of another run, scaled and delayed.

Copy trading, and the everyday form of it: a second account that shadows a first one at
a fraction of its size, or a paper run that replays what a live run did to see what a
smaller or slower copy would have made. The reference is any heron journal (a backtest,
paper or live run, in a SQLite file or a PostgreSQL database, ``source`` and
``source_run``); its fills are read as they are journaled (:mod:`.journal_tail`).

Every ``poll`` seconds the strategy reads the reference's new fills of the instrument
whose symbol is ``symbol`` (empty: this strategy's own instrument's symbol) and keeps the
reference's position from them. Once ``delay`` seconds have passed since a reference
fill, the copy trades, with a market order, towards the reference's position after that
fill times ``scale``, rounded toward zero to the lot and held within ``±max_quantity``
(when not 0). A fill is never acted on earlier: in a backtest over a finished reference
journal, fills dated after the current time wait their turn, so the copy can't see ahead
of the reference. With no delay, the copy's order goes in at the reference fill's own
time, so in a backtest both fill at the same bar's open: the ideal copy, and the
baseline a delayed one is measured against.
"""

from __future__ import annotations

from collections import deque
from decimal import ROUND_DOWN, Decimal

from heron.errors import InvalidConfiguration
from heron.model.orders import OrderSide
from heron.strategy.base import Strategy
from heron.strategy.params import Param

NS_PER_S = 1_000_000_000


class Mirror(Strategy):
    """Market orders that follow another run's position, scaled and delayed."""

    name = "mirror"
    source = Param("", doc="journal to follow: a SQLite file or a postgresql:// URL")
    source_run = Param("", doc="run id in it (empty: the only run it holds)")
    symbol = Param("", doc="the reference's symbol to copy (empty: this instrument's)")
    scale = Param(Decimal(1), gt=Decimal(0), le=Decimal(1000), doc="copy size / reference "
                  "fill size")
    delay = Param(0.0, ge=0.0, le=86_400.0, doc="seconds between a reference fill and the "
                  "copy")
    poll = Param(1.0, gt=0.0, le=3_600.0, doc="seconds between reads of the reference")
    max_quantity = Param(Decimal(0), ge=Decimal(0), doc="cap on the copy's position either "
                         "side (0 = none)")

    def validate(self) -> None:
        if not self.source:
            raise InvalidConfiguration("mirror: no source given; set source to the journal "
                                       "of the run to follow (a file or postgresql:// URL)")

    def on_start(self) -> None:
        # imported here: the journal reader brings SQLAlchemy, which listing strategies
        # (every CLI start imports the library) should not pay for
        from heron.strategy.library.journal_tail import JournalTail

        self.tail = JournalTail(self.source, self.source_run)
        self.follow = self.symbol or self.instrument.symbol
        self.reference = Decimal(0)  # the reference's position, from its fills
        self.queue: deque[tuple[int, Decimal]] = deque()  # due ns, reference position
        self.schedule(every=int(self.poll * NS_PER_S), name="mirror")

    def on_stop(self) -> None:
        self.tail.close()

    def on_timer(self, name: str, ts: int) -> None:
        delay = int(self.delay * NS_PER_S)
        for fill in self.tail.new_fills():
            inst = self.tail.instruments.get(fill.instrument_id)
            if inst is None or inst.symbol != self.follow:
                continue
            size = inst.quantity(fill.last_qty)
            self.reference += size if fill.side is OrderSide.BUY else -size
            self.queue.append((fill.ts_event + delay, self.reference))
        due = None
        while self.queue and self.queue[0][0] <= ts:
            due = self.queue.popleft()[1]
        if due is not None:
            self.follow_position(due)

    def follow_position(self, reference: Decimal) -> None:
        """Trade towards ``reference × scale`` (in whole lots, toward zero), within the cap.

        Why a target and not one copy per fill: the copy's position then can't drift from
        the reference's through rounding, and under a cap an exit closes what the copy
        holds instead of overshooting into the other side."""
        inst = self.instrument
        target = int((reference * self.scale / inst.size_increment).to_integral_value(
            ROUND_DOWN))
        if self.max_quantity:
            cap = int((self.max_quantity / inst.size_increment).to_integral_value(ROUND_DOWN))
            target = max(-cap, min(cap, target))
        working = sum((o.quantity - o.filled) * (1 if o.side is OrderSide.BUY else -1)
                      for o in self.open_orders())
        lots = target - self.position.qty - working
        if lots:
            side = OrderSide.BUY if lots > 0 else OrderSide.SELL
            self.submit(side=side, size=inst.quantity(abs(lots)), tag="mirror")
