"""Runs: create from a config, start, stop, kill, resume, list, inspect, status.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Body, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from heron.api.auth import Admin, Trader, Viewer
from heron.api.errors import ApiError
from heron.api.pages import Paging, decode_cursor, encode_cursor
from heron.api.schemas import CreateRun, KillRun, Page, ResumeRun, RunOut
from heron.api.sse import RUN_ID
from heron.api.state import ApiState, api_state
from heron.node.control import read_status
from heron.node.run_summary import backtest_summary, status_overlay, status_summary
from heron.node.runs import RunManager, RunRecord

router = APIRouter(tags=["runs"])
RunId = Annotated[str, PathParam(pattern=RUN_ID, description="the run's id")]
Status = Literal["created", "running", "stopping", "finished", "failed", "stopped", "killed"]
Kind = Literal["backtest", "paper", "live"]


def run_out(record: RunRecord, summary: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(record)
    out["summary"] = summary
    return out


async def run_summary(state: ApiState, record: RunRecord) -> dict[str, Any] | None:
    """Equity, PnL, trading state and exposure, by :mod:`heron.node.run_summary`'s rules:
    a finished backtest's result; a paper or live run's status.json, laid over its
    journal view's figures when it is from a heron that did not write the PnL."""
    if record.kind == "backtest":
        return await run_in_threadpool(backtest_summary, Path(record.directory))
    status = await run_in_threadpool(read_status, Path(record.directory) / "state")
    own = status_summary(status) if status is not None else None
    if own is not None:
        return own
    summary = await state.read_view(record.run_id, lambda v: v.summary(), None)
    if status is None or summary is None:
        return summary
    return {**summary, **status_overlay(status, summary)}


@router.get("/api/runs", response_model=Page[RunOut], summary="List runs, newest first")
async def list_runs(request: Request, _caller: Viewer, page: Paging,
                    status: Status | None = None, kind: Kind | None = None) -> dict[str, Any]:
    state = api_state(request)
    after = decode_cursor(page.cursor) if page.cursor is not None else None
    records = await run_in_threadpool(lambda: state.manager.list(
        status=status, kind=kind, limit=page.limit + 1, after=after))
    more = len(records) > page.limit
    records = records[:page.limit]
    items = [run_out(r, await run_summary(state, r)) for r in records]
    return {"items": items,
            "next_cursor": encode_cursor(records[-1].run_id) if more else None}


@router.post("/api/runs", status_code=201, response_model=RunOut,
             summary="Create a run from its TOML config (and start it)")
async def create_run(request: Request, _caller: Trader, body: CreateRun) -> dict[str, Any]:
    state = api_state(request)
    record = await run_in_threadpool(lambda: state.manager.create(
        body.kind, body.config, name=body.name))
    state.watcher.announce(record)
    if body.start:
        record = await run_in_threadpool(state.manager.start, record.run_id)
        state.watcher.announce(record)
    return run_out(record, None)


@router.get("/api/runs/{run_id}", response_model=RunOut, summary="One run")
async def get_run(request: Request, _caller: Viewer, run_id: RunId) -> dict[str, Any]:
    state = api_state(request)
    record = await state.record(run_id)
    return run_out(record, await run_summary(state, record))


@router.post("/api/runs/{run_id}/start", response_model=RunOut, summary="Start a created run")
async def start_run(request: Request, _caller: Trader, run_id: RunId) -> dict[str, Any]:
    return await _change(api_state(request), lambda m: m.start(run_id))


@router.post("/api/runs/{run_id}/stop", response_model=RunOut,
             summary="Stop a running run cleanly")
async def stop_run(request: Request, _caller: Trader, run_id: RunId) -> dict[str, Any]:
    return await _change(api_state(request), lambda m: m.stop(run_id))


@router.post("/api/runs/{run_id}/kill", response_model=RunOut,
             summary="Kill switch: halt a paper/live run (flatten?), end a backtest")
async def kill_run(request: Request, caller: Trader, run_id: RunId,
                   body: Annotated[KillRun | None, Body()] = None) -> dict[str, Any]:
    kill = body or KillRun()
    reason = kill.reason or "killed from the API"
    return await _change(api_state(request), lambda m: m.kill(
        run_id, flatten=kill.flatten, actor=caller.actor, reason=reason))


@router.post("/api/runs/{run_id}/resume", response_model=RunOut,
             summary="Resume a halted paper/live run (admin)")
async def resume_run(request: Request, caller: Admin, run_id: RunId,
                     body: Annotated[ResumeRun | None, Body()] = None) -> dict[str, Any]:
    reason = (body.reason if body is not None else None) or "resumed from the API"
    return await _change(api_state(request), lambda m: m.resume(
        run_id, actor=caller.actor, reason=reason))


async def _change(state: ApiState, change: Callable[[RunManager], RunRecord]
                  ) -> dict[str, Any]:
    """Apply a life-cycle change to a run (off the event loop: it may wait for the run),
    tell the streams, answer with the run."""
    record = await run_in_threadpool(change, state.manager)
    state.watcher.announce(record)
    return run_out(record, None)


@router.get("/api/runs/{run_id}/status", response_model=dict[str, Any],
            summary="A paper or live run's status.json")
async def run_status(request: Request, _caller: Viewer, run_id: RunId) -> dict[str, Any]:
    record = await api_state(request).record(run_id)
    if record.kind == "backtest":
        raise ApiError(404, f"run {run_id} is a backtest; only paper and live runs write a "
                       "status (see /result)")
    status = await run_in_threadpool(read_status, Path(record.directory) / "state")
    if status is None:
        raise ApiError(404, f"run {run_id} has written no status yet (status "
                       f"{record.status}); it writes one about every second while running")
    return status

