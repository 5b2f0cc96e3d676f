"""``/api/strategies``: the built-ins, and the plugin files of the server's
``HERON_STRATEGY_PATH``, listed (not run) with their parameters; a run created from the
API may then use a plugin by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.conftest import Home, api_client

pytestmark = pytest.mark.anyio

PLUGIN = '''
"""Fade the last bar: a plugin file on the strategy path."""
from decimal import Decimal

from heron import Param, Strategy

RAN = open(__file__ + ".ran", "w")   # listing must never execute this file


class Fade(Strategy):
    """Sell strength, buy weakness.

    Nothing more to it."""

    name = "fade_last"
    lookback = Param(5, ge=1, le=50, doc="bars to look back")
    size = Param(Decimal("0.25"), gt=Decimal("0"), doc="fraction per entry")
    side = Param("both", choices=("both", "long"), doc="which sides")
'''


async def test_plugins_on_the_strategy_path_are_listed_with_their_parameters(
        home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "fade.py").write_text(PLUGIN)
    (folder / "broken.py").write_text("class Broken(:\n")   # skipped, the rest listed
    monkeypatch.setenv("HERON_STRATEGY_PATH", str(folder))
    async with api_client(home.settings(), home.manager) as http:
        answer = await http.get("/api/strategies", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    listed = {s["name"]: s for s in answer.json()["items"]}
    assert listed["sma_cross"]["source"] == "builtin"
    fade = listed["fade_last"]
    assert fade["source"] == "path" and fade["doc"] == "Sell strength, buy weakness."
    params = {p["name"]: p for p in fade["params"]}
    assert params["lookback"] == {"name": "lookback", "type": "int", "default": 5,
                                  "bounds": {"ge": 1, "le": 50}, "choices": None,
                                  "doc": "bars to look back"}
    assert params["size"]["default"] == "0.25" and params["size"]["bounds"] == {"gt": "0"}
    assert params["side"]["choices"] == ["both", "long"]
    assert not (folder / "fade.py.ran").exists()
    assert "Broken" not in listed and "broken" not in listed


async def test_without_a_strategy_path_only_shipped_strategies_are_listed(
        home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERON_STRATEGY_PATH", raising=False)
    async with api_client(home.settings(), home.manager) as http:
        items = (await http.get("/api/strategies", params={"limit": 1000})).json()["items"]
    assert items and {s["source"] for s in items} <= {"builtin", "entry-point"}
    assert [s["name"] for s in items] == sorted(s["name"] for s in items)
