"""Binance's request signing and its error replies, as the emulator enforces them.

A ``SIGNED`` endpoint needs the ``X-MBX-APIKEY`` header of a known key, a ``timestamp``
(ms) no more than ``recvWindow`` ms behind the server's clock (default 5000, at most
60000) nor more than 1000 ms ahead of it, and a ``signature``: the hex HMAC-SHA256, keyed
by the key's secret, of the query string followed by the request body, each without the
``signature`` parameter. ``USER_STREAM`` endpoints (the listen key) need the key only.
Each failure is answered the way Binance answers it, with its code, so a client's error
mapping (ccxt's ``exceptions`` table) is exercised for real:

* ``-2014`` no API key header, ``-2015`` a key the venue does not know (HTTP 401);
* ``-1102`` a mandatory parameter missing (``timestamp``, ``signature``, ``symbol``...);
* ``-1021`` a timestamp outside ``recvWindow`` (clock skew), ``-1022`` a bad signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

from heron.testing.venue_server import Reply

__all__ = ["BinanceError", "check_key", "check_signed", "error_reply", "params_of"]

_SIGNATURE = re.compile(r"(^|&)signature=[^&]*")
_MAX_RECV_WINDOW = 60_000
_AHEAD_MS = 1_000


class BinanceError(Exception):
    """A refusal the venue answers as ``{"code": ..., "msg": ...}`` with an HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def error_reply(error: BinanceError) -> Reply:
    return Reply(json.dumps({"code": error.code, "msg": error.msg}), status=error.status)


def missing(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                        "or malformed.")


def params_of(query: str, body: str) -> dict[str, str]:
    """The request's parameters, from its query string and its form body."""
    return {**dict(parse_qsl(query, keep_blank_values=True)),
            **dict(parse_qsl(body, keep_blank_values=True))}


def check_key(headers: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """The secret of the request's API key; the venue's refusal when there is none."""
    key = headers.get("X-MBX-APIKEY")
    if not key:
        raise BinanceError(-2014, "API-key format invalid.", 401)
    secret = keys.get(key)
    if secret is None:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action, request "
                           "ip: 127.0.0.1", 401)
    return secret


def check_signed(headers: Mapping[str, str], query: str, body: str,
                 keys: Mapping[str, str], now_ms: int | None = None) -> dict[str, str]:
    """The parameters of a ``SIGNED`` request that passes every check, else the refusal."""
    secret = check_key(headers, keys)
    params = params_of(query, body)
    if "signature" not in params:
        raise missing("signature")
    payload = _SIGNATURE.sub("", query).lstrip("&") + _SIGNATURE.sub("", body).lstrip("&")
    expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["signature"].lower()):
        raise BinanceError(-1022, "Signature for this request is not valid.")
    _check_time(params, int(time.time() * 1000) if now_ms is None else now_ms)
    return params


def _check_time(params: Mapping[str, str], now_ms: int) -> None:
    try:
        stamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise missing("timestamp") from None
    try:
        window = int(params.get("recvWindow", "5000"))
    except ValueError:
        raise missing("recvWindow") from None
    if not 0 < window <= _MAX_RECV_WINDOW:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    if stamp - now_ms > _AHEAD_MS:
        raise BinanceError(-1021, f"Timestamp for this request was {_AHEAD_MS}ms ahead of "
                           "the server's time.")
    if now_ms - stamp > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
