"""The user-data stream: listen keys, the private WebSocket, and its two messages.

ccxt.pro 4.5 asks ``POST /fapi/v1/listenKey`` for a key and connects to
``<ws host>/private/ws?listenKey=<key>`` (Binance's 2025 endpoint split; the older
``/ws/<key>`` is served too). The venue pushes ``ORDER_TRADE_UPDATE`` for every change
of an order and ``ACCOUNT_UPDATE`` after every fill, in the shapes of the recorded
fixtures (``order_update_*.json``, ``account_update.json``).

Conditional orders add ``ALGO_UPDATE`` (:mod:`.algo`).

Fault knobs (:class:`UserStreams`): :meth:`~UserStreams.duplicate` sends the next
``n`` events twice, :meth:`~UserStreams.swap` sends the next event after the one that
follows it (out of order), :meth:`~UserStreams.drop` cuts the user-data connections only
(the market streams stay up). As on Binance, an event published while no user session
is connected is lost (kept in :attr:`UserStreams.undelivered` for tests): a client
finds out what it missed by REST after it reconnects.
"""

from __future__ import annotations

import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

from heron.testing.venue_server import WsSession

if TYPE_CHECKING:
    from heron.testing.exchange.account import FuturesAccount
    from heron.testing.exchange.orders import VenueOrder

__all__ = ["UserStreams", "account_update", "order_update"]


def order_update(order: VenueOrder, execution: str, now_ms: int,
                 trade: dict[str, Any] | None = None) -> dict[str, Any]:
    """``ORDER_TRADE_UPDATE`` for ``order`` (execution type ``NEW``, ``TRADE``,
    ``CANCELED``, ``EXPIRED``, ``AMENDMENT``), with the fill's details for a trade."""
    inst, body = order.inst, order.body()
    trade = trade or {}
    return {"e": "ORDER_TRADE_UPDATE", "T": now_ms, "E": now_ms, "o": {
        "s": inst.symbol, "c": order.client_id, "S": order.side, "o": order.kind,
        "f": order.tif, "q": body["origQty"], "p": body["price"], "ap": body["avgPrice"],
        "sp": order.stop_price, "x": execution, "X": order.status, "i": order.order_id,
        "l": trade.get("qty", "0"), "z": body["executedQty"], "L": trade.get("price", "0"),
        "N": "USDT", "n": trade.get("commission", "0"), "T": now_ms, "t": trade.get("id", 0),
        "b": "0", "a": "0", "m": bool(trade.get("maker", False)), "R": order.reduce_only,
        "wt": "CONTRACT_PRICE", "ot": order.orig_type or order.kind, "ps": "BOTH", "cp": False,
        "rp": trade.get("realizedPnl", "0"), "pP": False, "si": 0, "ss": 0, "V": "NONE",
        "pm": "NONE", "gtd": 0}}


def account_update(account: FuturesAccount, now_ms: int) -> dict[str, Any]:
    """``ACCOUNT_UPDATE`` after a fill: the USDT wallet and the symbol's position."""
    row, pos = account.balance_row(), account.position()
    realised = account.money(account.portfolio.positions[account.inst.id].realised)
    return {"e": "ACCOUNT_UPDATE", "T": now_ms, "E": now_ms, "a": {
        "m": "ORDER",
        "B": [{"a": "USDT", "wb": row["walletBalance"], "cw": row["crossWalletBalance"],
               "bc": "0"}],
        "P": [{"s": pos["symbol"], "pa": pos["positionAmt"], "ep": pos["entryPrice"],
               "bep": pos["breakEvenPrice"], "cr": realised, "up": pos["unRealizedProfit"],
               "mt": "cross", "iw": "0", "ps": "BOTH"}]}}


class UserStreams:
    """Listen keys and the connected user-data sessions. Used on the server's loop; the
    knobs take a lock, so a test's thread may call them."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.sessions: list[WsSession] = []
        self.sent: list[dict[str, Any]] = []      # every event published, in order
        self.undelivered: list[dict[str, Any]] = []  # published with no session to take it
        self.drops = 0
        self._duplicate = 0
        self._swap = 0
        self._held: str | None = None
        self._lock = threading.Lock()

    def new_key(self) -> str:
        """Binance answers the account's active key while there is one."""
        if not self.keys:
            self.keys.add(secrets.token_hex(32))
        return next(iter(self.keys))

    def attach(self, session: WsSession) -> bool:
        """Whether ``session`` is a user-data connection (and take it if so)."""
        key = session.query.get("listenKey") or session.path.rpartition("/ws/")[2]
        if session.path.startswith("/private/ws") or key in self.keys:
            session.state["user"] = key in self.keys
            with self._lock:
                self.sessions = [s for s in self.sessions if not s.closed] + [session]
            return True
        return False

    def drop(self) -> None:
        """Cut every user-data connection now (the server aborts each on its next turn);
        the listen key stays valid, so a client reconnects with it."""
        with self._lock:
            for session in self.sessions:
                session.state["user"] = False
                session.state["cut"] = True
            self.sessions = []
            self.drops += 1

    def duplicate(self, n: int = 1) -> None:
        with self._lock:
            self._duplicate += n

    def swap(self) -> None:
        with self._lock:
            self._swap += 1

    def publish(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        text = json.dumps(message)
        with self._lock:
            if self._swap and self._held is None:
                self._swap -= 1
                self._held = text
                return
            out = [text, text] if self._duplicate else [text]
            self._duplicate = max(0, self._duplicate - 1)
            if self._held is not None:
                out.append(self._held)
                self._held = None
            live = [s for s in self.sessions if not s.closed and s.state.get("user")]
            if not live:
                self.undelivered.append(message)
            for session in live:
                for each in out:
                    session.send(each)
