"""Orders over the API: listed from journals with filters and pages (one run, all runs);
placed, refused and canceled by hand on a paper run through its risk engine, live."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.conftest import Home, SseEvent, api_client, error_code, served, sse_events
from conftest import SHARED_VENUES, need
from heron.node.replay import replay_journal
from managed_runs import stop_runs, wait_status

pytestmark = pytest.mark.anyio


async def _pages(http: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await http.get(path, params=params | ({"cursor": cursor} if cursor else {}))
                ).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_a_runs_orders_filter_and_page(home: Home) -> None:
    location, journal_run = home.manager.journal_location(home.month)
    orders = replay_journal(location, run_id=journal_run).orders.orders
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.month}/orders"
        everything = await _pages(http, base, limit=33)
        assert [o["client_order_id"] for o in everything] == list(orders)
        first = everything[0]
        order = orders[first["client_order_id"]]
        assert first["status"] == order.status.value == "filled"
        assert Decimal(first["quantity"]) > 0 and first["run_id"] == home.month
        assert Decimal(first["avg_price"]) > 0 and first["ts_closed"] >= first["ts_init"]
        filled = await _pages(http, base, status="filled", limit=1000)
        assert {o["status"] for o in filled} == {"filled"}
        assert (await http.get(base, params={"status": "open"})).json()["items"] == []
        closed = await _pages(http, base, status="closed", limit=1000)
        assert len(closed) == len(everything)
        symbol = await _pages(http, base, symbol=first["symbol"], limit=1000)
        assert len(symbol) == len(everything)
        by_id = await _pages(http, base, symbol=first["instrument_id"], limit=1000)
        assert len(by_id) == len(everything)
        assert await _pages(http, base, symbol="ETH-PERP") == []
        middle = everything[len(everything) // 2]["ts_init"]
        since = await _pages(http, base, since=middle, limit=1000)
        until = await _pages(http, base, until=middle - 1, limit=1000)
        assert len(since) + len(until) == len(everything)
        assert all(o["ts_init"] >= middle for o in since)
        assert (await http.get(base, params={"status": "lost"})).status_code == 422
        assert (await http.get(base, params={"since": -1})).status_code == 422


async def test_a_runs_orders_newest_first_and_the_open_ones_whatever_their_age(
        home: Home) -> None:
    location, journal_run = home.manager.journal_location(home.month)
    orders = list(replay_journal(location, run_id=journal_run).orders.orders)
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.month}/orders"
        newest = await _pages(http, base, limit=33, newest_first=True)
        assert [o["client_order_id"] for o in newest] == orders[::-1]
        page = (await http.get(base, params={"newest_first": True, "limit": 3})).json()
        assert page["total"] == len(orders)
        assert [o["client_order_id"] for o in page["items"]] == orders[:-4:-1]
        filled = await _pages(http, base, status="filled", newest_first=True, limit=7)
        assert [o["client_order_id"] for o in filled] == [
            o["client_order_id"] for o in (await _pages(http, base, status="filled",
                                                          limit=1000))][::-1]
        assert (await http.get(base, params={"status": "filled"})).json()["total"] is None
        assert (await http.get(base, params={"status": "open"})).json()["total"] == 0


async def test_orders_across_runs_page_run_by_run(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        across = await _pages(http, "/api/orders", limit=50)
        runs = [r["run_id"] for r in (await http.get("/api/runs", params={"limit": 1000})
                                      ).json()["items"]]
        expected: list[tuple[str, str]] = []
        for run_id in runs:
            mine = await _pages(http, f"/api/runs/{run_id}/orders", limit=1000)
            expected += [(run_id, o["client_order_id"]) for o in mine]
        assert [(o["run_id"], o["client_order_id"]) for o in across] == expected
        one = await _pages(http, "/api/orders", run=home.tiny)
        assert {o["run_id"] for o in one} == {home.tiny} and one
        assert (await http.get("/api/orders", params={"run": "bt-x"})).status_code == 404
        bad = await http.get("/api/orders", params={"cursor": "bm9wZS8x"})  # "nope/1"
        assert bad.status_code == 400


async def test_orders_go_only_to_running_paper_and_live_runs(home: Home) -> None:
    order = {"symbol": "BTC-PERP", "side": "buy", "type": "limit", "quantity": "0.01",
             "price": "100"}
    async with api_client(home.settings(), home.manager) as http:
        backtest = await http.post(f"/api/runs/{home.month}/orders", json=order)
        assert backtest.status_code == 409 and "backtest" in backtest.text
        idle = await http.post(f"/api/runs/{home.paper}/orders", json=order)
        assert idle.status_code == 409 and "not running" in idle.text
        cancel = await http.delete(f"/api/runs/{home.month}/orders/H-smacross-1")
        assert cancel.status_code == 409 and error_code(cancel) == "conflict"
        for bad in ({**order, "side": "up"}, {**order, "quantity": "abc"},
                    {**order, "quantity": "-1"}, {**order, "type": "iceberg"},
                    {**order, "leverage": 5}, {"side": "buy"}):
            answer = await http.post(f"/api/runs/{home.paper}/orders", json=bad)
            assert answer.status_code == 422 and error_code(answer) == "invalid", bad
        missing = await http.post("/api/runs/pp-19990101-000000-0000/orders", json=order)
        assert missing.status_code == 404


async def _watch(url: str, run_id: str, into: list[SseEvent]) -> None:
    async with httpx.AsyncClient(timeout=None) as http, http.stream(
            "GET", f"{url}/api/runs/{run_id}/stream") as response:
        async for event in sse_events(response):
            into.append(event)


def _states(events: list[SseEvent]) -> list[str]:
    return [e.json()["record"]["to_state"] for e in events
            if e.event == "record" and e.json()["type"] == "TradingStateChanged"]


@pytest.mark.slow
async def test_a_paper_run_takes_manual_orders_kill_and_resume_live(home: Home) -> None:
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile

    venue = need(SHARED_VENUES / "binance_usdm")
    events: list[SseEvent] = []
    with VenueServer(BinanceUsdmProfile.recorded(venue), speed=5) as server, \
            served(home.settings(), home.manager) as url:
        config = (f'strategy = "sma_cross"\nvenue = "binanceusdm"\nsymbol = "BTC/USDT:USDT"\n'
                  f'endpoint = "{server.url}"\nbar = "1s"\nduration = 120\n'
                  '[params]\nfast = 2\nslow = 3\nfraction = "0.1"\n')
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            run = (await http.post("/api/runs", json={"kind": "paper", "config": config})
                   ).json()
            run_id = run["run_id"]
            watcher = asyncio.get_running_loop().create_task(_watch(url, run_id, events))
            try:
                await _trade_by_hand(http, run_id, events)
                stopped = await asyncio.to_thread(wait_status, home.manager, run_id)
                assert stopped.status == "stopped", stopped.error
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                stop_runs(home.manager)
    assert any(e.event == "status" and e.json()["run_id"] == run_id for e in events)
    assert any(e.event == "run" and e.json()["status"] == "stopping" for e in events)
    seqs = [int(e.id or 0) for e in events if e.event == "record"]
    assert seqs == list(range(1, len(seqs) + 1))  # from seq 1, no gap, no duplicate


async def _until(what: str, check: Any, limit_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.1)


async def _trade_by_hand(http: httpx.AsyncClient, run_id: str,
                         events: list[SseEvent]) -> None:
    async def ready() -> bool:
        status = await http.get(f"/api/runs/{run_id}/status")
        return status.status_code == 200 and status.json()["trading_state"] == "READY"

    await _until("the paper run to be READY", ready)
    summary = (await http.get(f"/api/runs/{run_id}")).json()["summary"]
    assert summary["trading_state"] == "READY" and Decimal(summary["equity"]) > 0
    assert isinstance(summary["feeds"], list) and Decimal(summary["exposure"]) >= 0
    order = {"symbol": "BTCUSDT", "side": "buy", "type": "limit", "quantity": "0.002",
             "price": "10000"}
    placed = await http.post(f"/api/runs/{run_id}/orders", json=order)
    assert placed.status_code == 201, placed.text
    coid = placed.json()["client_order_id"]
    assert placed.json()["ok"] is True and coid
    off_grid = await http.post(f"/api/runs/{run_id}/orders",
                               json={**order, "price": "10000.0001"})
    assert off_grid.status_code == 422 and off_grid.json()["error"]["details"]["rule"] == "price"

    async def resting() -> bool:
        found = (await http.get(f"/api/runs/{run_id}/orders", params={"status": "open"})
                 ).json()["items"]
        return any(o["client_order_id"] == coid for o in found)

    await _until("the order to rest", resting)
    canceled = await http.delete(f"/api/runs/{run_id}/orders/{coid}")
    assert canceled.status_code == 200 and canceled.json()["ok"] is True, canceled.text
    unknown = await http.delete(f"/api/runs/{run_id}/orders/no-such-order")
    assert unknown.status_code == 404
    killed = await http.post(f"/api/runs/{run_id}/kill", json={"reason": "api test"})
    assert killed.status_code == 200 and killed.json()["status"] == "running"
    await _until("HALTED on the stream", _async(lambda: "HALTED" in _states(events)))
    denied = await http.post(f"/api/runs/{run_id}/orders", json=order)
    assert denied.status_code == 422, denied.text
    assert denied.json()["error"]["details"]["rule"] == "trading_state"
    resumed = await http.post(f"/api/runs/{run_id}/resume", json={"reason": "all clear"})
    assert resumed.status_code == 200
    await _until("READY again", _async(lambda: _states(events)[-1:] == ["READY"]))
    await _until("a status event", _async(lambda: any(e.event == "status" for e in events)))
    assert (await http.post(f"/api/runs/{run_id}/stop")).json()["status"] == "stopping"
    await _until("the run event", _async(lambda: any(e.event == "run" for e in events)))


def _async(check: Any) -> Any:
    async def run() -> bool:
        return bool(check())

    return run
