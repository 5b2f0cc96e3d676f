"""The strategies a run can use, with their parameters (for the dashboard's launch form)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter

from heron.api.auth import Viewer
from heron.api.pages import Paging, page_of
from heron.api.schemas import Page, StrategyOut
from heron.strategy.base import Strategy
from heron.strategy.info import plain
from heron.strategy.registry import BUILTIN

router = APIRouter(tags=["strategies"])


def describe(cls: type[Strategy]) -> dict[str, Any]:
    doc = inspect.getdoc(cls) or ""
    return {"name": cls.name, "doc": doc.split("\n\n")[0],
            "params": [plain(p.describe()) for p in cls.params.values()]}


@router.get("/api/strategies", response_model=Page[StrategyOut],
            summary="Built-in strategies and their parameters")
async def strategies(_caller: Viewer, page: Paging) -> dict[str, Any]:
    return page_of([describe(BUILTIN[name]) for name in sorted(BUILTIN)], page)
