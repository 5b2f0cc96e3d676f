"""``heron backtest run.toml``: the backtest settings as a strict config file.

Keys are the long flag names with ``_`` for ``-``; parameters go in a ``[params]``
table. Unknown keys are refused (a typo must not silently run with a default)::

    strategy = "sma_cross"        # or a file's strategy, with strategy_path = "strategies"
    data = "data/btc-perp-20211231-20220201_1m.csv.gz"
    symbol = "BTC-PERP"
    cash = "100000"
    fee_bps = "10"
    fill = "next-open"
    report = "out/report.html"

    [params]
    fast = 10
    slow = 50

Several instruments (``pairs``, arbitrage) take a ``[data_files]`` table of symbol ->
bar file instead of ``data``/``symbol``; the first is the strategy's first instrument::

    [data_files]
    ETHBTC = "eth_btc_5m.feather"
    LTCBTC = "ltc_btc_5m.feather"

Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from heron.errors import InvalidConfiguration


class BacktestConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    strategy: str = "sma_cross"
    strategy_path: str | None = None
    data: str | None = None
    symbol: str | None = None
    data_files: dict[str, str] | None = None  # several instruments: symbol -> bar file
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    cash: str | int = "100000"
    fee_bps: str | int = "10"
    slippage_bps: str | int = "0"
    fill: str = "next-open"
    tick_size: str | None = None
    lot_size: str | None = None
    kind: str = "spot"
    leverage: str | int | None = None
    volume_share: str | None = None
    funding: str | None = None
    json: str | None = None
    report: str | None = None
    journal: str | None = None


PATH_KEYS = ("data", "json", "report", "journal", "funding", "strategy_path")
RESEARCH_TABLES = ("optimize", "walkforward")


def load_config(path: Path) -> BacktestConfig:
    """Read and validate a TOML backtest config; paths made relative to its folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidConfiguration(f"{path}: config file not found; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfiguration(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    section = raw.get("backtest", raw)
    # the research tables (heron optimize / walkforward) may share the file
    section = {k: v for k, v in section.items() if k not in RESEARCH_TABLES}
    try:
        config = msgspec.convert(section, BacktestConfig)
    except msgspec.ValidationError as exc:
        raise InvalidConfiguration(f"{path}: {exc}; see docs/backtesting.md for the keys"
                                   ) from None
    updates: dict[str, Any] = {
        key: str(path.parent / value) for key in PATH_KEYS
        if isinstance(value := getattr(config, key), str) and not Path(value).is_absolute()}
    if config.data_files is not None:
        updates["data_files"] = {sym: str(path.parent / f) for sym, f in config.data_files.items()}
    return msgspec.structs.replace(config, **updates)
