"""The strategies a run can use, with their parameters (for the dashboard's launch form)."""

from __future__ import annotations

import inspect
from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from heron.api.auth import Viewer
from heron.api.pages import Paging, page_of
from heron.api.schemas import Page, StrategyOut
from heron.strategy.base import Strategy
from heron.strategy.registry import BUILTIN

router = APIRouter(tags=["strategies"])


def _plain(value: Any) -> Any:
    """A parameter value as JSON: a ``Decimal`` as decimal text, never a float."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def describe(cls: type[Strategy]) -> dict[str, Any]:
    doc = inspect.getdoc(cls) or ""
    return {"name": cls.name, "doc": doc.split("\n\n")[0],
            "params": [_plain(p.describe()) for p in cls.params.values()]}


@router.get("/api/strategies", response_model=Page[StrategyOut],
            summary="Built-in strategies and their parameters")
async def strategies(_caller: Viewer, page: Paging) -> dict[str, Any]:
    return page_of([describe(BUILTIN[name]) for name in sorted(BUILTIN)], page)
