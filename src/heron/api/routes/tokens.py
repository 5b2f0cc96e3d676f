"""API tokens (admin): list, create (the secret is shown once), revoke."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from heron.api.auth import Admin
from heron.api.errors import ApiError
from heron.api.pages import Paging, page_of
from heron.api.schemas import CreateToken, Page, TokenCreated, TokenOut
from heron.api.state import api_state

router = APIRouter(tags=["tokens"])


@router.get("/api/tokens", response_model=Page[TokenOut], summary="Live tokens (admin)")
async def list_tokens(request: Request, _caller: Admin, page: Paging) -> dict[str, Any]:
    tokens = await run_in_threadpool(api_state(request).tokens.list)
    return page_of([msgspec.to_builtins(t) for t in tokens], page)


@router.post("/api/tokens", status_code=201, response_model=TokenCreated,
             summary="Create a token (admin); its secret is in this answer only")
async def create_token(request: Request, _caller: Admin, body: CreateToken) -> dict[str, Any]:
    store = api_state(request).tokens
    info, secret = await run_in_threadpool(lambda: store.create(body.role, body.name))
    return {"token": msgspec.to_builtins(info), "secret": secret}


@router.delete("/api/tokens/{token_id}", status_code=204, response_class=Response,
               summary="Revoke a token (admin)")
async def revoke_token(request: Request, _caller: Admin,
                       token_id: Annotated[str, Path(max_length=64)]) -> Response:
    store = api_state(request).tokens
    if not await run_in_threadpool(store.revoke, token_id):
        raise ApiError(404, f"no live token {token_id!r}; GET /api/tokens lists them")
    return Response(status_code=204)
