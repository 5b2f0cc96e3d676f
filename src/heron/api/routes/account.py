"""A run's account as its journal tells it: fills, positions, balances, round trips, the
equity curve with its drawdown (:mod:`heron.api.read_models`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from heron.api.auth import Viewer
from heron.api.pages import NewestFirst, Paging, cursor_int, encode_cursor, window
from heron.api.read_models import RunView
from heron.api.routes.runs import RunId
from heron.api.schemas import (
    BalanceOut,
    CountedPage,
    EquityPoint,
    FillOut,
    Page,
    PositionOut,
    RoundTripOut,
)
from heron.api.state import api_state

router = APIRouter(tags=["account"])


def _page(rows: list[dict[str, Any]], end: int, total: int) -> dict[str, Any]:
    return {"items": rows, "next_cursor": encode_cursor(str(end)) if end < total else None}


def _counted(rows: list[dict[str, Any]], nxt: int | None, total: int) -> dict[str, Any]:
    return {"items": rows, "total": total,
            "next_cursor": None if nxt is None else encode_cursor(str(nxt))}


@router.get("/api/runs/{run_id}/fills", response_model=CountedPage[FillOut],
            summary="A run's fills, oldest first (or newest first)")
async def fills(request: Request, _caller: Viewer, run_id: RunId, page: Paging,
                newest_first: NewestFirst = False) -> dict[str, Any]:
    state = api_state(request)
    await state.record(run_id)

    def read(view: RunView) -> dict[str, Any]:
        total = len(view.fills)
        start, end, nxt = window(page, total, newest_first)
        rows = view.fill_rows(start, end)
        return _counted(rows[::-1] if newest_first else rows, nxt, total)

    return await state.read_view(run_id, read, _counted([], None, 0))


@router.get("/api/runs/{run_id}/positions", response_model=Page[PositionOut],
            summary="A run's positions, marked at the last traded price")
async def positions(request: Request, _caller: Viewer, run_id: RunId, page: Paging
                    ) -> dict[str, Any]:
    return await _whole(request, run_id, page, "position_rows")


@router.get("/api/runs/{run_id}/balances", response_model=Page[BalanceOut],
            summary="A run's balance, equity, PnL, fees and funding")
async def balances(request: Request, _caller: Viewer, run_id: RunId, page: Paging
                   ) -> dict[str, Any]:
    return await _whole(request, run_id, page, "balance_rows")


@router.get("/api/runs/{run_id}/round-trips", response_model=CountedPage[RoundTripOut],
            summary="A run's round trips (closed, then open; or newest first), with slippage")
async def round_trips(request: Request, _caller: Viewer, run_id: RunId, page: Paging,
                      newest_first: NewestFirst = False) -> dict[str, Any]:
    state = api_state(request)
    await state.record(run_id)
    empty: list[dict[str, Any]] = []
    rows = await state.read_view(run_id, lambda v: v.round_trip_rows(), empty)
    start, end, nxt = window(page, len(rows), newest_first)
    chunk = rows[start:end]
    return _counted(chunk[::-1] if newest_first else chunk, nxt, len(rows))


async def _whole(request: Request, run_id: str, page: Paging, method: str) -> dict[str, Any]:
    """A page of a list the view builds whole (a handful of rows per instrument)."""
    state = api_state(request)
    await state.record(run_id)
    empty: list[dict[str, Any]] = []
    rows = await state.read_view(run_id, lambda v: list(getattr(v, method)()), empty)
    start = cursor_int(page)
    end = start + page.limit
    return _page(rows[start:end], end, len(rows))


@router.get("/api/runs/{run_id}/equity", response_model=list[EquityPoint],
            summary="Equity and drawdown at each account change, downsampled")
async def equity(request: Request, _caller: Viewer, run_id: RunId,
                 points: Annotated[int, Query(ge=2, le=100_000, description=(
                     "at most this many samples (the deepest of each stretch kept)"))] = 1000
                 ) -> list[dict[str, Any]]:
    state = api_state(request)
    await state.record(run_id)
    empty: list[dict[str, Any]] = []
    return await state.read_view(run_id, lambda v: v.equity_rows(points), empty)
