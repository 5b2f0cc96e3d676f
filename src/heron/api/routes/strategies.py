"""The strategies a run can use, with their parameters (for the dashboard's launch forms).

The same list ``heron strategies list`` prints: the built-ins, installed plugins (entry
points) and the files in the folders of ``HERON_STRATEGY_PATH`` as the server's
environment gives it. A run started by the server inherits that environment, so every
strategy listed here is one its run can load. Plugin files are read, not imported
(:class:`heron.strategy.registry.StrategyRegistry`); one that cannot be listed is left
out, as it is by the CLI.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from heron.api.auth import Viewer
from heron.api.pages import Paging, page_of
from heron.api.schemas import Page, StrategyOut
from heron.strategy.info import ParamInfo, StrategyInfo, plain
from heron.strategy.registry import StrategyRegistry

router = APIRouter(tags=["strategies"])
BOUNDS = ("ge", "gt", "le", "lt")


def param_out(param: ParamInfo) -> dict[str, Any]:
    """A parameter as the launch forms read it: bounds in one table, values JSON-ready."""
    bounds = {key: plain(getattr(param, key)) for key in BOUNDS
              if getattr(param, key) is not None}
    return {"name": param.name, "type": param.type, "default": plain(param.default),
            "bounds": bounds, "choices": plain(param.choices), "doc": param.doc}


def describe(info: StrategyInfo) -> dict[str, Any]:
    return {"name": info.name, "doc": info.summary, "source": info.source,
            "params": [param_out(p) for p in info.params]}


def listing() -> list[dict[str, Any]]:
    """Every strategy the server's runs can load, by name (the folders are scanned anew
    each time: a file saved a moment ago is listed at once)."""
    registry = StrategyRegistry()
    return [describe(registry.infos[name]) for name in registry.names()]


@router.get("/api/strategies", response_model=Page[StrategyOut],
            summary="Strategies (built-in, installed, HERON_STRATEGY_PATH) and parameters")
async def strategies(_caller: Viewer, page: Paging) -> dict[str, Any]:
    return page_of(await run_in_threadpool(listing), page)
