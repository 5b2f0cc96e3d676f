"""Prometheus metrics of one run, fed by its record bus and a few cheap hooks.

:class:`NodeMetrics` owns a private :class:`~prometheus_client.CollectorRegistry` (not
the process-global one): tests and several nodes in one process never collide, and a
node's ``/metrics`` shows that node only. Every metric is named ``heron_*`` and carries
a ``run`` label; the table of names, labels and meanings is in ``docs/operating.md``.

Where the numbers come from, and why that way:

* **order, denial and fill counters, slippage**: the node's ``records`` bus topic
  (:data:`heron.node.node.RECORDS`), which sees every journaled command and event in
  journal order, so the counters equal what the journal holds;
* **feed → strategy latency**: :meth:`NodeMetrics.market_event`, called by the run for
  each live market event just before the engine hands it to the strategies (wall clock
  now minus the event's ``ts_recv``, stamped when its frame came off the socket);
* **decision → venue latency**: a command's record is seen (wall clock noted) when the
  strategy sends it; :class:`~heron.execution.live.LiveExecution` calls
  :meth:`NodeMetrics.venue_call` just before the venue client call;
* **feed lag, reconnects, gaps, state**: :meth:`NodeMetrics.feed_health`, for each
  :class:`~heron.model.feed.FeedHealth` report the feed already sends;
* **router decisions**: each instrument's router counts its decisions by action and
  reason as it plans; :meth:`NodeMetrics.refresh` adds what is new to the counter (the
  order path pays no metric update);
* **equity, drawdown, exposure, trading state**: :meth:`NodeMetrics.refresh`, run by the
  metrics server before each scrape and on its 100 ms timer, in the node's event loop
  (never concurrently with the engine, so it reads a consistent portfolio).

Every update is wrapped: an exception is counted in ``heron_observe_errors_total`` and
logged once per place, and trading goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from heron.model.events import (
    ORDER_EVENT_TYPES,
    AmendOrder,
    CancelOrder,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    SubmitOrder,
)

if TYPE_CHECKING:
    from heron.model.feed import FeedHealth
    from heron.model.instrument import Instrument
    from heron.node.node import SimNode

log = logging.getLogger(__name__)

#: order event class -> the ``status`` label of ``heron_orders_total``
STATUS = {cls: "".join(f"_{c.lower()}" if c.isupper() else c
                       for c in cls.__name__.removeprefix("Order")).lstrip("_")
          for cls in ORDER_EVENT_TYPES}
#: events after which an order is closed: its remembered decision price is dropped
_TERMINAL = frozenset({"denied", "rejected", "canceled", "expired"})
_REFUSED = frozenset({"cancel_rejected", "update_rejected"})
_LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_SLIPPAGE_BUCKETS = (-50.0, -20.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 20.0,
                     50.0, 100.0)


class _Families:
    """The metric families of one registry (one instance per node)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        order = ["run", "venue", "instrument", "strategy"]
        feed = ["run", "venue", "symbol", "stream"]

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        self.orders = counter("heron_orders", "order events by status", [*order, "status"])
        self.denials = counter("heron_order_denials", "orders denied before any venue, by "
                               "rule", [*order, "rule"])
        self.fills = counter("heron_fills", "executions", [*order, "side", "liquidity"])
        self.notional = counter("heron_filled_notional", "filled notional, quote currency",
                                order)
        self.slippage = Histogram(
            "heron_slippage_bps", "fill price against the decision price, bps (positive: "
            "worse for the trader)", order, buckets=_SLIPPAGE_BUCKETS, registry=registry)
        self.feed_latency = Histogram(
            "heron_feed_to_strategy_seconds", "socket receive to dispatch to the strategies",
            ["run", "venue", "instrument"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.venue_latency = Histogram(
            "heron_decision_to_venue_seconds", "strategy command to the venue client call",
            ["run", "venue", "action"], buckets=_LATENCY_BUCKETS, registry=registry)
        self.feed_lag = gauge("heron_feed_lag_seconds", "age of the last message at the "
                              "last health report", feed)
        self.reconnects = counter("heron_feed_reconnects", "feed reconnections", feed)
        self.gaps = counter("heron_feed_gaps", "sequence gaps that forced a resync", feed)
        self.feed_state = gauge("heron_feed_state", "1 for the subscription's current state",
                                [*feed, "state"])
        self.trading_state = gauge("heron_trading_state", "1 for the run's current trading "
                                   "state (INIT, READY, DEGRADED ...)", ["run", "state"])
        self.trading_mode = gauge("heron_trading_mode", "1 for what the state allows "
                                  "(normal, reduce_only, halted)", ["run", "mode"])
        self.transitions = counter("heron_trading_state_transitions", "trading state "
                                   "changes", ["run", "from_state", "to_state", "trigger"])
        self.equity = gauge("heron_equity", "balance plus open positions at their marks, "
                            "quote currency", ["run"])
        self.peak = gauge("heron_equity_peak", "highest equity seen", ["run"])
        self.drawdown = gauge("heron_drawdown_ratio", "fall from the equity peak, 0..1",
                              ["run"])
        self.gross = gauge("heron_exposure_gross", "sum of |position notional|", ["run"])
        self.net = gauge("heron_exposure_net", "sum of signed position notional", ["run"])
        self.router = counter("heron_router_decisions", "the smart order router's "
                              "decisions by action and reason (targets dropped: action "
                              "\"drop\")", ["run", "instrument", "action", "reason"])
        self.errors = counter("heron_observe_errors", "metric or log updates that failed "
                              "(trading went on)", ["run", "where"])


class NodeMetrics:
    """One run's metrics; :meth:`attach` it to a node, serve :attr:`registry`."""

    def __init__(self, run: str, registry: CollectorRegistry | None = None) -> None:
        self.run = run
        self.registry = registry if registry is not None else CollectorRegistry()
        self.m = _Families(self.registry)
        self.node: SimNode | None = None
        self._handlers: dict[type, Callable[[Any], None]] = {
            SubmitOrder: self._on_submit, CancelOrder: self._on_command,
            AmendOrder: self._on_command, OrderFilled: self._on_fill,
            OrderDenied: self._on_denied}
        self._children: dict[tuple[Any, ...], Any] = {}  # label values -> metric child
        self._decided: dict[str, int] = {}    # client id -> wall ns the command was seen
        self._decisions: dict[str, int] = {}  # client id -> decision price (ticks)
        self._filled: dict[str, int] = {}     # client id -> lots filled so far
        self._health: dict[tuple[str, str, str], tuple[int, int, str]] = {}
        self._reported: set[str] = set()
        self._time_venue = False  # only a live venue client calls back
        self._peak: float | None = None
        #: log-sink failures already counted (only this node's life counts)
        self._errors_before: dict[tuple[str, ...], int] = {
            (where,): n for where, n in _sink_errors().items()}
        self._routed: dict[tuple[str, ...], int] = {}  # router counts exported
        self.m.errors.labels(run, "records")  # present (at 0) from the start

    # -- wiring --------------------------------------------------------------------------
    def attach(self, node: SimNode) -> None:
        """Watch ``node``'s records; time venue calls if its venue is a live one."""
        from heron.node.node import RECORDS

        self.node = node
        node.bus.subscribe(RECORDS, self.observe)
        self._routed = dict(_router_counts(node))  # a paper restart's replay is not news
        execution = getattr(node, "execution", None)
        if execution is not None and hasattr(execution, "observer"):
            execution.observer = self.venue_call
            self._time_venue = True
        self.refresh()

    def failed(self, where: str, exc: BaseException) -> None:
        """Count a failed update and log it the first time it happens at ``where``."""
        try:
            self.m.errors.labels(self.run, where).inc()
            if where not in self._reported:
                self._reported.add(where)
                log.error("metrics: updating %s failed (%s: %s); trading goes on, further "
                          "failures there are only counted", where, type(exc).__name__, exc)
        except Exception:  # a broken log sink on top: nothing more to do
            pass

    # -- the record bus ------------------------------------------------------------------
    def observe(self, record: Any) -> None:
        """A journaled command or event (the ``records`` topic)."""
        try:
            handler = self._handlers.get(type(record))
            if handler is not None:
                handler(record)
            if isinstance(record, OrderEvent):
                self._on_order_event(record)
            elif type(record).__name__ == "TradingStateChanged":
                self._on_state_changed(record)
        except Exception as exc:
            self.failed("records", exc)

    def _labels(self, iid: str, cid: str) -> tuple[str, str, str, str]:
        node = self.node
        order = node.om.orders.get(cid) if node is not None else None
        strategy = order.strategy_id if order is not None else ""
        inst = self._instrument(iid)
        return self.run, inst.venue if inst is not None else "", iid, strategy

    def _instrument(self, iid: str) -> Instrument | None:
        node = self.node
        return None if node is None else node.portfolio.instruments.get(iid)

    def _child(self, family: Any, *values: str) -> Any:
        key = (id(family), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def _on_submit(self, cmd: SubmitOrder) -> None:
        if cmd.decision_price:
            self._decisions[cmd.client_order_id] = cmd.decision_price
        self._on_command(cmd)

    def _on_command(self, cmd: SubmitOrder | CancelOrder | AmendOrder) -> None:
        if self._time_venue:
            self._decided[cmd.client_order_id] = time.perf_counter_ns()

    def _on_order_event(self, event: OrderEvent) -> None:
        cid = event.client_order_id
        status = STATUS[type(event)]
        if isinstance(event, OrderFilled):
            done = self._filled.get(cid, 0) + event.last_qty
            status = "filled" if done >= event.order_qty else "partially_filled"
            self._filled[cid] = done
        if status == "filled" or status in _TERMINAL:
            self._filled.pop(cid, None)
            self._decisions.pop(cid, None)
            self._decided.pop(cid, None)
        elif status in _REFUSED:  # a cancel/amend refused here never reaches the venue
            self._decided.pop(cid, None)
        self._child(self.m.orders, *self._labels(event.instrument_id, cid), status).inc()

    def _on_denied(self, event: OrderDenied) -> None:
        rule = getattr(event, "rule", "") or "unknown"
        labels = self._labels(event.instrument_id, event.client_order_id)
        self._child(self.m.denials, *labels, rule).inc()

    def _on_fill(self, fill: OrderFilled) -> None:
        labels = self.run, "", fill.instrument_id, fill.strategy_id
        inst = self._instrument(fill.instrument_id)
        if inst is not None:
            labels = self.run, inst.venue, fill.instrument_id, fill.strategy_id
            notional = inst.notional_raw(fill.last_px, fill.last_qty)
            self._child(self.m.notional, *labels).inc(notional / 10 ** inst.notional_precision)
        self._child(self.m.fills, *labels, fill.side.value, fill.liquidity).inc()
        decided = self._decisions.get(fill.client_order_id)
        if decided:
            bps = fill.side.sign * (fill.last_px - decided) / decided * 10_000
            self._child(self.m.slippage, *labels).observe(bps)

    def _on_state_changed(self, record: Any) -> None:
        """B's ``TradingStateChanged`` record, read by field name so either spelling of
        the states (``from``/``from_state``) works."""
        def field(*names: str) -> str:
            for name in names:
                value = getattr(record, name, None)
                if value is not None:
                    return str(getattr(value, "value", value))
            return ""
        self.m.transitions.labels(self.run, field("from_state", "source", "previous"),
                                  field("to_state", "to", "target", "state"),
                                  field("trigger") or "unknown").inc()
        self._refresh_state()

    # -- cheap hooks ---------------------------------------------------------------------
    def market_event(self, event: Any) -> None:
        """A live market event about to reach the strategies (not a replayed one)."""
        try:
            inst = event.instrument
            now = time.time_ns()
            self._child(self.m.feed_latency, self.run, inst.venue, inst.id).observe(
                (now - event.ts_recv) / 1e9)
        except Exception as exc:
            self.failed("market_event", exc)

    def venue_call(self, action: str, client_order_id: str) -> None:
        """The live execution is about to send ``action`` for ``client_order_id``."""
        try:
            started = self._decided.pop(client_order_id, None)
            if started is None:
                return  # a retry, a catch-up: not a strategy's decision
            venue = self.node.instruments[0].venue if self.node is not None else ""
            self._child(self.m.venue_latency, self.run, venue, action).observe(
                (time.perf_counter_ns() - started) / 1e9)
        except Exception as exc:
            self.failed("venue_call", exc)

    def feed_health(self, health: FeedHealth) -> None:
        """A feed's health report: lag, reconnects and gaps since the last one, state."""
        try:
            labels = self.run, health.venue, health.symbol, health.stream
            key = health.venue, health.symbol, health.stream
            reconnects, gaps, state = self._health.get(key, (0, 0, ""))
            if health.last_message_age_ns >= 0:
                self._child(self.m.feed_lag, *labels).set(health.last_message_age_ns / 1e9)
            if health.reconnects > reconnects:
                self._child(self.m.reconnects, *labels).inc(health.reconnects - reconnects)
            if health.gaps > gaps:
                self._child(self.m.gaps, *labels).inc(health.gaps - gaps)
            now = health.state.value
            if now != state:
                if state:
                    self._child(self.m.feed_state, *labels, state).set(0)
                self._child(self.m.feed_state, *labels, now).set(1)
            self._health[key] = (max(reconnects, health.reconnects), max(gaps, health.gaps),
                                 now)
        except Exception as exc:
            self.failed("feed_health", exc)

    # -- sampled in the node's loop ------------------------------------------------------
    def refresh(self) -> None:
        """Equity, drawdown, exposure and trading state from the node as it is now."""
        try:
            self._refresh_account()
            self._refresh_state()
            self._refresh_sinks()
            self._refresh_router()
        except Exception as exc:
            self.failed("refresh", exc)

    def _refresh_account(self) -> None:
        node = self.node
        if node is None:
            return
        pf = node.portfolio
        gross = net = 0.0
        for iid, pos in pf.positions.items():
            mark = pf.marks.get(iid)
            if pos.qty and mark is not None:
                inst = pos.instrument
                value = inst.notional_raw(mark, pos.qty) / 10 ** inst.notional_precision
                gross += abs(value)
                net += value
        if any(p.qty and iid not in pf.marks for iid, p in pf.positions.items()):
            return  # a position without a mark yet (a restart): no honest equity
        equity = pf.equity() / 10 ** pf.money_precision
        self._peak = equity if self._peak is None else max(self._peak, equity)
        run = self.run
        self.m.equity.labels(run).set(equity)
        self.m.peak.labels(run).set(self._peak)
        self.m.drawdown.labels(run).set(1 - equity / self._peak if self._peak > 0 else 0.0)
        self.m.gross.labels(run).set(gross)
        self.m.net.labels(run).set(net)

    def _refresh_state(self) -> None:
        """The state machine's state (:mod:`heron.risk.state`, where the node has one)
        and what it allows (the router's :class:`~heron.execution.router.TradingState`)."""
        node = self.node
        allows = getattr(node, "trading_state", None)
        machine = getattr(node, "machine", None)
        state = getattr(machine, "state", allows)
        for family, value in ((self.m.trading_state, state), (self.m.trading_mode, allows)):
            if value is None:
                continue
            for member in type(value):
                self._child(family, self.run, str(member.value)).set(
                    1 if member is value else 0)

    def _refresh_router(self) -> None:
        """The routers' decision counts into ``heron_router_decisions_total``."""
        if self.node is None:
            return
        for key, count in _router_counts(self.node):
            self._count_up(self.m.router, self._routed, key, count)

    def _refresh_sinks(self) -> None:
        """Log-sink failures (counted by :mod:`heron.observe.logs`) into the errors."""
        for where, count in _sink_errors().items():
            self._count_up(self.m.errors, self._errors_before, (where,), count)

    def _count_up(self, family: Counter, seen: dict[tuple[str, ...], int],
                  key: tuple[str, ...], count: int) -> None:
        """Add to ``family{run, *key}`` what ``count``, a running total kept elsewhere,
        gained since ``seen`` last noted it."""
        before = seen.get(key, 0)
        if count > before:
            self._child(family, self.run, *key).inc(count - before)
            seen[key] = count


def _router_counts(node: SimNode) -> Iterator[tuple[tuple[str, str, str], int]]:
    """``((instrument, action, reason), count)`` of every router of ``node``: the routers
    count each decision as they plan (off the order path); the metric reads them here."""
    for iid, router in node.targets.routers.items():
        for (action, reason), count in router.counters.counts.items():
            yield (iid, str(action), str(reason)), count


def _sink_errors() -> dict[str, int]:
    from heron.observe.logs import SINK_ERRORS  # logs imports the model only: no cycle

    return dict(SINK_ERRORS)


__all__ = ["STATUS", "NodeMetrics"]
