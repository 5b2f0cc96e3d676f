"""A managed run's config: the TOML a user gives ``heron serve``, checked, and the command
line that runs it.

A run is a ``heron backtest``, ``heron paper`` or ``heron live`` process, so its config
is that command's options and nothing else: the keys of a backtest are the keys of a
``heron backtest CONFIG.toml`` file (:class:`heron.cli.config.BacktestConfig`) plus
``risk``; the keys of a paper or live run are the command's options with ``_`` for
``-`` plus a ``[params]`` table. Both lists are read from the commands themselves (the
config struct, the typer signatures), so an option added to a command is a key here at
once and the command line built from a config is one the command accepts. (This module
depends on the CLI's *interface* on purpose: the run manager's job is to run it.)

What the server decides is not a key: output files, the journal, the state directory,
metrics and log format. Relative paths (data, funding, risk, key_file) resolve against
the server's root folder (``heron serve --root``). Unknown or missing keys, a wrong type
and bad TOML are refused with one line that names the key (or the TOML line).
"""

from __future__ import annotations

import difflib
import functools
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from heron.errors import InvalidConfiguration

KINDS = ("backtest", "paper", "live")
#: backtest keys the server sets itself (the run directory's files)
BACKTEST_OUTPUTS = ("json", "report", "journal")
#: options of ``heron paper`` / ``heron live`` that are the server's, not the run's
SERVER_OPTIONS = ("state", "quiet", "metrics_port", "metrics_host", "log_json", "param")
REQUIRED = {"backtest": ("data",), "paper": ("strategy", "venue", "symbol"),
            "live": ("strategy", "venue", "symbol")}


@dataclass(frozen=True)
class RunConfig:
    """A checked run config: option values (paths as given) and strategy parameters."""

    kind: str
    options: dict[str, Any]
    params: dict[str, str]

    @property
    def strategy(self) -> str:
        return str(self.options.get("strategy") or "sma_cross")

    def default_name(self) -> str:
        """``strategy on symbol`` (or on the data file), for a run created without a name."""
        target = self.options.get("symbol") or Path(str(self.options.get("data", "?"))).name
        if isinstance(target, list):
            target = ",".join(target)
        return f"{self.strategy} on {target}"


def parse_config(kind: str, text: str) -> RunConfig:
    """Check ``text`` as the config of a ``kind`` run; InvalidConfiguration otherwise."""
    if kind not in KINDS:
        raise InvalidConfiguration(f"unknown run kind {kind!r}; pass one of: {', '.join(KINDS)}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfiguration(f"run config is not valid TOML: {exc}; fix the syntax"
                                   ) from None
    if set(raw) == {kind} and isinstance(raw[kind], dict):  # a [backtest] / [paper] table
        raw = raw[kind]
    params = _params(raw.pop("params", {}))
    types = option_types(kind)
    for key in raw:
        _check_key(kind, key, types)
    options = {key: _convert(key, value, types[key]) for key, value in raw.items()}
    for key in REQUIRED[kind]:
        if options.get(key) is None:
            raise InvalidConfiguration(f"run config: missing key {key!r}; a {kind} run needs "
                                       f"{', '.join(REQUIRED[kind])}")
    config = RunConfig(kind, options, params)
    check_params(config.strategy, params)
    return config


