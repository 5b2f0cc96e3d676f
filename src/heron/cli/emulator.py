"""``heron emulator``: the loopback Binance USD-M exchange, for any ccxt-based bot.

Serves on 127.0.0.1 the venue's public REST and streams (replaying the recording) and
its signed account API and user-data stream (fills by heron's simulated venue), until
Ctrl-C or SIGTERM. Point a client's hosts at ``http://127.0.0.1:PORT`` (ccxt: every URL in
``urls['api']``, paths kept; ``ws://`` for the WebSocket ones) and sign with the key and
secret of ``HERON_EMULATOR_API_KEY`` / ``HERON_EMULATOR_SECRET`` (defaults
``emulator-key`` / ``emulator-secret``: test credentials, never a real account's).

Exit codes: 0 stopped; 2 bad input (unknown venue, malformed --fund, no recording, port
taken).
"""

from __future__ import annotations

import os
import signal
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from heron.errors import InputError

Opt = typer.Option
DEFAULT_KEY, DEFAULT_SECRET = "emulator-key", "emulator-secret"


def emulator_command(
    venue: Annotated[str, Opt(help="venue to emulate (binanceusdm)")] = "binanceusdm",
    port: Annotated[int, Opt(min=1, max=65535, help="port on 127.0.0.1")] = 8800,
    latency_ms: Annotated[float, Opt(min=0, help="added delay before every REST reply")
                          ] = 0.0,
    fund: Annotated[str, Opt(help="starting balance, ASSET=AMOUNT")] = "USDT=10000",
    recording: Annotated[Path | None, Opt(help="folder of the venue's recordings "
                                          "(.../venues/binance_usdm); default "
                                          "$HERON_VENUE_DATA/binance_usdm")] = None,
) -> None:
    """Run a loopback exchange speaking the venue's API until Ctrl-C."""
    from heron.testing.exchange import ExchangeProfile, ExchangeServer, Faults

    if venue != "binanceusdm":
        raise InputError(f"unknown venue {venue!r} for the emulator; use --venue binanceusdm")
    amount = _fund(fund)
    folder = _recording(recording)
    key = os.environ.get("HERON_EMULATOR_API_KEY", DEFAULT_KEY)
    secret = os.environ.get("HERON_EMULATOR_SECRET", DEFAULT_SECRET)
    profile = ExchangeProfile.recorded(folder, keys={key: secret}, fund=amount)
    server = ExchangeServer(profile, port=port, faults=Faults(latency_ms=latency_ms))
    try:
        server.start()
    except OSError as exc:
        raise InputError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pick "
                         "another --port") from None
    print(f"binanceusdm emulator on {server.url} (ws: ws://127.0.0.1:{port}); "
          f"API key {key}; balance {amount} USDT; Ctrl-C stops", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # explicit: SIGINT may be ignored when
        signal.signal(signum, lambda *_: stop.set())  # started in the background
    try:
        stop.wait()
    finally:
        server.stop()


def _fund(text: str) -> Decimal:
    asset, _, amount = text.partition("=")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = Decimal(-1)
    if asset.upper() != "USDT" or not value.is_finite() or value <= 0:
        raise InputError(f"--fund {text!r}: the emulated account holds USDT only; "
                         "write it as USDT=10000")
    return value


def _recording(path: Path | None) -> Path:
    if path is None:
        root = os.environ.get("HERON_VENUE_DATA")
        if not root:
            raise InputError("the emulator replays a recording: pass --recording "
                             ".../venues/binance_usdm or set HERON_VENUE_DATA")
        path = Path(root) / "binance_usdm"
    if not (path / "ws_capture_BTCUSDT_2024-08-08.txt.gz").is_file():
        raise InputError(f"{path} has no ws_capture_BTCUSDT_2024-08-08.txt.gz; pass "
                         "--recording with the shared data's venues/binance_usdm folder")
    return path
