"""A run's account as its journal tells it: fills, positions, balances, round trips, the
equity curve with its drawdown (:mod:`heron.api.read_models`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from heron.api.auth import Viewer
from heron.api.follow import JournalFollower
from heron.api.pages import (
    NewestFirst,
    PageParams,
    Paging,
    cursor_int,
    encode_cursor,
    window,
)
from heron.api.read_models import RunView, fill_row
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
from heron.core.journal import decode_record
from heron.model.events import OrderFilled

router = APIRouter(tags=["account"])


def _page(rows: list[dict[str, Any]], end: int, total: int) -> dict[str, Any]:
    return {"items": rows, "next_cursor": encode_cursor(str(end)) if end < total else None}


@router.get("/api/runs/{run_id}/fills", response_model=CountedPage[FillOut],
            summary="A run's fills, oldest first (or newest first)")
async def fills(request: Request, _caller: Viewer, run_id: RunId, page: Paging,
                newest_first: NewestFirst = False) -> dict[str, Any]:
    """Read from the journal by sequence number (a view keeps no fills), up to what the
    run's view has applied, so the page and the view's count agree."""
    state = api_state(request)
    await state.record(run_id)
    total, last = await state.read_view(run_id, lambda v: (v.fill_count, v.last_seq), (0, 0))
    follower = await state.hub.follower(run_id)
    cursor = cursor_int(page, last + 1 if newest_first else 0)
    rows = await state.hub.run(_fills, follower, cursor, page.limit + 1, newest_first, last)
    more = len(rows) > page.limit
    rows = rows[:page.limit]
    return {"items": rows, "total": total,
            "next_cursor": encode_cursor(str(rows[-1]["seq"])) if more else None}


def _fills(follower: JournalFollower, cursor: int, limit: int, newest_first: bool,
           last: int) -> list[dict[str, Any]]:
    source, encoder = follower.source, follower.get_encoder()
    if encoder is None or last == 0:
        return []
    if newest_first:
        found = source.read_type_before(min(cursor, last + 1), limit, "OrderFilled")
    else:
        found = [r for r in source.read_type(cursor, limit, "OrderFilled") if r[0] <= last]
    fills = ((seq, decode_record(payload)) for seq, _ts, _t, payload in found)
    return [fill_row(encoder, seq, fill) for seq, fill in fills
            if isinstance(fill, OrderFilled)]


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
    return await state.read_view(run_id, lambda v: trip_page(v, page, newest_first),
                                 {"items": [], "total": 0, "next_cursor": None})


def trip_page(view: RunView, page: PageParams, newest_first: bool) -> dict[str, Any]:
    """A page of the run's round trips, cursored by position in the whole run's list:
    the closed trips a paper or live view let go of still count, so a page never
    shifts while the run trades."""
    total = view.round_trip_count()
    first = total - view.kept_round_trips()
    start, end, nxt = window(page, total, newest_first, first)
    rows = view.round_trip_rows(start - first, end - first)
    return {"items": rows[::-1] if newest_first else rows, "total": total,
            "next_cursor": None if nxt is None else encode_cursor(str(nxt))}


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
