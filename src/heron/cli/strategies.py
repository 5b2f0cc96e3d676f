"""``heron strategies list|show``: the strategies heron can run here, with their parameters.

Built-ins, installed entry points (``heron.strategies``) and the files of the strategy
path (``--strategy-path DIR``, repeatable, and ``HERON_STRATEGY_PATH``), listed without
importing plugin files. A plugin that cannot be listed is one ``warning:`` line on
stderr naming the file and the fix; the listing carries on without it.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from heron.strategy.info import ParamInfo, StrategyInfo
from heron.strategy.registry import StrategyRegistry

strategies_app = typer.Typer(no_args_is_help=True,
                             help="List the strategies heron can run and their parameters.")
out = Console()
err = Console(stderr=True)

PathOpt = Annotated[list[Path] | None, typer.Option(
    "--strategy-path", help="folder of strategy files (repeatable; also HERON_STRATEGY_PATH)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


@strategies_app.command("list")
def list_strategies(strategy_path: PathOpt = None, json: JsonOpt = False) -> None:
    """Every strategy: name, where it comes from, its parameters, its summary."""
    registry = _registry(strategy_path)
    infos = [registry.infos[name] for name in registry.names()]
    if json:
        _print_json([info.to_dict() for info in infos])
        return
    table = Table(title="heron strategies")
    for column in ("name", "source", "parameters", "summary"):
        table.add_column(column, overflow="fold")
    for info in infos:
        table.add_row(info.name, info.source, ", ".join(p.name for p in info.params),
                      escape(info.summary))
    Console(width=max(out.width, 120)).print(table)


@strategies_app.command("show")
def show(name: Annotated[str, typer.Argument(help="strategy name (heron strategies list)")],
         strategy_path: PathOpt = None, json: JsonOpt = False) -> None:
    """One strategy: its parameters with types, defaults and ranges, and its docstring."""
    info = _registry(strategy_path).get(name)
    if json:
        _print_json(info.to_dict())
        return
    out.print(f"[bold]{escape(info.name)}[/]  ({info.source}: {escape(info.location)})",
              highlight=False, soft_wrap=True)
    out.print(_param_table(info))
    if info.doc:
        out.print(escape(info.doc), highlight=False, soft_wrap=True)


def _param_table(info: StrategyInfo) -> Table:
    table = Table(title="parameters")
    for column in ("name", "type", "default", "range", "doc"):
        table.add_column(column, overflow="fold")
    for param in info.params:
        table.add_row(param.name, escape(param.type), escape(_default(param)),
                      escape(param.range_text()), escape(param.doc))
    return table


def _default(param: ParamInfo) -> str:
    return repr(param.default) if isinstance(param.default, str) and param.type == "str" \
        else str(param.default)


def _registry(paths: list[Path] | None) -> StrategyRegistry:
    registry = StrategyRegistry(paths or [])
    for problem in registry.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}", highlight=False, soft_wrap=True)
    return registry


def _print_json(doc: Any) -> None:
    print(jsonlib.dumps(doc, indent=2, default=str))
