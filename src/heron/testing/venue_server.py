"""A venue on 127.0.0.1: its WebSocket and REST protocol, replaying recorded messages.

Tests point a real client (ccxt.pro, alpaca-py, ``heron feed`` in a subprocess) at a
:class:`VenueServer` and get what the venue would send: the subscribe handshake, pongs,
the REST bodies a client asks for at start (markets, book snapshots), then **real
recorded frames** for each topic the client subscribed to, in recorded order. What
is venue-specific (URL paths, how a subscribe looks and is answered, which recorded
frame belongs to which topic) is a :class:`VenueProfile` in
``heron.testing.venues.<venue>``.

Each connection replays the recording from its start, which is what a restart test
needs (the same market again); ``speed`` paces it by the recorded receive times
(``0``: as fast as the client reads, ``1``: real time, ``10``: ten times faster).

Knobs, callable from the test's thread while clients are connected:

* :meth:`drop` closes every connection abruptly (no close frame), as a network cut does;
* :meth:`stall` stops sending anything, pongs included, for some seconds;
* :meth:`inject` sends a frame of the test's choosing (garbage) to every connected
  client, on its next data turn;
* :meth:`skip` leaves out the next ``n`` frames of a topic, whichever connection would
  have sent them (a sequence gap in a book);
* :meth:`hold` keeps data back until released (a client can finish subscribing first).

The server runs its own event loop on a daemon thread and listens on a port the OS
picks; :meth:`stop` (or leaving the ``with`` block) closes it, so no test leaves it
running. Everything the clients sent is in :attr:`received`; the subscribe requests
among it, decoded, in :meth:`~VenueServer.subscribes` (the profile knows them).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["Frame", "Reply", "VenueProfile", "VenueServer", "WsSession", "json_request"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One recorded message: when it was received (ns), which topic it belongs to."""

    ts: int
    topic: str
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A REST answer."""

    body: bytes | str
    status: int = 200
    content_type: str = "application/json"


RestHandler = Callable[[web.Request], Reply]


@dataclass(slots=True)
class WsSession:
    """One client connection as a profile sees it: what it subscribed to, what to send."""

    path: str
    query: Mapping[str, str]
    topics: set[str] = field(default_factory=set)
    outbox: list[str | bytes] = field(default_factory=list)   # replies to send now
    closed: bool = False
    auth: bool = False
    state: dict[str, Any] = field(default_factory=dict)

    def send(self, message: str | bytes) -> None:
        self.outbox.append(message)


class VenueProfile:
    """A venue's protocol; subclasses fill in the parts (see ``heron.testing.venues``)."""

    name: str = "venue"
    ws_paths: Sequence[str] = ("/ws",)     # aiohttp route patterns that accept WebSockets
    binary: bool = False                    # frames sent as binary (msgpack venues)
    subscribe_op: tuple[str, str] | None = None  # a subscribe request's (key, value)

    def rest(self) -> Mapping[tuple[str, str], RestHandler]:
        """``(method, path) -> handler``; paths are aiohttp patterns."""
        return {}

    def frames(self) -> Sequence[Frame]:
        """The recording, in order."""
        raise NotImplementedError

    def on_open(self, session: WsSession) -> None:
        """A client connected (send a welcome message here if the venue does)."""

    def on_message(self, session: WsSession, message: str | bytes) -> None:
        """A client message: subscribe (add to ``session.topics``), ping (reply), ..."""
        raise NotImplementedError

    def wants(self, session: WsSession, frame: Frame) -> bool:
        """Whether ``frame`` goes to this client (default: it subscribed to its topic)."""
        return frame.topic in session.topics

    def render(self, session: WsSession, frame: Frame) -> str | bytes:
        """The frame as this client gets it (unwrapped from a capture's envelope, ...)."""
        return frame.text

    def subscription(self, message: str | bytes) -> Mapping[str, Any] | None:
        """A client message decoded, if it is a subscribe request; else None. By default a
        JSON object whose ``subscribe_op`` key has its value."""
        if self.subscribe_op is None:
            raise NotImplementedError(f"{type(self).__name__} does not say which client "
                                      "messages are subscribe requests")
        key, value = self.subscribe_op
        request = json_request(message)
        return request if request.get(key) == value else None


def json_request(message: str | bytes) -> dict[str, Any]:
    """A client message as the JSON object it is; empty when it is none (a text ping)."""
    try:
        request = json.loads(message)
    except ValueError:
        return {}
    return request if isinstance(request, dict) else {}


