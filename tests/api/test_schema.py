"""schemathesis against the real server's /openapi.json, with real runs in it: whatever it
generates, the API answers without a 5xx. Bounded: a few examples per operation, each
also sent to a finished run (so the generated parameters reach a real journal).

Driven through hypothesis directly (``operation.as_strategy()``): schemathesis's pytest
plugin does not run under this pytest."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from api.conftest import Home, served

#: the streams never end by themselves; test_sse covers them
STREAMS = r"/stream$"
EXAMPLES = 6


def _check(case: Any, finished: str) -> None:
    response = case.call(timeout=30)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if "run_id" in (case.path_parameters or {}):
        case.path_parameters["run_id"] = finished
        response = case.call(timeout=30)
        assert response.status_code < 500, (case.method, case.path, response.text[:500])


def test_no_generated_request_makes_the_api_fail(home: Home) -> None:
    with served(home.settings(), home.manager) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json").exclude(
            path_regex=STREAMS)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 28
        for operation in operations:
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                      database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def send(case: Any) -> None:
                _check(case, home.month)

            send()
