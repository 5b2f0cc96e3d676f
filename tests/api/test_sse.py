"""Live events over SSE from a real uvicorn server: a run's stream and every run's, resumed
after a disconnect with Last-Event-ID with no gap and no duplicate, following journals a
process is writing (and rebuilding), slow clients dropped and resuming."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from api.conftest import Home, SseEvent, api_client, error_code, served, sse_events
from heron.api.journal_rows import SqliteRows
from heron.core.journal_store import JournalReader
from managed_runs import wait_until

pytestmark = pytest.mark.anyio
WRITER = Path(__file__).with_name("journal_writer.py")


def _month(home: Home) -> tuple[str, int]:
    location, _ = home.manager.journal_location(home.month)
    return location, JournalReader(location).record_count


def _writer(src: str, dst: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WRITER), src, str(dst), *extra])


def _new_paper(home: Home) -> tuple[str, Path]:
    """A created paper run whose journal this test writes, as its process would."""
    from api.conftest import PAPER_CONFIG

    run_id = home.manager.create("paper", PAPER_CONFIG).run_id
    location, _ = home.manager.journal_location(run_id)
    return run_id, Path(location)


async def _records(http: httpx.AsyncClient, url: str, *, stop_after: int | None = None,
                   headers: dict[str, str] | None = None, until_seq: int | None = None
                   ) -> tuple[list[SseEvent], bool]:
    """Record events of one connection: until ``stop_after`` of them (then disconnect),
    ``until_seq`` is delivered, or the server ends the stream (True: it ended)."""
    got: list[SseEvent] = []
    async with http.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for event in sse_events(response):
            if event.event != "record":
                continue
            got.append(event)
            if len(got) == stop_after or (until_seq is not None
                                          and event.json()["seq"] >= until_seq):
                return got, False
    return got, True


async def test_a_run_stream_resumes_after_a_disconnect_with_no_gap(home: Home) -> None:
    _, count = _month(home)
    with served(home.settings(), home.manager) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            stream = f"/api/runs/{home.month}/stream"
            first, _ = await _records(http, stream, stop_after=1000)
            resumed, _ = await _records(http, stream, until_seq=2000,
                                        headers={"Last-Event-ID": first[-1].id or ""})
            rest, _ = await _records(http, f"{stream}?last_event_id={resumed[-1].id}",
                                     until_seq=count)
    events = first + resumed + rest
    assert [int(e.id or 0) for e in events] == list(range(1, count + 1))
    body = events[4].json()
    assert (body["run_id"], body["seq"]) == (home.month, 5)
    assert body["type"] in {"SubmitOrder", "OrderSubmitted", "OrderAccepted", "OrderFilled",
                            "TradingStateChanged"}
    fill = next(e.json() for e in events if e.json()["type"] == "OrderFilled")
    assert Decimal(fill["record"]["last_px"]) > 0 and isinstance(
        fill["record"]["last_px"], str)


async def test_a_run_stream_follows_a_journal_being_written_and_rebuilt(home: Home) -> None:
    src, count = _month(home)
    run_id, journal = _new_paper(home)
    with served(home.settings(), home.manager) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            stream = f"/api/runs/{run_id}/stream"
            async with http.stream("GET", stream) as response:
                writer = _writer(src, journal, "--per", "60", "--pause", "0.01",
                                 "--rebuild-at", "1200")
                first: list[SseEvent] = []
                async for event in sse_events(response):
                    if event.event == "record":
                        first.append(event)
                        if len(first) == 800:
                            break
            rest = await _resume(http, stream, int(first[-1].id or 0), count)
            assert writer.wait(60) == 0
    assert [int(e.id or 0) for e in first + rest] == list(range(1, count + 1))
    assert (journal.parent / "journal.prev.sqlite").exists()


async def _resume(http: httpx.AsyncClient, stream: str, last: int, count: int
                  ) -> list[SseEvent]:
    """Reconnect with Last-Event-ID until seq ``count``, as EventSource does: the server
    ends a stream whose history is not all readable yet (a journal being rebuilt)."""
    got: list[SseEvent] = []
    for _ in range(200):
        more, _ended = await _records(http, stream, until_seq=count,
                                      headers={"Last-Event-ID": str(last)})
        got += more
        last = int(got[-1].id or 0) if got else last
        if last >= count:
            return got
    raise AssertionError(f"stream stuck at seq {last}")


async def test_from_end_skips_the_history(home: Home) -> None:
    src, count = _month(home)
    run_id, journal = _new_paper(home)
    rows = SqliteRows(journal)
    with served(home.settings(), home.manager) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            writer = _writer(src, journal, "--per", "20", "--pause", "0.01")
            wait_until(lambda: rows.last_seq() >= 500, "500 records written")
            got, _ = await _records(http, f"/api/runs/{run_id}/stream?from=end",
                                    until_seq=count)
            assert writer.wait(60) == 0
    rows.close()
    seqs = [int(e.id or 0) for e in got]
    assert seqs[0] > 500 and seqs == list(range(seqs[0], count + 1))


async def test_every_run_stream_follows_new_runs_and_resumes_by_vector(home: Home) -> None:
    src, count = _month(home)
    with served(home.settings(), home.manager) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            events: list[SseEvent] = []
            async with http.stream("GET", "/api/stream") as response:
                made = await http.post("/api/runs", json={
                    "kind": "paper", "start": False,
                    "config": 'strategy = "sma_cross"\nvenue = "binanceusdm"\n'
                              'symbol = "BTC/USDT:USDT"\n'})
                run_id = made.json()["run_id"]
                journal = Path(made.json()["directory"]) / "state" / "journal.sqlite"
                writer = _writer(src, journal, "--per", "50", "--pause", "0.005")
                async for event in sse_events(response):
                    events.append(event)
                    if sum(e.event == "record" for e in events) == 700:
                        break
            records = [e for e in events if e.event == "record"]
            last_id = records[-1].id or ""
            rest, _ = await _records(http, "/api/stream", until_seq=count,
                                     headers={"Last-Event-ID": last_id})
            assert writer.wait(60) == 0
    assert any(e.event == "run" and e.json()["run_id"] == run_id for e in events)
    mine = [e.json() for e in records + rest]
    assert {m["run_id"] for m in mine} == {run_id}  # finished runs started at their end
    assert [m["seq"] for m in mine] == list(range(1, count + 1))
    vector = dict(part.rsplit(":", 1) for part in (rest[-1].id or "").split(";"))
    assert vector[run_id] == str(count) and vector[home.month] == str(count)


async def test_a_client_too_far_behind_is_dropped_and_resumes(home: Home) -> None:
    src, count = _month(home)
    run_id, journal = _new_paper(home)
    settings = home.settings(sse_queue_events=50)
    with served(settings, home.manager) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            stream = f"/api/runs/{run_id}/stream"
            seqs: list[int] = []
            drops = 0
            async with http.stream("GET", stream) as response:
                writer = _writer(src, journal, "--per", "500", "--pause", "0.05")
                async for event in sse_events(response):  # a commit of 500: over 50
                    seqs.append(int(event.id or 0))
            drops += 1
            while not seqs or seqs[-1] < count:
                got, ended = await _records(http, stream, until_seq=count,
                                            headers={"Last-Event-ID": str(seqs[-1] if seqs
                                                                          else 0)})
                seqs += [int(e.id or 0) for e in got]
                drops += ended
                assert drops < 200
            assert writer.wait(60) == 0
    assert seqs == list(range(1, count + 1)) and drops >= 1


async def test_stream_requests_that_cannot_be_served_are_refused(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        run = f"/api/runs/{home.month}/stream"
        bad = await http.get(run, headers={"Last-Event-ID": "abc"})
        assert bad.status_code == 400 and error_code(bad) == "bad_request"
        assert (await http.get(f"{run}?last_event_id=-3")).status_code == 400
        assert (await http.get(f"{run}?from=middle")).status_code == 422
        missing = await http.get("/api/runs/pp-19990101-000000-0000/stream")
        assert missing.status_code == 404
        vector = await http.get("/api/stream", headers={"Last-Event-ID": "no-seq;x:1"})
        assert vector.status_code == 400
    async with api_client(home.settings(require_token=True), home.manager) as http:
        assert (await http.get(run)).status_code == 401
        assert (await http.get("/api/stream?token=heron_wrong")).status_code == 401


async def test_a_quiet_stream_gets_ping_comments(home: Home) -> None:
    with served(home.settings(sse_ping_s=0.2), home.manager) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http, http.stream(
                "GET", f"/api/runs/{home.month}/stream?from=end") as response:
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line == ": ping":
                    break
    assert lines[0] == "retry: 1000" and "event: record" not in lines


async def test_a_client_that_disconnects_leaves_nothing_behind(home: Home) -> None:
    from api.conftest import serving
    from heron.api.app import create_app
    from managed_runs import free_port

    port = free_port()
    app = create_app(home.manager, home.settings(port=port))
    with serving(app, port) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            got, _ = await _records(http, f"/api/runs/{home.month}/stream", stop_after=10)
            hub = app.state.heron.hub
            follower = hub.followers[home.month]
            wait_until(lambda: not follower.subscribers, "the subscription to go")
            assert not hub.everyone and [int(e.id or 0) for e in got] == list(range(1, 11))
