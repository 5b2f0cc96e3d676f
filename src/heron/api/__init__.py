"""heron's HTTP API: runs, orders, journals and live events over HTTP + SSE (``heron serve``).

The app is built by :func:`heron.api.app.create_app` from a
:class:`heron.node.runs.RunManager` and :class:`heron.api.settings.ServerSettings`;
tokens are kept by :class:`heron.api.tokens.TokenStore`. Nothing is imported here, so the
CLI loads FastAPI only when a command needs it.
"""