class VenueServer:
    """Serves one :class:`VenueProfile` on 127.0.0.1 until stopped."""

    def __init__(self, profile: VenueProfile, *, speed: float = 0.0,
                 idle_after_end: bool = True, port: int = 0) -> None:
        self.profile = profile
        self.listen_port = port  # 0: a port the OS picks (tests); a fixed one for a CLI
        self.speed = speed
        self.idle_after_end = idle_after_end
        self.received: list[tuple[str, str | bytes]] = []   # (path, message) from clients
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # REST (method, path, q)
        self.connections = 0
        self.frames_sent = 0
        self._frames = list(profile.frames())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._stall_until = 0.0
        self._held = threading.Event()
        self._held.set()
        self._inject: list[str | bytes] = []   # every injected message; each pump keeps
                                                # its own place in it
        self._skip: dict[str, int] = {}
        self._lock = threading.Lock()
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VenueServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_app())
            except BaseException as exc:  # reported to start()'s caller
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, name=f"venue-{self.profile.name}",
                                        daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _start_app(self) -> None:
        app = web.Application()
        for (method, path), handler in self.profile.rest().items():
            app.router.add_route(method, path, self._rest_handler(handler))
        for path in self.profile.ws_paths:
            app.router.add_get(path, self._ws_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.listen_port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _shutdown(self) -> None:
        await asyncio.gather(*(ws.close() for ws in list(self._sockets)))
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._held.set()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> VenueServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def subscribes(self) -> list[Mapping[str, Any]]:
        """The subscribe requests clients sent, decoded, in order (the profile says which
        messages are: :meth:`VenueProfile.subscription`)."""
        found = (self.profile.subscription(message) for _, message in list(self.received))
        return [request for request in found if request is not None]

    # -- knobs -----------------------------------------------------------------------------
    def drop(self) -> None:
        """Cut every connection now, without a close frame."""
        loop = self._loop
        if loop is None:
            return

        def cut() -> None:
            for ws in list(self._sockets):
                transport = ws._req.transport if ws._req is not None else None
                if transport is not None:
                    transport.abort()
        loop.call_soon_threadsafe(cut)

    def stall(self, seconds: float) -> None:
        """Send nothing at all (data, replies, pongs) for ``seconds``."""
        self._stall_until = time.monotonic() + seconds

    def inject(self, message: str | bytes) -> None:
        """Send ``message`` to every client connected now, on its next data turn."""
        with self._lock:
            self._inject.append(message)

    def skip(self, topic: str, n: int = 1) -> None:
        """Leave out the next ``n`` frames of ``topic``, on whichever connections they were
        due (counted across connections: a replay restarting on a new one is not skipped
        again)."""
        with self._lock:
            self._skip[topic] = self._skip.get(topic, 0) + n

    def hold(self) -> None:
        """Keep data frames back until :meth:`release` (replies still go out)."""
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    # -- HTTP ------------------------------------------------------------------------------
    def _rest_handler(self, handler: RestHandler
                      ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.method, request.path, dict(request.query)))
            reply = handler(request)
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            return web.Response(body=body, status=reply.status,
                                content_type=reply.content_type)
        return handle

    # -- WebSocket -------------------------------------------------------------------------
    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        # pings answered here, not by aiohttp, so that a stall silences pongs too; a
        # client that does not answer the close handshake holds stop() up one second
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0, timeout=1.0)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.add(ws)
        session = WsSession(request.path, dict(request.query))
        self.profile.on_open(session)
        await self._flush(ws, session)  # a welcome is a reply: it goes out during a hold
        pump = asyncio.create_task(self._pump(ws, session))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.PING:
                    await self._wait_stall(ws)
                    await ws.pong(msg.data)
                    continue
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                self.received.append((request.path, msg.data))
                await self._wait_stall(ws)
                self.profile.on_message(session, msg.data)
                await self._flush(ws, session)
        finally:
            session.closed = True
            pump.cancel()
            self._sockets.discard(ws)
        return ws

    async def _flush(self, ws: web.WebSocketResponse, session: WsSession) -> None:
        out, session.outbox = session.outbox, []
        for message in out:
            await self._send(ws, message)

    async def _send(self, ws: web.WebSocketResponse, message: str | bytes) -> None:
        if ws.closed:
            return
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_str(message)

    async def _pump(self, ws: web.WebSocketResponse, session: WsSession) -> None:
        """Send the recording to this client, topic by topic as it subscribes."""
        profile, frames = self.profile, self._frames
        i = 0
        injected = len(self._inject)  # messages injected before this client came: not its
        start_wall, start_rec = time.monotonic(), frames[0].ts if frames else 0
        while not ws.closed and i < len(frames):
            injected = await self._wait_turn(ws, session, injected)
            frame = frames[i]
            if not profile.wants(session, frame):
                if not session.topics:
                    await asyncio.sleep(0.005)  # nothing subscribed yet: do not race ahead
                    continue
                i += 1
                continue
            if self.speed > 0:
                due = start_wall + (frame.ts - start_rec) / 1e9 / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            i += 1
            if self._skipped(frame.topic):
                continue
            await self._send(ws, profile.render(session, frame))
            self.frames_sent += 1
            if i % 64 == 0:
                await asyncio.sleep(0)  # let replies and other clients through
        while not ws.closed and self.idle_after_end:
            injected = await self._wait_turn(ws, session, injected)
            await asyncio.sleep(0.01)

    async def _wait_stall(self, ws: web.WebSocketResponse) -> None:
        while time.monotonic() < self._stall_until and not ws.closed:
            await asyncio.sleep(0.01)

    async def _wait_turn(self, ws: web.WebSocketResponse, session: WsSession,
                         injected: int) -> int:
        """Wait out a stall or hold, send what is pending; the new place in the injected."""
        while (time.monotonic() < self._stall_until or not self._held.is_set()) \
                and not ws.closed:
            await asyncio.sleep(0.01)
        if session.outbox:
            await self._flush(ws, session)
        with self._lock:
            extra = self._inject[injected:]
        for message in extra:
            await self._send(ws, message)
        return injected + len(extra)

    def _skipped(self, topic: str) -> bool:
        with self._lock:
            left = self._skip.get(topic, 0)
            if left:
                self._skip[topic] = left - 1
            return bool(left)
