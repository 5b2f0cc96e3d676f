"""One risk file for a run (heron.risk.config): its three tables reach the node in
backtest, and a paper run keeps its file across restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import heron
from conftest import SHARED_VENUES
from heron.core.journal_store import JournalReader
from heron.errors import InputError
from heron.model.events import OrderDenied, OrderFilled, SubmitOrder, TradingStateChanged
from heron.risk.config import load_risk, parse_risk
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile, recorded_exchange_info

DATA = Path(__file__).resolve().parents[2] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
VENUE = SHARED_VENUES / "binance_usdm"
CAPTURE = VENUE / "ws_capture_BTCUSDT_2024-08-08.txt.gz"


def test_a_complete_file_fills_all_three_tables() -> None:
    cfg = parse_risk("""
[limits]
max_order_notional = 10000
[state]
soft_drawdown = 0.05
hard_drawdown = 0.1
[portfolio]
max_concentration = 0.6
check_every_s = 300
""")
    assert cfg.limits.default.max_order_notional == 10000
    assert cfg.state is not None and cfg.state.hard_drawdown == "0.1"
    assert cfg.portfolio is not None and cfg.portfolio.check_every_s == 300
    assert str(cfg.portfolio.max_concentration) == "0.6"


@pytest.mark.parametrize(("text", "message"), [
    ("[limits]\nmax_order_notional = 5\n[risk]\nx = 1\n", "unknown table or key 'risk'"),
    ("limits = 3\n", "limits must be a table"),
    ("", "no [limits], [state] or [portfolio] table"),
    ("[state]\nhard_drawdown = 2\n", "r.toml: [state]: hard_drawdown = 2 must be above 0"),
    ("[portfolio]\nwindow = 5\n", "portfolio.window must be a whole number >= 20"),
    ("[portfolio]\nconfidence = 0.3\n", "portfolio.confidence must be in (0.5, 1)"),
    ("[limits\n", "r.toml: not valid TOML"),
])
def test_each_bad_file_is_refused_naming_the_table_and_key(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_risk(text, "r.toml")
    assert message in str(info.value)


def test_a_missing_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="risk limits file not found; check the --risk path"):
        load_risk(tmp_path / "nope.toml")


def _backtest(tmp_path: Path, text: str) -> list[object]:
    path = tmp_path / "risk.toml"
    path.write_text(text)
    result = heron.backtest(DATA, strategy="sma_cross", symbol="BTC-PERP", risk=path,
                            params={"fast": 10, "slow": 50})
    return list(result.engine.journal.records)


def test_portfolio_concentration_degrades_a_backtest_once_a_position_exists(
        tmp_path: Path) -> None:
    records = _backtest(tmp_path, "[portfolio]\nmax_concentration = 0.5\n"
                                  "check_every_s = 3600\n")
    moves = [r for r in records if isinstance(r, TradingStateChanged)
             and r.trigger == "portfolio_risk"]
    assert moves and moves[0].to_state == "DEGRADED"
    evidence = json.loads(moves[0].evidence)
    assert evidence["limit"] == "max_concentration" and evidence["largest_share"] == "1"
    first_fill = next(r for r in records if isinstance(r, OrderFilled))
    assert moves[0].ts_event >= first_fill.ts_event  # no position, nothing concentrated
    after = records[records.index(moves[0]):]
    denied = [r for r in after if isinstance(r, OrderDenied)]
    assert denied and all(d.rule == "trading_state" or "reduce" in d.reason for d in denied)


def test_a_limit_never_reached_moves_nothing(tmp_path: Path) -> None:
    records = _backtest(tmp_path, "[portfolio]\nmax_concentration = 1\n")
    assert [r.to_state for r in records if isinstance(r, TradingStateChanged)] == ["READY"]


def test_the_state_table_of_the_file_arms_the_kill_switch(tmp_path: Path) -> None:
    records = _backtest(tmp_path, '[state]\nkill_at = "2022-01-10T00:00:00Z"\n')
    halt = next(r for r in records if isinstance(r, TradingStateChanged)
                and r.to_state == "HALTED")
    assert halt.trigger == "manual" and halt.ts_event == 1_641_772_800_000_000_000
    filled = {r.client_order_id for r in records if isinstance(r, OrderFilled)}
    sent_after = [r for r in records[records.index(halt):] if isinstance(r, SubmitOrder)]
    assert sent_after  # the strategy kept deciding ...
    assert not [r for r in sent_after if r.client_order_id in filled]  # ... nothing filled


@pytest.mark.slow
@pytest.mark.skipif(not CAPTURE.exists(), reason="shared venue data not present")
def test_a_paper_run_keeps_its_risk_file_and_refuses_another(tmp_path: Path) -> None:
    risk = tmp_path / "risk.toml"
    risk.write_text("[limits]\nmax_order_notional = 50\n")
    state = tmp_path / "state"
    profile = BinanceUsdmProfile(CAPTURE, recorded_exchange_info(VENUE))
    env = {k: v for k, v in os.environ.items() if k != "HERON_DEBUG"}
    with VenueServer(profile) as server:
        args = [sys.executable, "-m", "heron", "paper", "--strategy", "sma_cross",
                "--venue", "binanceusdm", "--symbol", "BTC/USDT:USDT", "--param", "fast=2",
                "--param", "slow=4", "--bar", "10s", "--state", str(state),
                "--endpoint", server.url, "--stop-after", "6000", "--quiet"]
        first = subprocess.run([*args, "--risk", str(risk)], capture_output=True, check=False,
                               timeout=180, env=env)
        assert first.returncode == 0, first.stderr.decode()
        other = tmp_path / "other.toml"
        other.write_text("[limits]\nmax_order_notional = 60\n")
        refused = subprocess.run([*args, "--risk", str(other)], capture_output=True, check=False,
                                 timeout=60, env=env)
    assert refused.returncode == 2
    assert "this state was started with risk=" in refused.stderr.decode()
    stored = json.loads((state / "run.json").read_text())
    assert stored["config"]["risk"] == risk.read_text()
    denied = [r for r in JournalReader(state / "journal.sqlite").records()
              if isinstance(r, OrderDenied)]
    assert denied and {d.rule for d in denied} == {"max_order_notional"}
