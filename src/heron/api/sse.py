"""Live events over Server-Sent Events: one run's stream, and every run's.

::

    event: record            a journal record; id: <seq> (one run) or
    id: 12                   <run_id>:<seq>;<run_id>:<seq>... (every run's last delivered
    data: {"run_id", "seq", "type", "ts", "record": {...}}
    event: status            a paper or live run's status.json (about 1/s, no id)
    event: run               a run whose status changed (no id)
    : ping                   every 15 s

Resuming: the ``Last-Event-ID`` header (or ``?last_event_id=``) restarts delivery right
after it, from the journal: no gap, no duplicate. Without it a run's stream starts at
seq 1 (``?from=end``: at the journal's current end) and the all-runs stream at each
run's current end; runs missing from an all-runs id start at seq 1.

Each record's frame is encoded once by the run's follower and shared by every client
(:mod:`heron.api.follow`); a client only slices the bytes it still needs (the all-runs
stream adds its id line per record), and writes whatever is queued in one send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from heron.api.auth import Viewer
from heron.api.errors import ApiError
from heron.api.follow import Advanced, Batch, Notice, StreamHub, Subscriber
from heron.api.state import api_state

router = APIRouter(tags=["events"])

_BAD_ID = ("Last-Event-ID is not valid; pass the id of the last event received, or "
           "none to start over")
RUN_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class Incomplete(Exception):
    """History that is not readable right now: end the stream, the client resumes."""


class Delivery:
    """Where one client is in each run it streams, and the frames that move it on."""

    def __init__(self, hub: StreamHub, sub: Subscriber, delivered: dict[str, int], *,
                 vector_ids: bool) -> None:
        self.hub = hub
        self.sub = sub
        self.delivered = delivered
        self.vector_ids = vector_ids

    def frames(self, batch: Batch) -> bytes:
        run_id = batch.run_id
        after = self.delivered.get(run_id, 0)
        if batch.last <= after:
            return b""
        self.delivered[run_id] = batch.last
        if not self.vector_ids:
            return batch.frames_after(after)
        others = ";".join(f"{r}:{s}" for r, s in self.delivered.items() if r != run_id)
        prefix = f"{others};{run_id}:" if others else f"{run_id}:"
        head = prefix.encode()
        return b"".join(b"event: record\nid: %b%d\ndata: %b\n\n" % (head, seq, data)
                        for seq, data in batch.records_after(after))

    async def fill(self, run_id: str, upto: int) -> AsyncIterator[bytes]:
        """The run's records after what was delivered, up to ``upto``, from the journal.

        Raises :class:`Incomplete` when the journal could not give them all (a paper
        journal being rebuilt): the stream ends and the client resumes from its last id,
        rather than going on past a hole."""
        follower = self.hub.followers.get(run_id)
        after = self.delivered.get(run_id, 0)
        if follower is None or upto <= after:
            return
        async for batch in follower.history(after, upto):
            chunk = self.frames(batch)
            if chunk:
                yield chunk
        if self.delivered.get(run_id, 0) < upto:
            raise Incomplete(run_id)

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            yield b"retry: 1000\n\n"
            for run_id in list(self.delivered):
                follower = self.hub.followers[run_id]
                async for chunk in self.fill(run_id, follower.last_seq):
                    yield chunk
            while items := await self.sub.take():  # empty: dropped, too far behind
                async for chunk in self._deliver(items):
                    yield chunk
        except Incomplete:
            return
        finally:
            self.hub.unsubscribe(self.sub)

    async def _deliver(self, items: list[Batch | Advanced | Notice]) -> AsyncIterator[bytes]:
        out: list[bytes] = []
        for item in items:
            if isinstance(item, Notice):
                out.append(item.frame)
                continue
            first = item.first if isinstance(item, Batch) else item.seq + 1
            if first > self.delivered.get(item.run_id, 0) + 1:  # a gap: read it first
                if out:
                    yield b"".join(out)
                    out = []
                async for chunk in self.fill(item.run_id, first - 1):
                    yield chunk
            if isinstance(item, Batch):
                out.append(self.frames(item))
        if out:
            yield b"".join(out)


def _response(request: Request, delivery: Delivery) -> EventSourceResponse:
    ping = api_state(request).settings.sse_ping_s
    return EventSourceResponse(delivery.stream(), ping=ping, sep="\n",
                               ping_message_factory=_ping)


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping", sep="\n")


def parse_seq(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise ApiError(400, _BAD_ID)
    return int(text)


def parse_vector(text: str) -> dict[str, int]:
    """``run:seq;run:seq`` -> {run: seq}."""
    found: dict[str, int] = {}
    for part in filter(None, text.split(";")):
        run_id, sep, seq = part.rpartition(":")
        if not sep or not run_id or len(found) > 10_000:
            raise ApiError(400, _BAD_ID)
        found[run_id] = parse_seq(seq)
    return found


_EVENT_ID = Header(alias="Last-Event-ID", max_length=1_000_000,
                   description="resume after this event id")
_LAST_ID = Query(max_length=1_000_000, description="Last-Event-ID for clients that "
                 "cannot set headers")


@router.get("/api/runs/{run_id}/stream", summary="One run's live events (SSE)",
            response_class=EventSourceResponse, responses={200: {
                "content": {"text/event-stream": {}}, "description": "the event stream"}})
async def run_stream(
    request: Request, _caller: Viewer,
    run_id: Annotated[str, Path(pattern=RUN_ID)],
    last_event_id_header: Annotated[str | None, _EVENT_ID] = None,
    last_event_id: Annotated[str | None, _LAST_ID] = None,
    start: Annotated[Literal["start", "end"], Query(alias="from", description=(
        "where to start without Last-Event-ID: seq 1, or the journal's end"))] = "start",
) -> EventSourceResponse:
    state = api_state(request)
    follower = await state.hub.follower(run_id)  # RunNotFound: 404
    resume = last_event_id_header or last_event_id
    if resume is not None:
        after = parse_seq(resume.strip())
    else:
        after = follower.last_seq if start == "end" else 0
    sub = state.hub.subscribe({run_id})
    return _response(request, Delivery(state.hub, sub, {run_id: after}, vector_ids=False))


@router.get("/api/stream", summary="Every run's live events (SSE)",
            response_class=EventSourceResponse, responses={200: {
                "content": {"text/event-stream": {}}, "description": "the event stream"}})
async def all_stream(
    request: Request, _caller: Viewer,
    last_event_id_header: Annotated[str | None, _EVENT_ID] = None,
    last_event_id: Annotated[str | None, _LAST_ID] = None,
) -> EventSourceResponse:
    state = api_state(request)
    resume = last_event_id_header or last_event_id
    vector = parse_vector(resume.strip()) if resume is not None else None
    sub = state.hub.subscribe(None)  # first: runs that appear from now on reach it
    try:
        records = await state.hub.run(lambda: state.manager.list(limit=1000))
        delivered: dict[str, int] = {}
        for record in records:
            follower = await state.hub.follower(record.run_id)
            delivered[record.run_id] = (follower.last_seq if vector is None
                                        else vector.get(record.run_id, 0))
    except BaseException:
        state.hub.unsubscribe(sub)
        raise
    return _response(request, Delivery(state.hub, sub, delivered, vector_ids=True))
