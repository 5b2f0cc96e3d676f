"""A run's journal records, a page at a time (what the SSE stream sends, for catching up
by hand or listing the history of one record type)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from heron.api.auth import Viewer
from heron.api.follow import JournalFollower
from heron.api.pages import Paging, cursor_int, encode_cursor
from heron.api.routes.runs import RunId
from heron.api.schemas import EventOut, Page
from heron.api.state import api_state
from heron.core.journal import decode_record

router = APIRouter(tags=["events"])
RecordType = Literal[
    "SubmitOrder", "CancelOrder", "AmendOrder", "CancelAllOrders", "OrderSubmitted",
    "OrderDenied", "OrderAccepted", "OrderRejected", "OrderTriggered", "OrderCancelRequested",
    "OrderCanceled", "OrderCancelRejected", "OrderUpdateRequested", "OrderUpdated",
    "OrderUpdateRejected", "OrderExpired", "OrderFilled", "FundingApplied",
    "PositionLiquidated", "AccountState", "TradingStateChanged", "ClientIdsReserved"]


def _read(follower: JournalFollower, after: int, limit: int, kind: str | None
          ) -> list[dict[str, Any]]:
    source = follower.source
    rows = source.read(after, limit) if kind is None else source.read_type(after, limit, kind)
    encoder = follower.get_encoder()
    if encoder is None:
        return []
    return [encoder.event(seq, decode_record(payload)) for seq, _ts, _t, payload in rows]


@router.get("/api/runs/{run_id}/events", response_model=Page[EventOut],
            summary="A run's journal records after a sequence number")
async def events(request: Request, _caller: Viewer, run_id: RunId, page: Paging,
                 after: Annotated[int, Query(ge=0, le=2**62, description="seq to start "
                                             "after")] = 0,
                 type: Annotated[RecordType | None, Query(description=(
                     "only records of this type"))] = None) -> dict[str, Any]:
    state = api_state(request)
    follower = await state.hub.follower(run_id)
    start = cursor_int(page, after)
    rows = await state.hub.run(_read, follower, start, page.limit + 1, type)
    more = len(rows) > page.limit
    rows = rows[:page.limit]
    return {"items": rows,
            "next_cursor": encode_cursor(str(rows[-1]["seq"])) if more else None}
