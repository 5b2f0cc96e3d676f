"""Each trigger in backtest (bundled 1-minute BTC bars), paper (the bundled real trades,
one by one, as a feed delivers them) and live (the loopback Binance USD-M exchange).

One scenario strategy behaves the same in every mode; the ``[state]`` limits pick the
trigger. What must hold everywhere: the journal shows the transition with its trigger,
and from the first restriction on no strategy order that could increase exposure goes
out (every fill after it shrinks ``|position|``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import heron
from conftest import BTC_GRID, loopback_exchange
from heron.data.feeds.session import FeedOptions
from heron.model.book import LinkedSequence
from heron.model.data import Bar, Trade
from heron.model.events import OrderDenied, OrderFilled, SubmitOrder, TradingStateChanged
from heron.model.feed import FeedHealth, FeedState
from heron.node.live_run import LiveConfig, LiveState, run_live
from heron.node.node import SimNode
from heron.node.paper import PaperEngine
from heron.risk.kill import RISK_ORIGIN
from heron.risk.triggers import StateLimits
from heron.strategy.base import Strategy
from heron.strategy.params import Param
from heron.venues.binance.orders import BinanceUsdmDialect
from heron.venues.ccxt.client import CcxtClient
from heron.venues.credentials import Credentials
from heron.venues.sim.config import SimVenueConfig

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
SECOND = 1_000_000_000
LIMITS: dict[str, StateLimits] = {}   # by scenario name: set on the engine at start


class Scenario(Strategy):
    """``hold``: buy once, then keep trying to buy more; ``churn``: in and out every
    other bar (round trips that lose their fees); ``reject``: reduce-only sells while
    flat, which the venue rejects."""

    name = "state_scenario"
    mode: str = Param("hold")
    size: str = Param("0.5")
    limits: str = Param("")
    every: int = Param(5)

    def on_start(self) -> None:
        self.bars = 0
        limits = LIMITS.get(self.limits)
        if limits is not None:  # the node this strategy runs on (any mode)
            self.ctx.send.__self__.use_state_limits(limits)  # type: ignore[attr-defined]

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        size = Decimal(self.size)
        if self.mode == "reject":
            if self.bars <= 6:
                self.sell(size=size, reduce_only=True)
        elif self.mode == "churn":
            if self.bars % 2 == 0:
                if self.position.is_flat:
                    self.buy(size=size)
                else:
                    self.close_position()
        elif self.bars == 2 or self.bars % self.every == 0:
            self.buy(size=size)


def transitions(records: list[Any]) -> list[tuple[str, str, str]]:
    return [(r.from_state, r.to_state, r.trigger) for r in records
            if isinstance(r, TradingStateChanged)]


def assert_no_new_risk_after_restriction(records: list[Any]) -> int:
    """From the first restriction: |position| only shrinks, and every strategy order is
    denied or a reduce-only close. Returns the journal index of the restriction."""
    first = next(i for i, r in enumerate(records) if isinstance(r, TradingStateChanged)
                 and r.to_state not in ("READY", "INIT"))
    position = 0
    denied = {r.client_order_id for r in records if isinstance(r, OrderDenied)}
    for i, record in enumerate(records):
        if isinstance(record, OrderFilled):
            before = position
            position += record.last_qty * record.side.sign
            assert i < first or abs(position) < abs(before), record
        if i > first and isinstance(record, SubmitOrder) and record.strategy_id != RISK_ORIGIN:
            assert record.client_order_id in denied or record.reduce_only, record
    return first


CASES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    # (case, mode, [state] limits, the state path after INIT -> READY)
    ("soft_drawdown", "hold", {"soft_drawdown": "0.0001", "check_every_s": 1}, ["DEGRADED"]),
    ("hard_drawdown", "hold", {"hard_drawdown": "0.0001", "check_every_s": 1},
     ["REDUCING", "HALTED"]),
    ("daily_loss", "hold", {"daily_loss": "1", "check_every_s": 1}, ["REDUCING", "HALTED"]),
    ("losing_streak", "churn", {"losing_streak": 1}, ["DEGRADED"]),
    ("venue_errors", "reject", {"venue_errors": 3, "venue_error_window_s": 600}, ["DEGRADED"]),
]


def _check(records: list[Any], trigger: str, path: list[str]) -> None:
    moves = transitions(records)
    assert moves[0] == ("INIT", "READY", "start")
    assert [to for _, to, _ in moves[1:]] == path, moves
    assert moves[1][2] == trigger
    if path[-1] == "HALTED" and path[0] == "REDUCING":
        assert moves[-1][2] == "flat"
        assert any(isinstance(r, SubmitOrder) and r.strategy_id == RISK_ORIGIN
                   and r.reduce_only for r in records)
    assert_no_new_risk_after_restriction(records)


def _backtest(mode: str, limits: dict[str, Any], name: str) -> SimNode:
    LIMITS[name] = StateLimits(**limits)
    result = heron.backtest(DATA, strategy=Scenario, params={
        "mode": mode, "limits": name, "size": "0.2", "every": 5000}, kind="perp",
        leverage="5")
    return result.engine


@pytest.mark.parametrize(("case", "mode", "limits", "path"), CASES, ids=[c[0] for c in CASES])
def test_each_trigger_in_a_backtest(case: str, mode: str, limits: dict[str, Any],
                                    path: list[str]) -> None:
    engine = _backtest(mode, limits, f"bt-{case}")
    _check(engine.journal.records, case, path)
    if path[-1] == "HALTED":
        assert all(p.qty == 0 for p in engine.portfolio.positions.values())
        assert not engine.om.open_orders


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / SECOND, dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("flatten", [False, True])
def test_the_configured_kill_switch_in_a_backtest(flatten: bool) -> None:
    kill_at = 1_640_995_200 * SECOND + 3 * 86_400 * SECOND  # 2022-01-03 UTC
    engine = _backtest("hold", {"kill_at": _iso(kill_at), "kill_flatten": flatten},
                       f"bt-kill-{flatten}")
    records = engine.journal.records
    moves = transitions(records)
    assert moves[1] == ("READY", "REDUCING" if flatten else "HALTED", "manual")
    killed = next(r for r in records if isinstance(r, TradingStateChanged)
                  and r.trigger == "manual")
    assert killed.ts_event == kill_at
    assert json.loads(killed.evidence) == {"actor": "config", "flatten": str(flatten).lower()}
    assert_no_new_risk_after_restriction(records)
    flat = all(p.qty == 0 for p in engine.portfolio.positions.values())
    assert flat is flatten  # halting keeps the position; flattening closes it
    assert moves[-1][1] == "HALTED"


# -- paper: the bundled trades, one by one ------------------------------------------------------
def _paper(mode: str, limits: dict[str, Any], name: str) -> PaperEngine:
    LIMITS[name] = StateLimits(**limits)
    engine = PaperEngine(
        instruments=[BTC_GRID], strategies=[Scenario(mode=mode, limits=name, size="0.5")],
        cash=Decimal(100_000), venue=SimVenueConfig(fee_rate=Decimal("0.001")),
        journal_path=None, bar_ns=SECOND, book_streams=set(), quote_streams=set(),
        book_rules={BTC_GRID.id: LinkedSequence()}, header={})
    engine.start()
    return engine


def _feed(engine: PaperEngine, frame: pl.DataFrame) -> None:
    for r in frame.iter_rows(named=True):
        trade = Trade(BTC_GRID, r["ts_event"], r["ts_recv"], r["price"], r["size"],
                      "buy" if r["aggressor"] == 1 else "sell", r["trade_id"])
        if engine.is_new(trade):
            engine.consume(trade)


@pytest.mark.parametrize(("case", "mode", "limits", "path"), CASES, ids=[c[0] for c in CASES])
def test_each_trigger_in_paper(btc_trades: pl.DataFrame, case: str, mode: str,
                               limits: dict[str, Any], path: list[str]) -> None:
    engine = _paper(mode, limits, f"paper-{case}")
    _feed(engine, btc_trades)
    _check(engine.journal.records, case, path)


def test_the_configured_kill_switch_in_paper(btc_trades: pl.DataFrame) -> None:
    at = int(btc_trades["ts_event"][1000])
    engine = _paper("hold", {"kill_at": _iso(at)}, "paper-kill")
    _feed(engine, btc_trades)
    records = engine.journal.records
    assert transitions(records)[1] == ("READY", "HALTED", "manual")
    assert_no_new_risk_after_restriction(records)


def _health(state: FeedState) -> FeedHealth:
    return FeedHealth(ts=1, venue="binance", symbol="BTC/USDT", stream="trades", state=state,
                      last_message_age_ns=5 * SECOND, messages=10, reconnects=1, gaps=0,
                      parse_errors=0, reason="no data for 5 s")


def test_a_stale_feed_degrades_a_paper_node_until_it_is_live_again(
        btc_trades: pl.DataFrame) -> None:
    engine = _paper("hold", {}, "paper-feed")
    _feed(engine, btc_trades.head(300))
    engine.feed_health(_health(FeedState.STALE))
    _feed(engine, btc_trades.slice(300, 600))
    engine.feed_health(_health(FeedState.LIVE))
    _feed(engine, btc_trades.slice(900))
    records = engine.journal.records
    assert transitions(records)[1:] == [("READY", "DEGRADED", "feed"),
                                        ("DEGRADED", "READY", "recovered")]
    change = next(r for r in records if isinstance(r, TradingStateChanged)
                  and r.trigger == "feed")
    assert json.loads(change.evidence)["state"] == "stale"
    back = records.index(next(r for r in records if isinstance(r, TradingStateChanged)
                              and r.trigger == "recovered"))
    denied = [r for r in records[records.index(change):back] if isinstance(r, OrderDenied)]
    assert denied, "the strategy's buys while degraded are denied"
    assert any(isinstance(r, OrderFilled) for r in records[back:])  # trading again



def _book(state: FeedState, gaps: int = 0) -> FeedHealth:
    return FeedHealth(ts=1, venue="binance", symbol="BTC/USDT", stream="book", state=state,
                      last_message_age_ns=0, messages=10, reconnects=0, gaps=gaps,
                      parse_errors=0, reason="")


def test_a_book_waiting_for_its_first_snapshot_is_starting_not_degraded(
        btc_trades: pl.DataFrame) -> None:
    engine = _paper("hold", {}, "paper-book-start")
    _feed(engine, btc_trades.head(100))
    for state in (FeedState.LIVE, FeedState.RESYNCING, FeedState.LIVE):  # a start
        engine.feed_health(_book(state))
    assert transitions(engine.journal.records)[1:] == []
    engine.feed_health(_book(FeedState.RESYNCING))  # synced once: now a resync degrades
    engine.feed_health(_book(FeedState.LIVE))
    fresh = _paper("hold", {}, "paper-book-gap")
    _feed(fresh, btc_trades.head(100))
    fresh.feed_health(_book(FeedState.RESYNCING, gaps=1))  # a gap before any sync
    assert transitions(engine.journal.records)[1:] == [("READY", "DEGRADED", "feed"),
                                                       ("DEGRADED", "READY", "recovered")]
    assert transitions(fresh.journal.records)[1:] == [("READY", "DEGRADED", "feed")]

# -- live: the loopback exchange ------------------------------------------------------------------
KEY, SECRET = "state-key", "state-secret"
KILL: list[str] = []


class KillAfter(Strategy):
    """Buys 0.002 after 50 trades, then (after 150) tries to buy every 20 trades; the
    test's kill switch fires through ``engine.kill`` (the API hook) at trade 120."""

    name = "kill_after"

    def on_start(self) -> None:
        self.seen = 0
        limits = LIMITS.get("live")
        if limits is not None:
            self.ctx.send.__self__.use_state_limits(limits)  # type: ignore[attr-defined]

    def on_trade(self, trade: Trade) -> None:
        self.seen += 1
        if self.seen == 50:
            self.buy(size=Decimal("0.002"))
        elif self.seen == 120 and KILL:
            self.ctx.send.__self__.kill(  # type: ignore[attr-defined]
                flatten=KILL[0] == "flatten", reason="test kill", actor="test")
        elif self.seen > 150 and self.seen % 20 == 0:
            self.buy(size=Decimal("0.002"))


