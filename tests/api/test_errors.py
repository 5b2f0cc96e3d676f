"""One error body for every failure: malformed JSON, wrong types, unknown keys, bodies
too large, unknown routes and methods, heron's own errors by what the caller must do,
and a bug answered 500 without a word of its internals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from api.conftest import Home, api_client, error_code
from heron import errors
from heron.api.errors import heron_status, install_error_handlers

pytestmark = pytest.mark.anyio


async def test_malformed_and_mistyped_bodies_are_4xx_with_the_body(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        broken = await http.post("/api/runs", content=b'{"kind": "backtest",',
                                 headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and error_code(broken) == "bad_request"
        assert "malformed JSON" in broken.json()["error"]["message"]
        not_object = await http.post("/api/runs", json=["backtest"])
        assert not_object.status_code == 422 and error_code(not_object) == "invalid"
        wrong = await http.post("/api/runs", json={"kind": "backtest", "config": "",
                                                   "start": "perhaps"})
        assert wrong.status_code == 422
        problems = wrong.json()["error"]["details"]["errors"]
        assert [p["where"] for p in problems] == ["start"]
        assert wrong.json()["error"]["message"].startswith("start: ")
        empty = await http.post("/api/runs")
        assert empty.status_code == 422 and error_code(empty) == "invalid"


async def test_bodies_over_the_limit_are_413_before_they_are_read(home: Home) -> None:
    async with api_client(home.settings(max_body_bytes=1000), home.manager) as http:
        big = await http.post("/api/runs", json={"kind": "backtest", "config": "x" * 2000})
        assert big.status_code == 413 and error_code(big) == "too_large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
            for _ in range(10):
                yield b" " * 200

        chunked = await http.post("/api/runs", content=chunks(),
                                  headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413 and error_code(chunked) == "too_large"
        small = await http.post("/api/runs", json={"kind": "backtest", "config": "x = 1"})
        assert small.status_code == 422  # read whole and handed on below the limit


async def test_unknown_routes_and_methods_have_the_error_body(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        missing = await http.get("/api/nothing/here")
        assert missing.status_code == 404 and error_code(missing) == "not_found"
        method = await http.put("/api/runs")
        assert method.status_code == 405 and error_code(method) == "bad_request"
        assert "not allowed" in method.json()["error"]["message"]


def test_heron_errors_map_by_what_the_caller_must_do() -> None:
    assert heron_status(errors.RunNotFound("x")) == 404
    assert heron_status(errors.RunConflict("x")) == 409
    for exc in (errors.InvalidConfiguration("x"), errors.DataError("x"),
                errors.JournalError("x"), errors.InputError("x")):
        assert heron_status(exc) == 422
    assert heron_status(errors.VenueUnavailable("x")) == 503
    assert heron_status(errors.EngineError("x")) == 500


async def test_a_bug_is_500_with_a_reference_and_no_internals() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in /etc/secret.conf")

    @app.get("/engine")
    async def engine() -> None:
        raise errors.InvalidStateTransition("order H-1 internal detail")

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for path in ("/boom", "/engine"):
            answer = await http.get(path)
            assert answer.status_code == 500 and error_code(answer) == "internal"
            assert "hunter2" not in answer.text and "internal detail" not in answer.text
            assert "ref " in answer.json()["error"]["message"]
