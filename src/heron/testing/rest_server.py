"""A loopback HTTP server for tests: real clients, recorded response bodies, no network.

Venue clients (ccxt, httpx) are tested here as they run, over a socket, instead of by
patching their internals: point the client's base URL at :attr:`RestServer.url` and
register what each ``(method, path)`` answers. Every request is logged, so a test can
check what the client asked for (pages, ``since`` parameters, retries)::

    with RestServer() as server:
        server.route("GET", "/fapi/v1/klines", lambda request: pages[request.query["startTime"]])
        server.fail_next("GET", "/fapi/v1/klines", status=429, retry_after=1)
        ...  # run the client against server.url
        assert [r.query["startTime"] for r in server.requests] == [...]

The server listens on 127.0.0.1 only, on a port the OS picks, and serves each request
on a daemon thread; leaving the ``with`` block (or :meth:`stop`) shuts it down, so a
failing test cannot leave it running. A request no route matches is answered 404 with
the routes it could have meant, which makes a client's unexpected call easy to see.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Body", "Handler", "Reply", "Request", "RestServer"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the server saw it; ``query`` keeps the last value of each name."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body parsed as JSON (for POST APIs such as Hyperliquid's ``/info``)."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True, slots=True)
class Reply:
    """A full answer: status, body and extra headers (``Content-Type`` is JSON unless
    given)."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


Body = bytes | str | Reply
Handler = Body | Callable[[Request], Body]


def _as_reply(body: Body) -> Reply:
    if isinstance(body, Reply):
        return body
    return Reply(body=body.encode() if isinstance(body, str) else body)


class RestServer:
    """Routes ``(method, path)`` to fixed bodies or callables of the :class:`Request`."""

    def __init__(self, routes: Mapping[tuple[str, str], Handler] | None = None) -> None:
        self._routes: dict[tuple[str, str], Handler] = dict(routes or {})
        self._failures: dict[tuple[str, str], list[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ---------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` (any query) with ``handler``; replaces an earlier route."""
        with self._lock:
            self._routes[(method.upper(), path)] = handler

    def fail_next(self, method: str, path: str, *, status: int = 429,
                  retry_after: int | None = None, body: bytes = b'{"msg":"rate limited"}',
                  times: int = 1) -> None:
        """Answer the next ``times`` requests to ``method path`` with ``status`` (and a
        ``Retry-After`` header in seconds when given), then the route again: how a
        client's backoff is tested without a real rate limit."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            queue = self._failures.setdefault((method.upper(), path), [])
            queue.extend(Reply(status, body, headers) for _ in range(times))

    def requests_to(self, path: str) -> list[Request]:
        """The logged requests to ``path``, in arrival order."""
        with self._lock:
            return [request for request in self.requests if request.path == path]

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the base URL to give the client."""
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RestServer:
        """Listen on 127.0.0.1 on a free port and serve on a daemon thread."""
        if self._httpd is not None:
            return self
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="heron-rest-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> RestServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------
    def answer(self, request: Request) -> Reply:
        """What ``request`` gets: a queued failure, else its route, else 404."""
        key = (request.method, request.path)
        with self._lock:
            self.requests.append(request)
            queued = self._failures.get(key)
            if queued:
                return queued.pop(0)
            handler = self._routes.get(key)
            known = sorted(f"{method} {path}" for method, path in self._routes)
        if handler is None:
            message = {"error": f"no route for {request.method} {request.path}",
                       "routes": known}
            return Reply(404, json.dumps(message).encode())
        return _as_reply(handler(request) if callable(handler) else handler)


def _handler_class(server: RestServer) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to ``server`` (http.server wants a class, not an object)."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real venues and clients use

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(method=self.command, path=parts.path,
                              query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                              body=self.rfile.read(length) if length else b"",
                              headers=dict(self.headers.items()))
            try:
                reply = server.answer(request)
            except Exception as exc:  # a broken test handler: say so to the client
                reply = Reply(500, json.dumps({"error": repr(exc)}).encode())
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 (http.server's names)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the server keeps its own log in ``requests``."""

    return _Handler
