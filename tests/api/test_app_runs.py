"""Runs over the real app: list and page, create (and start), start, stop, kill, resume,
inspect; results, reports, status; strategies, data listings, health; the dashboard."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from api.conftest import Home, api_client, error_code
from heron.core.journal_store import JournalReader
from managed_runs import (
    REPO,
    backtest_config,
    child_pids,
    slow_config,
    wait_status,
    wait_until,
)

pytestmark = pytest.mark.anyio


async def test_runs_list_pages_newest_first_with_filters(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        everything = (await http.get("/api/runs", params={"limit": 1000})).json()
        ids = [r["run_id"] for r in everything["items"]]
        assert {home.month, home.tiny, home.created, home.paper} <= set(ids)
        paged: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await http.get("/api/runs", params=params)).json()
            paged += [r["run_id"] for r in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == ids
        papers = (await http.get("/api/runs", params={"kind": "paper"})).json()["items"]
        assert home.paper in [r["run_id"] for r in papers]
        assert {r["kind"] for r in papers} == {"paper"}
        done = (await http.get("/api/runs", params={"status": "finished"})).json()["items"]
        assert {r["status"] for r in done} == {"finished"}
        assert (await http.get("/api/runs", params={"status": "bogus"})).status_code == 422
        assert (await http.get("/api/runs", params={"limit": 0})).status_code == 422
        assert (await http.get("/api/runs", params={"limit": 1001})).status_code == 422
        bad = await http.get("/api/runs", params={"cursor": "%%%"})
        assert bad.status_code == 400 and error_code(bad) == "bad_request"


async def test_a_finished_backtest_has_its_summary_result_and_report(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        run = (await http.get(f"/api/runs/{home.month}")).json()
        assert run["status"] == "finished" and run["kind"] == "backtest"
        assert "sma_cross" in run["config"]
        result = (await http.get(f"/api/runs/{home.month}/result")).json()
        on_disk = json.loads((Path(run["directory"]) / "result.json").read_text())
        assert result == on_disk
        summary = run["summary"]
        assert Decimal(summary["equity"]) == Decimal(result["final_equity"])
        assert Decimal(summary["pnl"]) == Decimal(result["final_equity"]) - Decimal(
            result["starting_cash"])
        report = await http.get(f"/api/runs/{home.month}/report")
        assert report.status_code == 200 and report.headers["content-type"].startswith(
            "text/html") and b"<html" in report.content[:2000].lower()
        for path in ("result", "report"):
            missing = await http.get(f"/api/runs/{home.created}/{path}")
            assert missing.status_code == 404 and "no " in missing.json()["error"]["message"]
            paper = await http.get(f"/api/runs/{home.paper}/{path}")
            assert paper.status_code == 404 and "only backtests" in paper.text
        status = await http.get(f"/api/runs/{home.month}/status")
        assert status.status_code == 404 and error_code(status) == "not_found"
        status = await http.get(f"/api/runs/{home.paper}/status")
        assert status.status_code == 404 and "no status yet" in status.text


async def test_create_and_start_runs_a_backtest_to_the_end(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        made = await http.post("/api/runs", json={"kind": "backtest", "name": "api made",
                                                  "config": backtest_config()})
        assert made.status_code == 201, made.text
        run = made.json()
        assert run["status"] == "running" and run["name"] == "api made"
        done = wait_status(home.manager, run["run_id"])
        assert done.status == "finished", done.error
        got = (await http.get(f"/api/runs/{run['run_id']}")).json()
        assert got["status"] == "finished" and got["summary"]["equity"]
        location, journal_run = home.manager.journal_location(run["run_id"])
        count = JournalReader(location, journal_run).record_count
        events = (await http.get(f"/api/runs/{run['run_id']}/events",
                                 params={"limit": 1000})).json()["items"]
        assert [e["seq"] for e in events] == list(range(1, count + 1))


async def test_create_without_start_then_start_once(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        made = await http.post("/api/runs", json={"kind": "backtest", "start": False,
                                                  "config": backtest_config()})
        assert made.status_code == 201 and made.json()["status"] == "created"
        run_id = made.json()["run_id"]
        started = await http.post(f"/api/runs/{run_id}/start")
        assert started.status_code == 200 and started.json()["status"] == "running"
        again = await http.post(f"/api/runs/{run_id}/start")
        assert again.status_code == 409 and error_code(again) == "conflict"
        assert "already started" in again.json()["error"]["message"]
        wait_status(home.manager, run_id)


async def test_bad_run_configs_are_422_naming_the_problem(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        typo = await http.post("/api/runs", json={
            "kind": "backtest", "config": backtest_config() + 'fee_bsp = "4"\n'})
        assert typo.status_code == 422 and error_code(typo) == "invalid"
        bad_kind = await http.post("/api/runs", json={"kind": "futures", "config": ""})
        assert bad_kind.status_code == 422
        assert bad_kind.json()["error"]["details"]["errors"][0]["where"] == "kind"
        extra = await http.post("/api/runs", json={"kind": "backtest", "config": "",
                                                   "strat": True})
        assert extra.status_code == 422 and "strat" in extra.text
        wrong_type = await http.post("/api/runs", json={"kind": "backtest", "config": 5})
        assert wrong_type.status_code == 422
        not_toml = await http.post("/api/runs", json={"kind": "backtest",
                                                      "config": "data = [\n"})
        assert not_toml.status_code == 422


async def test_unknown_runs_are_404_on_every_run_route(home: Home) -> None:
    paths = ["", "/orders", "/fills", "/positions", "/balances", "/round-trips", "/equity",
             "/events", "/status", "/result", "/report"]
    async with api_client(home.settings(), home.manager) as http:
        for path in paths:
            answer = await http.get(f"/api/runs/bt-19990101-000000-0000{path}")
            assert answer.status_code == 404 and error_code(answer) == "not_found", path
        for path in ("start", "stop", "kill", "resume"):
            answer = await http.post(f"/api/runs/bt-19990101-000000-0000/{path}")
            assert answer.status_code == 404, path
        answer = await http.get("/api/runs/bad%20id")
        assert answer.status_code == 422


async def test_stop_and_kill_a_running_backtest(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        slow = slow_config(home.root, pause=600)
        first = (await http.post("/api/runs", json={"kind": "backtest", "config": slow})
                 ).json()
        _wait_running(first["pid"])
        stopping = await http.post(f"/api/runs/{first['run_id']}/stop")
        assert stopping.status_code == 200 and stopping.json()["status"] == "stopping"
        assert wait_status(home.manager, first["run_id"]).status == "stopped"
        second = (await http.post("/api/runs", json={"kind": "backtest", "config": slow})
                  ).json()
        _wait_running(second["pid"])
        killed = await http.post(f"/api/runs/{second['run_id']}/kill",
                                 json={"reason": "test"})
        assert killed.status_code == 200 and killed.json()["status"] == "stopping"
        assert wait_status(home.manager, second["run_id"]).status == "killed"
        for path in ("stop", "kill"):
            late = await http.post(f"/api/runs/{second['run_id']}/{path}")
            assert late.status_code == 409 and "not running" in late.text
        resume = await http.post(f"/api/runs/{home.month}/resume")
        assert resume.status_code == 409 and "backtest" in resume.text
        bad = await http.post(f"/api/runs/{home.month}/kill", json={"flatten": "maybe"})
        assert bad.status_code == 422


def _wait_running(pid: int) -> None:
    """Until the run's own process exists (its wrapper has started it)."""
    wait_until(lambda: child_pids(pid), "the run's process")