def _live(tmp_path: Path, *, kill: str = "", limits: dict[str, Any] | None = None,
          scenario: dict[str, Any] | None = None, lines: int | None = None,
          stale_s: float = 10, duration_s: float = 30,
          before: Callable[[Any], None] | None = None) -> tuple[Any, int]:
    """A live run on the loopback exchange: ``KillAfter`` (``kill``, ``limits``), or the
    ``Scenario`` strategy with ``scenario`` as its parameters; ``lines`` of the capture
    (``None``: all), then the market stream is silent; ``before(server)`` runs first."""
    KILL[:] = [kill] if kill else []
    LIMITS.pop("live", None)
    if limits is not None:
        LIMITS["live"] = StateLimits(**limits)
    strategy = "Scenario" if scenario else "KillAfter"
    cfg = LiveConfig(strategy=f"{__name__}:{strategy}", venue="binanceusdm",
                     symbols=["BTC/USDT:USDT"], streams=["trades"], bar="1s",
                     params=scenario or {})
    with loopback_exchange(KEY, SECRET, speed=20, lines=lines) as server:
        if before is not None:
            before(server)
        client = CcxtClient(BinanceUsdmDialect(), Credentials(
            "binanceusdm", "test", api_key=KEY, api_secret=SECRET), ["BTC/USDT:USDT"],
            endpoint=server.url)
        state = LiveState(tmp_path / "state")
        status = asyncio.run(run_live(cfg, state, client, endpoint=server.url, stop_after=400,
                                      duration_s=duration_s,
                                      options=FeedOptions(stale_after_s=stale_s)))
        state.close()
        position = server.call(lambda: server.account.inst.quantity(sum(
            p.qty for p in server.account.portfolio.positions.values())))
    return status.engine, position


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["halt", "flatten"])
def test_the_kill_hook_in_a_live_run(tmp_path: Path, kill: str) -> None:
    engine, venue_position = _live(tmp_path, kill=kill)
    records = engine.journal.records
    moves = transitions(records)
    if kill == "halt":
        assert moves[1:] == [("READY", "HALTED", "manual")]
        assert venue_position == Decimal("0.002")   # halting is not flattening
    else:
        assert moves[1:] == [("READY", "REDUCING", "manual"), ("REDUCING", "HALTED", "flat")]
        assert venue_position == 0                   # flattened at the venue
    assert_no_new_risk_after_restriction(records)


