"""What a strategy can see and do, provided by the node that runs it.

The node (backtest, paper or live) builds one ``StrategyContext`` per strategy and
keeps ``slot``/``index`` pointing at the instrument and bar being handled, so
``self.position`` and ``self.fast_ma[-1]`` need no arguments in the hot loop. The
strategy reaches the outside world only through ``send`` (commands go to risk,
execution and the venue) and reads the portfolio and its orders, never the venue.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from heron.core.ids import IdGenerator
from heron.execution.order_manager import OrderManager
from heron.model.events import Record, SubmitOrder
from heron.model.instrument import Instrument
from heron.model.portfolio import Portfolio


class StrategyContext:
    """The live wiring of one strategy to its node."""

    __slots__ = ("clock", "deny", "ids", "index", "indicators", "instruments", "last_index", "om",
                 "portfolio", "positions",
                 "protective", "run_dir", "schedule", "send", "series", "slot", "slots",
                 "targets")

    def __init__(self, *, instruments: list[Instrument], portfolio: Portfolio,
                 om: OrderManager, ids: IdGenerator, clock: Any,
                 send: Callable[[Record], None],
                 deny: Callable[[SubmitOrder, str], None],
                 schedule: Callable[[int, Callable[[int], None]], None],
                 series: list[dict[str, Any]]) -> None:
        self.instruments = instruments
        self.slots = {inst.id: k for k, inst in enumerate(instruments)}
        self.portfolio = portfolio
        self.positions = [portfolio.positions[inst.id] for inst in instruments]
        self.om = om
        self.ids = ids
        self.clock = clock
        self.send = send
        self.deny = deny
        self.schedule = schedule
        self.series = series          # per slot: {"close": ndarray, ...} for bulk indicators
        # (func, args, source, values-per-slot) of each indicator, so that a live node can
        # recompute them when its series grow by a bar
        self.indicators: list[tuple[Callable[..., Any], tuple[Any, ...], str, list[Any]]] = []
        self.targets: Any = None     # the node's TargetExecutor (orders by intent)
        self.protective: Any = None  # the node's ProtectiveGroups (emulated OCO)
        self.run_dir: Path | None = None  # paper/live: the --state folder (Strategy.run_dir)
        self.slot = 0
        self.index = -1
        self.last_index = [-1] * len(instruments)