def _check_key(kind: str, key: str, types: dict[str, Any]) -> None:
    if key in types:
        return
    if key in (BACKTEST_OUTPUTS if kind == "backtest" else SERVER_OPTIONS):
        raise InvalidConfiguration(f"run config: key {key!r} is set by the server (the run's "
                                   "directory holds its outputs, journal and state); leave "
                                   "it out (parameters go in a [params] table)")
    close = difflib.get_close_matches(key, list(types), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidConfiguration(f"run config: unknown key {key!r}{hint} for a {kind} run; "
                               f"the keys are: {', '.join(sorted(types))}, and [params]")


def _params(given: Any) -> dict[str, str]:
    if not isinstance(given, dict):
        raise InvalidConfiguration("run config: params must be a table ([params] with "
                                   "name = value lines)")
    return {name: param_text(name, value) for name, value in given.items()}


def param_text(name: str, value: Any) -> str:
    """A parameter as the command line's ``--param name=value`` gives it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidConfiguration(f"run config: parameter {name!r} must be a number, string or "
                               f"boolean, not {type(value).__name__}")


def check_params(strategy: str, params: dict[str, str]) -> None:
    """Refuse an unknown built-in strategy, and parameters it does not have or refuses.

    A ``module:Class`` strategy is checked by the run itself: its module is importable
    from the run's folder, not necessarily from the server's."""
    if ":" in strategy:
        return
    from heron.strategy.registry import strategy_class

    strategy_class(strategy)(**params)  # the strategy's own checks (fast < slow ...)


def _convert(key: str, value: Any, hint: Any) -> Any:
    """``value`` as the option's type; money and other text options take integers too, a
    list option one string, a comma-separated option a list."""
    if isinstance(value, str) and _takes_list(hint):  # symbol = "X" for a list option
        value = [value]
    elif isinstance(value, list) and _takes_text(hint):  # streams = ["trades", "book"]
        value = ",".join(str(v) for v in value)
    elif isinstance(value, int) and not isinstance(value, bool) and _takes_text(hint):
        value = str(value)
    try:
        return msgspec.convert(value, hint)
    except msgspec.ValidationError as exc:
        raise InvalidConfiguration(f"run config: key {key!r}: {exc}; fix its value") from None


def _takes_text(hint: Any) -> bool:
    return hint is str or str in typing.get_args(hint)


def _takes_list(hint: Any) -> bool:
    return not _takes_text(hint) and any(typing.get_origin(arg) is list
                                         for arg in (hint, *typing.get_args(hint)))


@functools.cache
def option_types(kind: str) -> dict[str, Any]:
    """The keys of a ``kind`` run config and their types (``Path`` given as ``str``)."""
    if kind == "backtest":
        from heron.cli.config import BacktestConfig

        hints = typing.get_type_hints(BacktestConfig)
        types = {k: v for k, v in hints.items() if k not in BACKTEST_OUTPUTS and k != "params"}
        return {**types, "risk": str | None}
    hints = typing.get_type_hints(_command(kind))
    return {name: _text_paths(hint) for name, hint in hints.items()
            if name not in SERVER_OPTIONS and name != "return"}


def path_keys(kind: str) -> tuple[str, ...]:
    """The keys whose values are files (resolved against the server's root)."""
    if kind == "backtest":
        return ("data", "funding", "risk")
    hints = typing.get_type_hints(_command(kind))
    return tuple(name for name, hint in hints.items()
                 if name not in SERVER_OPTIONS and Path in (hint, *typing.get_args(hint)))


def _command(kind: str) -> Any:
    if kind == "paper":
        from heron.cli.paper import paper_command

        return paper_command
    from heron.cli.live import live_command

    return live_command


def _text_paths(hint: Any) -> Any:
    if hint is Path:
        return str
    if Path in typing.get_args(hint):
        return str | None
    return hint


def command_args(config: RunConfig, *, root: Path, run_dir: Path,
                 journal_db: str | None = None, run_id: str | None = None) -> list[str]:
    """The ``heron`` arguments that run ``config`` with its outputs in ``run_dir``."""
    args = [config.kind]
    paths = path_keys(config.kind)
    for key, value in config.options.items():
        if value is None:
            continue
        args += _flag(key, str((root / str(value)).resolve()) if key in paths else value)
    for name, value in config.params.items():
        args += ["--param", f"{name}={value}"]
    return args + _outputs(config.kind, run_dir, journal_db, run_id)


def _flag(key: str, value: Any) -> list[str]:
    flag = "--" + key.replace("_", "-")
    if isinstance(value, bool):
        return [flag] if value else []
    if isinstance(value, list):
        return [part for item in value for part in (flag, str(item))]
    return [flag, str(value)]


def _outputs(kind: str, run_dir: Path, journal_db: str | None, run_id: str | None
             ) -> list[str]:
    if kind != "backtest":  # with the server's database (HERON_DB), journaled as run_id
        state = ["--state", str(run_dir / "state"), "--quiet"]
        return [*state, "--run-id", run_id] if journal_db is not None and run_id else state
    outputs = ["--json", str(run_dir / "result.json"), "--report", str(run_dir / "report.html")]
    if journal_db is not None:  # the URL itself travels in HERON_DB: argv is public (ps)
        return [*outputs, *(["--run-id", run_id] if run_id else [])]
    return [*outputs, "--journal", str(run_dir / "journal.sqlite")]


def toml_text(values: dict[str, Any]) -> str:
    """A flat config (scalars and one ``params`` table) as TOML, for configs heron writes
    (the demo run). JSON's string escapes are valid TOML basic strings."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in values.items()
             if not isinstance(value, dict)]
    for table, body in values.items():
        if isinstance(body, dict):
            lines += ["", f"[{table}]", *(f"{k} = {_toml_value(v)}" for k, v in body.items())]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str | int | float) else json.dumps(str(value))


__all__ = ["KINDS", "RunConfig", "command_args", "option_types", "param_text", "parse_config",
           "path_keys", "toml_text"]