@pytest.mark.slow
def test_hard_drawdown_flattens_a_live_run_at_the_venue(tmp_path: Path) -> None:
    engine, venue_position = _live(tmp_path, limits={"hard_drawdown": "0.000001",
                                                     "check_every_s": 1})
    moves = transitions(engine.journal.records)
    assert moves[1:] == [("READY", "REDUCING", "hard_drawdown"),
                         ("REDUCING", "HALTED", "flat")]
    assert venue_position == 0
    assert_no_new_risk_after_restriction(engine.journal.records)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "mode", "limits", "path"), CASES, ids=[c[0] for c in CASES])
def test_each_trigger_in_a_live_run(tmp_path: Path, case: str, mode: str,
                                    limits: dict[str, Any], path: list[str]) -> None:
    """The same scenarios on 1-second bars of the exchange's trades, orders at the venue."""
    engine, _ = _live(tmp_path, limits=limits, scenario={
        "mode": mode, "limits": "live", "size": "0.05", "every": "2"})
    _check(engine.journal.records, case, path)


@pytest.mark.slow
def test_a_stale_feed_degrades_a_live_run(tmp_path: Path) -> None:
    """The exchange's capture ends after 150 lines: the trade stream goes silent, the
    session calls it stale after 1 s and the run is DEGRADED (reduce-only)."""
    engine, _ = _live(tmp_path, lines=150, stale_s=1, duration_s=6, scenario={
        "mode": "hold", "size": "0.002", "every": "1000"})
    records = engine.journal.records
    moves = transitions(records)
    assert moves[1][1:] == ("DEGRADED", "feed"), moves
    change = next(r for r in records if isinstance(r, TradingStateChanged)
                  and r.trigger == "feed")
    assert json.loads(change.evidence)["state"] == "stale"


