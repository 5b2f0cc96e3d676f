"""Structured logs: every line with the run, strategy, instrument and order it is about.

heron logs through the standard :mod:`logging` module everywhere (venue clients, the
execution, reconciliation); :func:`configure_logging` renders those records with
structlog, as JSON lines (``--log-json``: one object a line, for a log shipper) or as
readable ``key=value`` lines on a console. Fields every line gets:

* ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` (the message);
* ``run``, ``strategy``, ``venue``, bound once by :func:`bind_run` when the run starts,
  and ``instrument`` for a one-instrument run, bound by :func:`bind_instruments` -- both
  contextvars, so every asyncio task the run starts afterwards inherits them;
* ``client_order_id`` and ``instrument`` of the order being worked, bound by
  :class:`OrderLog` when a strategy sends a command: the live execution's task for that
  order is created right after, inherits them, and so every line about the order's
  placement, retries and lookups names it. The next market event clears them on the
  main path (:func:`end_order_context`), so a later line never names a stale order. The
  binding belongs to the context that made it (a contextvar, as is the flag that says
  one is there): work that journals commands outside a market event (reconciliation, a
  manual command) runs in a copy of the context, and a run ends the binding before it
  starts its tasks, so neither the feed nor the run's workers inherit an old order.

Secrets: log records already pass heron's redaction (the record factory installed by
:func:`heron.venues.credentials.install_redaction`); the rendered line is scrubbed once
more with the same registry, which also covers bound fields and ``extra`` values.

A sink that fails (stderr closed, disk full) never raises into the run: the failure is
counted in :data:`SINK_ERRORS` and served as ``heron_observe_errors_total{where=
"log_sink"}`` by the run's metrics.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TextIO

import structlog
from structlog.contextvars import bind_contextvars, unbind_contextvars

from heron.model.events import AmendOrder, CancelOrder, OrderEvent, SubmitOrder
from heron.venues.credentials import scrub

if TYPE_CHECKING:
    from heron.model.instrument import Instrument
    from heron.node.node import SimNode

#: failures of the log sink and of the order log, by place (read by the metrics)
SINK_ERRORS: collections.Counter[str] = collections.Counter()
_ORDER_FIELDS = ("client_order_id", "instrument")
#: whether this context has an order bound: per context, so each task (and the feed's
#: callback) ends only what it bound, and a copy's binding never reaches its parent
_ORDER_BOUND: ContextVar[bool] = ContextVar("heron_order_bound", default=False)
_run_instrument: str | None = None  # a one-instrument run's, restored after an order
log = logging.getLogger("heron.orders")


class SafeStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler whose failures are counted, never raised nor printed (the place
    it would print to is the one that failed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            SINK_ERRORS["log_sink"] += 1


def _scrubbed(_: Any, __: str, line: Any) -> Any:
    """The rendered line without registered secrets (the last processor)."""
    return scrub(line) if isinstance(line, str) else line


def configure_logging(*, json: bool, stream: TextIO | None = None,
                      level: int | None = None) -> logging.Handler:
    """Render every log record through structlog to ``stream`` (stderr by default).

    JSON lines log at INFO (orders, run start and stop: what an operator ships and
    searches); the console logs at WARNING, under the status line. Idempotent: a
    second call replaces the handler the first installed.
    """
    out = stream if stream is not None else sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True)]
    renderer: Any = (structlog.processors.JSONRenderer() if json else
                     structlog.dev.ConsoleRenderer(colors=_is_tty(out)))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info, renderer, _scrubbed])
    handler = SafeStreamHandler(out)
    handler.setFormatter(formatter)
    handler.set_name("heron")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "heron"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level is not None else logging.INFO if json else logging.WARNING)
    return handler


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def bind_run(*, run: str, strategy: str, venue: str) -> None:
    """Fields of every line the run writes from now on (and its tasks write)."""
    bind_contextvars(run=run, strategy=strategy, venue=venue)


def end_order_context() -> None:
    """Forget the order bound by the last command (called per market event: a flag
    check unless a command was sent since the last one)."""
    if _ORDER_BOUND.get():
        _ORDER_BOUND.set(False)
        unbind_contextvars(*_ORDER_FIELDS)
        if _run_instrument is not None:
            bind_contextvars(instrument=_run_instrument)


class OrderLog:
    """Binds the order a command is about; logs each order event at INFO (one line per
    event: the order's story in the logs, beside the journal's).

    The lines are written off the order's path. A command is journaled (and so seen
    here) before its request is sent, and a rendered JSON line costs tens of
    microseconds: more than the rest of heron's path to the venue. Inside a running
    event loop (paper, live) each line is handed to the loop and written as soon as the
    strategy's call has returned, in the order the records came and in the context bound
    when each was seen; without a loop (a backtest) it is written at once. The binding
    itself stays immediate, so every line logged during the call names the order."""

    def __init__(self) -> None:
        self.enabled = log.isEnabledFor(logging.INFO)

    def observe(self, record: Any) -> None:
        try:
            if isinstance(record, SubmitOrder | CancelOrder | AmendOrder):
                _ORDER_BOUND.set(True)
                bind_contextvars(client_order_id=record.client_order_id,
                                 instrument=record.instrument_id)
                if self.enabled:
                    _later(record)
            elif self.enabled and isinstance(record, OrderEvent):
                _later(record)
        except Exception:
            SINK_ERRORS["order_log"] += 1


def _later(record: Any) -> None:
    """Write ``record``'s line once the running loop gets to it (records are frozen), or
    now when no loop runs."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _line(record)
        return
    loop.call_soon(_line, record)  # copies the context: the bound order goes with it


def _line(record: Any) -> None:
    try:
        log.info("%s", type(record).__name__, extra=_fields(record))
    except Exception:
        SINK_ERRORS["order_log"] += 1


def _fields(record: Any) -> dict[str, Any]:
    """What a line about ``record`` carries beyond the bound context."""
    fields: dict[str, Any] = {"client_order_id": record.client_order_id,
                              "instrument": record.instrument_id}
    for name in ("strategy_id", "side", "quantity", "price", "reason", "rule", "last_qty",
                 "last_px", "trade_id", "venue_order_id"):
        value = getattr(record, name, None)
        if value is not None and value != "":
            fields["strategy" if name == "strategy_id" else name] = (
                value.value if hasattr(value, "value") else value)
    return fields


def bind_instruments(instruments: list[Instrument]) -> None:
    """A one-instrument run's lines all name the instrument (from now on)."""
    global _run_instrument  # noqa: PLW0603  -- one run per process
    _run_instrument = instruments[0].id if len(instruments) == 1 else None
    if _run_instrument is not None:
        bind_contextvars(instrument=_run_instrument)


def watch_orders(node: SimNode) -> OrderLog:
    """Subscribe an :class:`OrderLog` to ``node``'s records (and bind its instrument)."""
    from heron.node.node import RECORDS

    bind_instruments(node.instruments)
    order_log = OrderLog()
    node.bus.subscribe(RECORDS, order_log.observe)
    return order_log


__all__ = ["SINK_ERRORS", "OrderLog", "SafeStreamHandler", "bind_instruments", "bind_run",
           "configure_logging",
           "end_order_context", "watch_orders"]
