"""Orders: listed from the journals (one run or all), placed and canceled by hand on
paper and live runs through the run's own risk engine (:mod:`heron.node.control`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from heron.api.auth import Trader, Viewer
from heron.api.errors import ApiError
from heron.api.pages import NewestFirst, Paging, cursor_int, decode_cursor, encode_cursor
from heron.api.read_models import RunView
from heron.api.routes.runs import RunId
from heron.api.schemas import CommandOut, CountedPage, ErrorBody, OrderOut, Page, PlaceOrder
from heron.api.state import ApiState, api_state
from heron.errors import InputError
from heron.model.orders import Order, OrderStatus
from heron.node.control import CommandReply, ManualCommand, send_command
from heron.node.runs import RunRecord

router = APIRouter(tags=["orders"])
OrderStatusFilter = Literal[
    "open", "closed", "initialized", "submitted", "denied", "accepted", "rejected",
    "triggered", "pending_cancel", "pending_update", "partially_filled", "filled",
    "canceled", "expired"]
Since = Annotated[int | None, Query(ge=0, description="created at or after (ns)")]
Until = Annotated[int | None, Query(ge=0, description="created at or before (ns)")]
Symbol = Annotated[str | None, Query(max_length=64, description="symbol or instrument id")]
COMMAND_TIMEOUT_S = 2.0
Found = tuple[list[dict[str, Any]], int | None]
NOTHING: Found = ([], None)


@dataclass(frozen=True)
class OrderFilter:
    status: str | None
    symbol: str | None
    since: int | None
    until: int | None

    def matches(self, view: RunView, order: Order) -> bool:
        status = order.status
        if self.status == "open" and not status.is_open:
            return False
        if self.status == "closed" and not status.is_closed:
            return False
        if self.status not in (None, "open", "closed") and status != OrderStatus(self.status):
            return False
        if self.symbol is not None and self.symbol not in (
                order.instrument_id, view.encoder.instruments[order.instrument_id].symbol):
            return False
        return (self.since is None or order.ts_init >= self.since) and (
            self.until is None or order.ts_init <= self.until)


def scan(view: RunView, run_id: str, wanted: OrderFilter, after: int, limit: int,
         newest_first: bool = False) -> Found:
    """Up to ``limit`` matching orders created after order number ``after``, in the
    order they were created, or before it when newest first (-1: from the newest); the
    number to go on from, or None at the end.
    Creation numbers do not move when a paper or live view lets go of old closed
    orders, so a page never skips nor repeats one."""
    number = view.order_no
    source: Any = view.om.orders.values()
    if wanted.status == "open":  # few: in creation order, as the whole list
        source = sorted(view.om.open_orders.values(),
                        key=lambda o: number.get(o.client_order_id, 0))
    orders = reversed(source) if newest_first else source
    found: list[dict[str, Any]] = []
    last = 0
    for order in orders:
        no = number.get(order.client_order_id, 0)
        if (no >= after >= 0) if newest_first else (no <= after):
            continue
        if not wanted.matches(view, order):
            continue
        if len(found) == limit:
            return found, last
        found.append({"run_id": run_id, **view.order_row(order)})
        last = no
    return found, None


def _total(view: RunView, wanted: OrderFilter) -> int | None:
    """The list's length where it is known without reading it all."""
    if wanted.symbol is None and wanted.since is None and wanted.until is None:
        if wanted.status is None:
            return view.order_count
        if wanted.status == "open":
            return len(view.om.open_orders)
    return None


@router.get("/api/runs/{run_id}/orders", response_model=CountedPage[OrderOut],
            summary="A run's orders, oldest first (or newest first)")
async def run_orders(request: Request, _caller: Viewer, run_id: RunId, page: Paging,
                     status: OrderStatusFilter | None = None, symbol: Symbol = None,
                     since: Since = None, until: Until = None,
                     newest_first: NewestFirst = False) -> dict[str, Any]:
    state = api_state(request)
    await state.record(run_id)
    wanted = OrderFilter(status, symbol, since, until)
    start = cursor_int(page, -1 if newest_first else 0)

    def read(view: RunView) -> tuple[Found, int | None]:
        return scan(view, run_id, wanted, start, page.limit, newest_first), \
            _total(view, wanted)

    nothing: tuple[Found, int | None] = (NOTHING, 0)
    (items, nxt), total = await state.read_view(run_id, read, nothing)
    return {"items": items, "total": total,
            "next_cursor": None if nxt is None else encode_cursor(str(nxt))}


@router.get("/api/orders", response_model=Page[OrderOut],
            summary="Orders across runs (newest run first)")
