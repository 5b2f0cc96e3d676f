"""A live run killed at a random moment, with requests in flight and the venue's faults
armed, then restarted.

Property (hypothesis): whatever heron's commands before the crash (resting limits, market
orders, cancels, amends), wherever the process dies (before or after their answers, a
placement's reply lost, a 5xx, a 429 burst, replies slowed), with trades printing at the
venue meanwhile, after the restart (journal restored, REST catch-up, reconciliation):
heron's position, open orders and wallet balance equal the venue's, each heron client id
is at most one venue order, none was refused as a duplicate, the restart itself sent no
order, and the next order it sends is a new one (an id no lost order had). The first
process is a real child process that ends with ``os._exit``: what its journal had not
committed is lost, as in a kill -9.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_live_restart import (
    KEY,
    SECRET,
    heron_state,
    rest_a_sell,
    run_engine,
    venue_state,
)

from conftest import loopback_exchange
from heron.model.orders import OrderStatus

PLACE = ("POST", "/fapi/v1/order")
#: the first process: the commands (between pauses), then death, whatever is in flight
CHILD = """
import asyncio, json, os, sys, types
from pathlib import Path
sys.path[:0] = [sys.argv[3], sys.argv[3] + "/node", sys.argv[3] + "/execution"]
import test_live_restart as restart
from test_live_faults_property import _send_command

async def body(engine):
    for kind, arg, extra in json.loads(sys.argv[4]):
        if kind == "pause":
            await asyncio.sleep(arg)
        else:
            _send_command(engine, kind, arg, extra)
    os._exit(9)

asyncio.run(restart.run_engine(types.SimpleNamespace(url=sys.argv[1]), Path(sys.argv[2]),
                               body))
"""

sizes = st.sampled_from(["0.001", "0.002"])
command = st.one_of(
    st.tuples(st.just("rest"), st.sampled_from([("buy", "61500"), ("sell", "62000"),
                                                ("sell", "62100")]), sizes),
    st.tuples(st.just("take"), st.sampled_from(["buy", "sell"]), st.just("0.001")),
    st.tuples(st.just("cancel"), st.integers(0, 5), st.none()),
    st.tuples(st.just("amend"), st.integers(0, 5), st.sampled_from(["50", "-50"])),
    st.tuples(st.just("pause"), st.sampled_from([0.0, 0.01, 0.05, 0.2]), st.none()),
)
faults = st.fixed_dictionaries({
    "lose_responses": st.integers(0, 2), "server_errors": st.integers(0, 2),
    "rate_limits": st.integers(0, 2), "latency_ms": st.sampled_from([0.0, 20.0]),
})
trades = st.lists(st.tuples(st.sampled_from(["62050", "62150", "61450"]),
                            st.sampled_from(["0.001", "0.003"]),
                            st.sampled_from([0.0, 0.05, 0.3])), max_size=3)


def _print_trades(server: Any, plan: list[tuple[str, str, float]]) -> threading.Thread:
    """Trades at the venue while the first process runs (each after its delay)."""
    def run() -> None:
        for price, size, delay in plan:
            time.sleep(delay)
            server.call(lambda p=price, s=size: server.account.print_trade(Decimal(p),
                                                                          Decimal(s)))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(command, min_size=1, max_size=10), armed=faults, plan=trades)
def test_a_run_killed_mid_flight_restarts_to_the_venues_truth(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any, Any]],
        armed: dict[str, Any], plan: list[tuple[str, str, float]]) -> None:
    state_dir = tmp_path_factory.mktemp("crash")
    with loopback_exchange(KEY, SECRET) as server:
        server.faults.retry_after_s = 0
        for name, value in armed.items():
            setattr(server.faults, name, value)
        printer = _print_trades(server, plan)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, server.url, str(state_dir),
             str(Path(__file__).parents[1]), json.dumps(steps)],
            check=False, capture_output=True, text=True, timeout=120)
        printer.join()
        assert child.returncode == 9, child.stderr[-3000:]
        time.sleep(0.3)  # a request the dead process had in flight: handled by now
        server.faults.lose_responses = server.faults.server_errors = 0
        server.faults.rate_limits, server.faults.latency_ms = 0, 0.0
        placed = sum(1 for m, p, _ in server.requests if (m, p) == PLACE)

        sent: list[str] = []

        async def one_more(engine: Any) -> None:
            placed_by_restart.append(sum(1 for m, p, _ in server.requests if (m, p) == PLACE))
            sent.append(rest_a_sell(engine, "63000"))
            await engine.execution.drain()
            await engine.execution.catch_up()

        placed_by_restart: list[int] = []
        resumed = asyncio.run(run_engine(server, state_dir, one_more))
        assert placed_by_restart == [placed]      # restoring and reconciling sent nothing
        assert resumed.om.orders[sent[0]].status is OrderStatus.ACCEPTED  # a new order
        assert heron_state(resumed) == venue_state(server, resumed)
        ids = server.call(lambda: [o.client_id for o in server.account.orders.values()])
        assert [cid for cid, n in Counter(ids).items() if n > 1] == []
        assert [r for r in server.refused if r[2] == -4116] == []
        venue_fills = server.call(lambda: len(server.account.trades))
        assert len(resumed.om.trade_ids) == venue_fills
