"""``heron serve`` as a real process on a free loopback port: it answers, keeps its runs
in its home, starts the demo, finds its runs after a restart, and refuses to listen
where a token is required before one exists. Always stopped by its PID."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from heron.node.runs import RunManager
from managed_runs import (
    REPO,
    free_port,
    heron,
    served,
    slow_config,
    stop_runs,
    wait_until,
)


def test_serve_answers_health_and_lists_the_demo_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with served(home, "--demo") as url:
        health = httpx.get(f"{url}/api/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        runs = httpx.get(f"{url}/api/runs", timeout=10).json()["items"]
        assert [r["name"] for r in runs] == ["demo: sma_cross on BTC-PERP"]
        demo = runs[0]
        assert demo["kind"] == "backtest" and demo["status"] in ("running", "finished")
        assert 'data = "data/btc-perp-20211231-20220201_1m.csv.gz"' in demo["config"]
        wait_until(lambda: httpx.get(f"{url}/api/runs/{demo['run_id']}", timeout=10)
                   .json()["status"] == "finished", "the demo backtest to finish")
        second = heron("serve", "--home", str(home), "--port", str(free_port()))
        assert second.returncode == 2 and "another heron serve (pid" in second.stderr
    assert (home / "server.sqlite").exists()
    assert (home / "runs" / demo["run_id"] / "report.html").exists()
    with served(home, "--demo") as url:   # a home with runs gets no second demo
        assert len(httpx.get(f"{url}/api/runs", timeout=10).json()["items"]) == 1


@pytest.mark.slow
def test_a_run_started_before_a_restart_is_found_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with served(home, cwd=tmp_path) as url:
        made = httpx.post(f"{url}/api/runs", json={"kind": "backtest", "config": slow_config(
            tmp_path, pause=8)}, timeout=30)
        assert made.status_code == 201, made.text
        run_id, pid = made.json()["run_id"], made.json()["pid"]
    with served(home, cwd=tmp_path) as url:   # the runs outlive the server
        found = httpx.get(f"{url}/api/runs/{run_id}", timeout=10).json()
        assert (found["status"], found["pid"]) == ("running", pid)
        wait_until(lambda: httpx.get(f"{url}/api/runs/{run_id}", timeout=10)
                   .json()["status"] == "finished", "the run to finish")
    manager = RunManager(home, root=tmp_path)
    try:
        assert manager.get(run_id).exit_code == 0
    finally:
        stop_runs(manager)
        manager.close()


def test_a_public_address_without_a_token_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    refused = heron("serve", "--host", "0.0.0.0", "--home", str(home))
    assert refused.returncode == 2
    line = refused.stderr.strip()
    assert "\n" not in line and "heron token create --role admin" in line
    assert str(home) in line
    local = heron("serve", "--require-token", "--home", str(home))
    assert local.returncode == 2 and "heron token create" in local.stderr


def test_a_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = heron("serve", "--port", str(port), "--home", str(tmp_path / "home"))
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_the_demo_config_is_the_example_without_its_outputs() -> None:
    from heron.cli.serve import demo_config
    from heron.node.run_config import parse_config

    config = parse_config("backtest", demo_config(REPO))
    assert config.options["data"] == "data/btc-perp-20211231-20220201_1m.csv.gz"
    assert config.options["fee_bps"] == "4" and config.params["slow"] == "240"
