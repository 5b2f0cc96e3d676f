"""Heron's parser in front of ccxt.pro's: frames reach heron first, control goes on.

ccxt.pro's client decodes every frame with ``json.loads`` and hands it to the
exchange's ``handle_message``, which parses prices to floats and keeps its own caches.
:func:`tapped_exchange` builds the ccxt.pro exchange with one change: each WebSocket
client it opens first offers the raw frame, stamped with the receive time, to
``on_frame``. When that says the frame was market data (or garbage) ccxt never sees it;
otherwise (a subscription answer, a pong) ccxt handles it as usual, so its
subscription bookkeeping and keep-alive keep working. Garbage must stop here: ccxt's
receive loop runs in a future's done-callback, and an exception there would end the
connection's reading without closing it.

The caller also learns of frames ccxt itself failed on (``on_ccxt_error``), so nothing
is swallowed silently. When ccxt's handler raises a venue refusal (a failed login, a
refused subscription: ``ccxt.ExchangeError``) the connection is failed, as ccxt's
JavaScript client does: otherwise the futures waiting on it would wait forever.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: ``(url, raw, ts_recv) -> consumed``: True when heron took the frame
FrameHandler = Callable[[str, "bytes | str", int], bool]
ErrorHandler = Callable[[str, "bytes | str", BaseException], None]


def tapped_exchange(ccxt_id: str, config: dict[str, Any], on_frame: FrameHandler,
                    on_ccxt_error: ErrorHandler) -> Any:
    """A ``ccxt.pro.<ccxt_id>`` whose WebSocket frames pass through ``on_frame`` first."""
    import ccxt.pro

    base: type = getattr(ccxt.pro, ccxt_id)

    class Tapped(base):  # type: ignore[misc]
        def client(self, url: str) -> Any:
            client = super().client(url)
            if not getattr(client, "heron_tapped", False):
                _install(client, url, on_frame, on_ccxt_error)
            return client

    Tapped.__name__ = f"Tapped_{ccxt_id}"
    return Tapped(config)


def _install(client: Any, url: str, on_frame: FrameHandler, on_error: ErrorHandler) -> None:
    import ccxt

    ccxt_handle = client.handle_text_or_binary_message
    now = time.time_ns
    refusal = ccxt.ExchangeError

    def handle(data: bytes | str) -> None:
        if on_frame(url, data, now()):
            return
        try:
            ccxt_handle(data)
        except Exception as exc:  # ccxt's own handler failed on a control frame
            on_error(url, data, exc)
            if isinstance(exc, refusal):  # the venue said no (login, subscribe): as in
                client.on_error(exc)      # ccxt's JS client, the connection fails, so the
                #                           subscriptions waiting on it learn of it

    client.handle_text_or_binary_message = handle
    client.heron_tapped = True
