"""Feed health: what a live market-data connection reports to the kernel about itself.

A feed that dies quietly is the worst failure a paper or live run can have: the
strategy keeps waiting for data that never comes. So every feed reports its state as
events, on a timer and on every change, and whoever runs it (the trading-state machine,
the status line, ``heron feed``) decides what to do about it.
"""

from __future__ import annotations

import enum

import msgspec


class FeedState(enum.StrEnum):
    """Where one subscription (a stream of one symbol on one venue) stands."""

    CONNECTING = "connecting"      # dialling or subscribing; no data yet
    LIVE = "live"                  # data arriving
    STALE = "stale"                # no data for longer than allowed: being reconnected
    RECONNECTING = "reconnecting"  # the connection dropped: waiting out the backoff
    RESYNCING = "resyncing"        # the book missed updates: waiting for a new snapshot
    STOPPED = "stopped"            # closed on purpose


class FeedHealth(msgspec.Struct, frozen=True, kw_only=True):
    """One subscription's health at ``ts`` (ns). Counters run from the feed's start.

    ``last_message_age_ns`` is ``-1`` before the first message. ``reason`` says why the
    state changed (the error text of a dropped connection, the gap that forced a resync).
    """

    ts: int
    venue: str
    symbol: str
    stream: str
    state: FeedState
    last_message_age_ns: int
    messages: int
    reconnects: int
    gaps: int
    parse_errors: int
    reason: str = ""
