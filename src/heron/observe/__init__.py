"""Observability: Prometheus metrics of a run, the ``/metrics`` endpoint, structured logs.

Everything here watches a run from the side. Metrics are fed by the node's record bus
(every journaled command and event) and by a few cheap hooks (a market event reaching
the engine, a feed's health report, a command reaching the venue client); nothing
polls the trading path. A metric or log sink that fails is counted and reported once,
and the run goes on: observing trading must never stop it.
"""

from __future__ import annotations

from heron.observe.metrics import NodeMetrics

__all__ = ["NodeMetrics"]
