"""One risk file for a run: pre-trade limits, trading-state triggers, portfolio risk.

``--risk FILE.toml`` (backtest, paper and live alike) holds up to three tables, each
validated by the module that owns it, so a bad key is refused at start with its table::

    [limits]     pre-trade checks          heron.risk.limits   (docs/risk.md "Limits file")
    [state]      trading-state triggers    heron.risk.triggers ("Trading state")
    [portfolio]  VaR/ES, concentration     heron.risk.portfolio_risk ("Portfolio risk")

A paper or live run stores the file's text in its ``run.json``: a restart keeps the same
limits (a paper run's journal is rebuilt from its inputs, and would differ under others),
and a different file on a restart is refused like any other changed option.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from heron.errors import InputError
from heron.risk.limits import RiskLimits, parse_limits
from heron.risk.portfolio_risk import PortfolioLimits
from heron.risk.triggers import StateLimits, state_limits

TABLES = ("limits", "state", "portfolio")


@dataclass(frozen=True)
class RiskConfig:
    """A validated risk file; a table left out is ``None`` (pre-trade: the minimal
    checks of :meth:`RiskLimits.none`)."""

    limits: RiskLimits
    state: StateLimits | None = None
    portfolio: PortfolioLimits | None = None
    text: str = ""  # the file as written, stored with paper and live runs


def read_risk_text(path: str | Path) -> str:
    """The file's text; a missing or unreadable file is an :class:`InputError`."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: risk limits file not found; check the --risk path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the risk file ({exc}); check the --risk "
                         "path") from None


def load_risk(path: str | Path) -> RiskConfig:
    """Read and validate a risk file (every problem an :class:`InputError`)."""
    return parse_risk(read_risk_text(path), Path(path).name)


def parse_risk(text: str, name: str = "risk.toml") -> RiskConfig:
    """Validate a risk file's text; ``name`` starts every message."""
    try:
        data: dict[str, Any] = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{name}: not valid TOML ({exc}); fix the syntax") from None
    extra = sorted(set(data) - set(TABLES))
    if extra:
        raise InputError(f"{name}: unknown table or key {extra[0]!r}; a risk file holds "
                         "[limits], [state] and [portfolio] (see docs/risk.md)")
    if not data:
        raise InputError(f"{name}: no [limits], [state] or [portfolio] table; add one "
                         "(see docs/risk.md)")
    for table in TABLES:
        if table in data and not isinstance(data[table], dict):
            raise InputError(f"{name}: {table} must be a table ([{table}]); see docs/risk.md")
    limits = (parse_limits({"limits": data["limits"]}, name) if "limits" in data
              else RiskLimits.none())
    state = (state_limits(data["state"], where=f"{name}: [state]") if "state" in data
             else None)
    portfolio = (PortfolioLimits.from_table(data["portfolio"]) if "portfolio" in data
                 else None)
    return RiskConfig(limits, state, portfolio, text)


def risk_text(path: Path | None) -> str | None:
    """A ``--risk`` file's text for a paper or live run's config, validated now (a bad
    file stops the command before it connects to anything)."""
    return None if path is None else load_risk(path).text


__all__ = ["TABLES", "RiskConfig", "load_risk", "parse_risk", "read_risk_text", "risk_text"]
