"""The research config: a backtest config plus ``[optimize]`` and ``[walkforward]`` tables.

One TOML file describes a strategy run (the keys of ``heron backtest``) and how to
search and validate it, so ``heron backtest``, ``heron optimize`` and ``heron
walkforward`` can share it::

    strategy = "sma_cross"
    data = "../data/btc-perp-20211231-20220201_1m.csv.gz"

    [params]                 # fixed values (not searched unless listed in the space)
    mode = "long-only"

    [optimize]
    trials = 40
    objective = "sharpe"     # or a list: ["sharpe", "drawdown"] (multi-objective)
    sampler = "tpe"
    seed = 7
    pruner = "none"          # or "median", "successive-halving" (checkpoints = 4)

    [optimize.space]         # per parameter; {} takes the range the strategy declares
    fast = { low = 5, high = 60, step = 5 }
    slow = { low = 80, high = 400, step = 20 }

    [walkforward]
    train = "10d"
    test = "3d"

Unknown keys are refused everywhere, as in the backtest config. Command-line flags
override the tables.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from heron.cli.config import PATH_KEYS, BacktestConfig
from heron.errors import InvalidConfiguration

__all__ = ["OptimizeTable", "ResearchConfig", "SpaceEntry", "WalkforwardTable",
           "load_research_config", "parse_span"]


class SpaceEntry(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One parameter's search range: ``low``/``high`` (``step``, ``log``) or ``choices``.

    An empty entry takes the range declared by the strategy's ``Param``.
    """

    low: int | float | str | None = None
    high: int | float | str | None = None
    step: int | float | str | None = None
    log: bool = False
    choices: list[Any] | None = None


class OptimizeTable(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    trials: int = 50
    objective: str | list[str] = "sharpe"
    direction: str | list[str] | None = None
    sampler: str = "tpe"
    seed: int = 0
    batch: int = 8
    study: str | None = None
    storage: str | None = None
    engine: str = "auto"
    pruner: str = "none"
    checkpoints: int = 4
    space: dict[str, SpaceEntry] = msgspec.field(default_factory=dict)


class WalkforwardTable(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    train: str | None = None
    test: str | None = None
    step: str | None = None
    anchored: bool = False
    purge: str = "0s"
    embargo: str = "0s"


class ResearchConfig(msgspec.Struct, kw_only=True, frozen=True):
    backtest: BacktestConfig
    optimize: OptimizeTable
    walkforward: WalkforwardTable


def load_research_config(path: Path) -> ResearchConfig:
    """Read a TOML config with optional ``[optimize]``/``[walkforward]`` tables."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidConfiguration(f"{path}: config file not found; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfiguration(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    optimize = raw.pop("optimize", {})
    walkforward = raw.pop("walkforward", {})
    section = raw.get("backtest", raw)
    try:
        config = ResearchConfig(
            backtest=msgspec.convert(section, BacktestConfig),
            optimize=msgspec.convert(optimize, OptimizeTable),
            walkforward=msgspec.convert(walkforward, WalkforwardTable))
    except msgspec.ValidationError as exc:
        raise InvalidConfiguration(f"{path}: {exc}; see docs/research.md for the keys"
                                   ) from None
    bt = config.backtest
    updates: dict[str, Any] = {
        key: str(path.parent / value) for key in PATH_KEYS
        if isinstance(value := getattr(bt, key), str) and not Path(value).is_absolute()}
    if bt.data_files is not None:  # several instruments (pairs): relative to the file too
        updates["data_files"] = {sym: str(path.parent / f) for sym, f in bt.data_files.items()}
    return msgspec.structs.replace(config, backtest=msgspec.structs.replace(bt, **updates))


_UNITS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "min": 60 * 10**9, "h": 3600 * 10**9,
          "d": 86_400 * 10**9, "w": 7 * 86_400 * 10**9}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


def parse_span(text: str, what: str) -> int:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"0s"`` as nanoseconds; refused with the fix."""
    match = _SPAN.match(text.lower())
    if match is None or match.group(2) not in _UNITS:
        raise InvalidConfiguration(f"{what} {text!r} is not a duration; write it like 30d, "
                                   "12h, 90m or 0s")
    return int(float(match.group(1)) * _UNITS[match.group(2)])