def _bought_by_hand(server: Any) -> None:
    """A position opened on the account outside heron, before the run starts (the
    exchange's book is seeded from the capture's first snapshot, so it fills)."""
    server.call(lambda: server.account.place({
        "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01",
        "newClientOrderId": "by-hand-position"}))


@pytest.mark.slow
def test_a_reconciliation_mismatch_keeps_a_live_run_reduce_only(tmp_path: Path) -> None:
    """The venue holds a position heron's journal does not explain (opened by hand before
    the run): the start-up reconciliation fires the ``reconcile`` trigger, and the
    strategy's buys are denied while it holds."""
    engine, position = _live(tmp_path, before=_bought_by_hand, duration_s=5, scenario={
        "mode": "hold", "size": "0.002", "every": "2"})
    records = engine.journal.records
    moves = transitions(records)
    assert moves[1][1:] == ("DEGRADED", "reconcile"), moves
    change = next(r for r in records if isinstance(r, TradingStateChanged)
                  and r.trigger == "reconcile")
    assert json.loads(change.evidence)["first"].startswith("position ")
    assert any(isinstance(r, OrderDenied) for r in records)   # the strategy's buys
    assert position == Decimal("0.01")                        # nothing added at the venue
    assert list((tmp_path / "state" / "reconcile").iterdir())  # the evidence is saved
