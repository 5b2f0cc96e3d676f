"""The FastAPI app of ``heron serve``: the API under ``/api``, the dashboard at ``/``.

:func:`create_app` wires the routes (one module per resource in
:mod:`heron.api.routes`, the SSE streams in :mod:`heron.api.sse`), the error body of
:mod:`heron.api.errors`, a request-size limit (413 before the body is read past the
limit), CORS only when origins are configured, and the built dashboard (``web/dist``)
with ``index.html`` for client-side routes, or a page saying how to build it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heron import __version__
from heron.api import sse
from heron.api.errors import ApiError, error_response, install_error_handlers
from heron.api.routes import (
    account,
    catalog,
    events,
    health,
    orders,
    results,
    runs,
    strategies,
    tokens,
)
from heron.api.settings import ServerSettings
from heron.api.state import ApiState
from heron.node.runs import RunManager

NO_DASHBOARD = """<!doctype html><html><head><meta charset="utf-8"><title>heron</title>
</head><body><h1>heron serve</h1><p>The dashboard is not built: run <code>make web</code>
(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload. The API is
at <a href="/docs">/docs</a> (schema: <a href="/openapi.json">/openapi.json</a>).</p>
</body></html>"""


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, by its Content-Length or, for
    a chunked body, as soon as the bytes read pass the limit."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        body = b""
        more = True
        while more:  # bodies are small here: read it whole, then hand it on
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "too_large", f"request body is over {self.limit} "
                                  "bytes; send a smaller one")
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, for streaming responses

    return replay


def _mount_dashboard(app: FastAPI, dist: Path) -> None:
    """``web/dist`` at ``/`` (index.html for every client route), or the build hint."""
    index = dist / "index.html"

    @app.get("/", include_in_schema=False, response_model=None)
    async def home() -> Response:
        return FileResponse(index) if index.is_file() else HTMLResponse(NO_DASHBOARD)

    @app.get("/{path:path}", include_in_schema=False, response_model=None)
    async def asset(path: str) -> Response:
        if path == "api" or path.startswith("api/") or not index.is_file():
            raise ApiError(404, "no such route; GET /openapi.json lists the routes")
        target = (dist / path).resolve()
        if target.is_file() and target.is_relative_to(dist.resolve()):
            return FileResponse(target)
        return FileResponse(index)


def create_app(manager: RunManager, settings: ServerSettings) -> FastAPI:
    """The app serving ``manager``'s runs as ``settings`` say."""
    state = ApiState(manager, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.ensure_started()
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(title="heron", version=__version__, lifespan=lifespan,
                  description="Runs, orders, accounts and live events of a heron server. "
                  "Money, prices and quantities are decimal strings; times are ns since "
                  "the epoch. Errors: {\"error\": {\"code\", \"message\", \"details\"}}.")
    app.state.heron = state
    install_error_handlers(app)
    for module in (health, runs, orders, account, events, results, strategies, catalog,
                   tokens):
        app.include_router(module.router)
    app.include_router(sse.router)
    _mount_dashboard(app, settings.web_dist)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