async def all_orders(request: Request, _caller: Viewer, page: Paging,
                     run: Annotated[str | None, Query(max_length=64)] = None,
                     status: OrderStatusFilter | None = None, symbol: Symbol = None,
                     since: Since = None, until: Until = None) -> dict[str, Any]:
    state = api_state(request)
    wanted = OrderFilter(status, symbol, since, until)
    runs = [await state.record(run)] if run is not None else await run_in_threadpool(
        lambda: state.manager.list(limit=1000))
    run_ids = [r.run_id for r in runs]
    first, start = _across_cursor(page.cursor, run_ids)
    items: list[dict[str, Any]] = []
    for k in range(first, len(run_ids)):
        run_id = run_ids[k]
        got, nxt = await state.read_view(run_id, functools.partial(
            scan, run_id=run_id, wanted=wanted, after=start, limit=page.limit - len(items)),
            NOTHING)
        items += got
        start = 0
        if nxt is not None:
            return {"items": items, "next_cursor": encode_cursor(f"{run_id}/{nxt}")}
    return {"items": items, "next_cursor": None}


def _across_cursor(cursor: str | None, run_ids: list[str]) -> tuple[int, int]:
    if cursor is None:
        return 0, 0
    run_id, _, index = decode_cursor(cursor).rpartition("/")
    if run_id not in run_ids or not index.isdigit():
        raise ApiError(400, "cursor is not valid; pass the next_cursor of the previous page, "
                       "or none for the first page")
    return run_ids.index(run_id), int(index)


def _trading_state_dir(record: RunRecord) -> Path:
    if record.kind == "backtest":
        raise ApiError(409, f"run {record.run_id} is a backtest; orders are placed on paper "
                       "and live runs")
    if record.status != "running":
        raise ApiError(409, f"run {record.run_id} is not running (status {record.status}); "
                       "orders go to a running paper or live run")
    return Path(record.directory) / "state"


async def _send(state: ApiState, record: RunRecord, command: ManualCommand
                ) -> CommandReply | None:
    state_dir = _trading_state_dir(record)
    try:
        return await run_in_threadpool(lambda: send_command(
            state_dir, command, timeout_s=COMMAND_TIMEOUT_S))
    except InputError as exc:
        raise ApiError(409, f"run {record.run_id} is not taking commands: {exc}") from None


def _answer(reply: CommandReply | None, status: int) -> JSONResponse:
    if reply is None:
        return JSONResponse({"command_id": None, "ok": None, "pending": True,
                             "client_order_id": None, "rule": None,
                             "message": "the run took the command and has not answered "
                                        "yet; its events will show the outcome"},
                            status_code=202)
    body = {"command_id": reply.command_id, "ok": reply.ok, "pending": False,
            "client_order_id": reply.client_order_id, "rule": reply.rule,
            "message": reply.message}
    if not reply.ok:
        raise ApiError(422, reply.message, details=body)
    return JSONResponse(body, status_code=status)


_REFUSALS: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandOut, "description": "taken, not answered yet (pending)"},
    409: {"model": ErrorBody}, 422: {"model": ErrorBody}}


@router.post("/api/runs/{run_id}/orders", status_code=201, response_model=CommandOut,
             responses=_REFUSALS, summary="Place a manual order on a paper or live run")
async def place_order(request: Request, caller: Trader, run_id: RunId,
                      body: PlaceOrder) -> JSONResponse:
    state = api_state(request)
    record = await state.record(run_id)
    command = ManualCommand(
        action="place", symbol=body.symbol, side=body.side, type=body.type,
        quantity=body.quantity, price=body.price, trigger_price=body.trigger_price,
        time_in_force=body.time_in_force.upper(), post_only=body.post_only,
        reduce_only=body.reduce_only, client_order_id=body.client_order_id,
        actor=caller.actor)
    return _answer(await _send(state, record, command), 201)


@router.delete("/api/runs/{run_id}/orders/{client_order_id}", response_model=CommandOut,
               responses=_REFUSALS, summary="Cancel an open order of a paper or live run")
async def cancel_order(request: Request, caller: Trader, run_id: RunId,
                       client_order_id: Annotated[str, PathParam(
                           max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]) -> JSONResponse:
    state = api_state(request)
    record = await state.record(run_id)
    _trading_state_dir(record)
    known = await state.read_view(run_id, lambda v: client_order_id in v.om.orders, False)
    if not known:  # placed a moment ago? read what the run committed since
        await (await state.hub.follower(run_id)).poll()
        known = await state.read_view(run_id, lambda v: client_order_id in v.om.orders, False)
    if not known:
        raise ApiError(404, f"run {run_id} has no order {client_order_id!r}; list them with "
                       f"GET /api/runs/{run_id}/orders")
    command = ManualCommand(action="cancel", client_order_id=client_order_id,
                            actor=caller.actor)
    return _answer(await _send(state, record, command), 200)
