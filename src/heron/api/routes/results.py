"""A backtest's results: the metrics JSON and the self-contained HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from heron.api.auth import Viewer
from heron.api.errors import ApiError
from heron.api.routes.runs import RunId
from heron.api.state import api_state
from heron.node.runs import RunRecord

router = APIRouter(tags=["results"])


def _output(record: RunRecord, name: str, what: str) -> Path:
    path = Path(record.directory) / name
    if record.kind != "backtest":
        raise ApiError(404, f"run {record.run_id} is a {record.kind} run; only backtests "
                       f"write a {what}")
    if not path.is_file():
        raise ApiError(404, f"run {record.run_id} has no {what} yet (status "
                       f"{record.status}); a backtest writes it when it finishes")
    return path


@router.get("/api/runs/{run_id}/result", response_model=dict[str, Any],
            summary="A finished backtest's results (the --json document)")
async def result(request: Request, _caller: Viewer, run_id: RunId) -> dict[str, Any]:
    record = await api_state(request).record(run_id)
    path = _output(record, "result.json", "result")
    try:
        body: dict[str, Any] = await run_in_threadpool(lambda: json.loads(path.read_text()))
    except (OSError, ValueError):
        raise ApiError(404, f"run {run_id}'s result is not readable yet; try again "
                       "in a moment") from None
    return body


@router.get("/api/runs/{run_id}/report", response_class=FileResponse,
            responses={200: {"content": {"text/html": {}}, "description": "the report"}},
            summary="A finished backtest's HTML report")
async def report(request: Request, _caller: Viewer, run_id: RunId) -> FileResponse:
    record = await api_state(request).record(run_id)
    return FileResponse(_output(record, "report.html", "report"), media_type="text/html")