async def test_health_me_strategies_and_data(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        health = (await http.get("/api/health")).json()
        assert health["status"] == "ok" and health["version"]
        assert health["runs"]["finished"] >= 2 and health["runs"]["created"] >= 1
        assert (await http.get("/api/me")).json() == {"role": "admin", "token_id": None}
        strategies = (await http.get("/api/strategies")).json()["items"]
        sma = next(s for s in strategies if s["name"] == "sma_cross")
        params = {p["name"]: p for p in sma["params"]}
        assert params["fast"]["default"] == 10 and params["fast"]["bounds"] == {"ge": 1}
        assert params["fraction"]["default"] == "1" and params["mode"]["choices"]
        files = (await http.get("/api/data-files")).json()["items"]
        paths = [f["path"] for f in files]
        assert "data/btc-perp-20211231-20220201_1m.csv.gz" in paths
        assert not any("trades" in p or "quotes" in p for p in paths)
        assert all((REPO / p).is_file() for p in paths)
        assert (await http.get("/api/catalog")).json() == {"items": [], "next_cursor": None}


async def test_catalog_lists_the_series_it_holds(home: Home, tmp_path: Path,
                                                 btc_trades: object) -> None:
    from conftest import BTC_GRID
    from heron.data.catalog import Catalog

    Catalog(tmp_path / "catalog").write(BTC_GRID, "trades", btc_trades)  # type: ignore[arg-type]
    async with api_client(home.settings(catalog=tmp_path / "catalog"), home.manager) as http:
        entries = (await http.get("/api/catalog")).json()["items"]
    assert [(e["venue"], e["symbol"], e["kind"]) for e in entries] == [
        ("BINANCE", "BTCUSDT", "trades")]
    assert entries[0]["rows"] > 0 and entries[0]["first_ts"] <= entries[0]["last_ts"]


async def test_dashboard_is_served_with_client_routes_or_a_build_hint(home: Home,
                                                                      tmp_path: Path) -> None:
    async with api_client(home.settings(), home.manager) as http:
        hint = await http.get("/")
        assert hint.status_code == 200 and "make web" in hint.text
        assert (await http.get("/runs/x")).status_code == 404
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>heron dashboard</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not served")
    async with api_client(home.settings(web_dist=dist), home.manager) as http:
        assert "heron dashboard" in (await http.get("/")).text
        assert (await http.get("/assets/app.js")).text == "console.log(1)"
        assert "heron dashboard" in (await http.get(f"/runs/{home.month}")).text
        assert "not served" not in (await http.get("/..%2Fsecret.txt")).text
        api_miss = await http.get("/api/nothing")
        assert api_miss.status_code == 404 and error_code(api_miss) == "not_found"
