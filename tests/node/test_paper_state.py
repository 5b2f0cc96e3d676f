"""Paper state directories: one process each, configs that must agree on resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.errors import InputError
from heron.node.paper_run import bar_ns
from heron.node.paper_state import PaperConfig, PaperState, resolve_config

BASE = {"strategy": "sma_cross", "venue": "binanceusdm", "symbols": ["BTC/USDT:USDT"],
        "streams": None, "params": {"fast": "2"}, "cash": None, "bar": None,
        "fee_bps": None, "slippage_bps": None}


def test_a_new_run_needs_strategy_venue_and_symbol() -> None:
    with pytest.raises(InputError, match="--venue"):
        resolve_config({**BASE, "venue": None}, None)
    assert resolve_config(BASE, None) == PaperConfig(
        strategy="sma_cross", venue="binanceusdm", symbols=["BTC/USDT:USDT"],
        params={"fast": "2"})


def test_resume_fills_in_what_was_left_out_and_refuses_what_differs() -> None:
    stored = resolve_config(BASE, None)
    bare = dict.fromkeys(BASE)
    assert resolve_config(bare, stored) == stored
    assert resolve_config({**bare, "params": {"fast": "2"}}, stored) == stored
    with pytest.raises(InputError, match=r"started with params=\{'fast': '2'\}"):
        resolve_config({**bare, "params": {"fast": "3"}}, stored)
    with pytest.raises(InputError, match="started with venue='binanceusdm'"):
        resolve_config({**bare, "venue": "okx"}, stored)


def test_one_process_per_state_directory(tmp_path: Path) -> None:
    first = PaperState(tmp_path / "s")
    with pytest.raises(InputError, match="in use by another heron paper run"):
        PaperState(tmp_path / "s")
    first.close()
    PaperState(tmp_path / "s").close()  # free again once the first let go


def test_config_and_instruments_round_trip(tmp_path: Path) -> None:
    from conftest import BTC_GRID

    state = PaperState(tmp_path / "s")
    cfg = resolve_config(BASE, None)
    assert state.stored() is None
    state.save(cfg, [BTC_GRID])
    assert state.stored() == (cfg, [BTC_GRID])
    (tmp_path / "s" / "run.json").write_text("not json")
    with pytest.raises(InputError, match="is not a heron paper run"):
        state.stored()
    state.close()


@pytest.mark.parametrize(("text", "ns"), [("30s", 30 * 10**9), ("1m", 60 * 10**9),
                                          ("4h", 4 * 3600 * 10**9)])
def test_bar_lengths(text: str, ns: int) -> None:
    assert bar_ns(text) == ns


@pytest.mark.parametrize("text", ["", "m", "0m", "1x", "-1m", "1.5m"])
def test_bad_bar_lengths_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="--bar"):
        bar_ns(text)
