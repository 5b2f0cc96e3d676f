"""Who is calling, and may they: bearer tokens, roles, and the loopback rule.

A request carries a token as ``Authorization: Bearer <secret>``, or as ``?token=`` where
it cannot set headers (a browser's EventSource). A request *with* a token always gets
that token's role, and a token that is unknown or revoked is refused (401) even where
none is needed. A request *without* one acts as the local user (admin) only when the
server binds a loopback address, was not started with ``--require-token``, and the
request itself comes from this machine; anywhere else it is refused (401). Roles are
ordered viewer < trader < admin; too low a role is a 403 naming the role needed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from heron.api.errors import ApiError
from heron.api.settings import LOOPBACK_HOSTS
from heron.api.state import ApiState, api_state
from heron.api.tokens import role_allows

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    """The identity a request acts with."""

    role: str
    token_id: str | None
    name: str

    @property
    def actor(self) -> str:
        """How interventions by this caller are recorded in the audit log."""
        if self.token_id is None:
            return "api:local"
        return f"api:{self.name or self.token_id}"


def _secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Authorization header must be 'Bearer <secret>'",
                           headers=_CHALLENGE)
        return value.strip()
    token = request.query_params.get("token")
    return token or None


def _from_loopback(request: Request) -> bool:
    client = request.client
    return client is not None and client.host in LOOPBACK_HOSTS


async def identify(request: Request) -> Caller:
    """The caller of ``request`` (401 when it has no valid identity)."""
    state: ApiState = api_state(request)
    state.ensure_started()
    secret = _secret(request)
    if secret is not None:
        info = await run_in_threadpool(state.tokens.verify, secret[:512])
        if info is None:
            raise ApiError(401, "token is not valid (unknown or revoked); create one with "
                           "`heron token create --role viewer`", headers=_CHALLENGE)
        return Caller(info.role, info.token_id, info.name)
    if state.settings.open_locally and _from_loopback(request):
        return Caller("admin", None, "local")
    raise ApiError(401, "a token is required; pass Authorization: Bearer <secret> (or "
                   "?token=<secret>), created with `heron token create --role viewer`",
                   headers=_CHALLENGE)


def require(role: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets ``role`` or a wider one through (403 otherwise)."""

    async def check(caller: Annotated[Caller, Depends(identify)]) -> Caller:
        if not role_allows(caller.role, role):
            raise ApiError(403, f"this needs the {role} role; the token has {caller.role}",
                           details={"needed": role, "role": caller.role})
        return caller

    return check


Viewer = Annotated[Caller, Depends(require("viewer"))]
Trader = Annotated[Caller, Depends(require("trader"))]
Admin = Annotated[Caller, Depends(require("admin"))]
