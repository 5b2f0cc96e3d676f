"""Is the server up, and who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from heron import __version__
from heron.api.auth import Viewer
from heron.api.schemas import Health, Me
from heron.api.state import api_state

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=Health, summary="Server health and run counts")
async def health(request: Request, _caller: Viewer) -> dict[str, Any]:
    counts = await run_in_threadpool(api_state(request).manager.counts)
    return {"status": "ok", "version": __version__, "runs": counts}


@router.get("/api/me", response_model=Me, summary="The caller's role")
async def me(caller: Viewer) -> dict[str, Any]:
    return {"role": caller.role, "token_id": caller.token_id}
