"""``heron feed`` end to end: the real command in a subprocess, the venue in this process.

Loopback Binance USD-M venues (threads of this test process) replay a real BTCUSDT
capture; each line the command prints must be the documented envelope
(:mod:`heron.data.feeds.envelope`) with decimal strings equal to the capture's own text.

Starting Python, heron and ccxt.pro costs seconds per process, so every command of this
module starts at once in a module fixture and each test waits for its own; what a run
needs while it is going (release a held venue once both groups subscribed, SIGTERM once
data flows) is done by the fixture's helper threads, so test order does not matter.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import pytest

from conftest import SHARED_VENUES, closed_port, need
from heron.model.feed import FeedState
from heron.testing.venue_server import VenueServer
from heron.testing.venues.binance import BinanceUsdmProfile

# five of its seven processes load ccxt.pro: seconds of CPU each where bytecode is not cached
pytestmark = pytest.mark.slow

USDM = SHARED_VENUES / "binance_usdm"
LINES = 3000
BTC = ("--venue", "binanceusdm", "--symbol", "BTC/USDT:USDT")
ENVELOPE_KEYS = {"venue", "symbol", "stream", "type", "ts_event", "ts_recv", "data"}
DATA_KEYS = {
    "trade": {"price", "size", "aggressor", "trade_id"},
    "quote": {"bid", "ask", "bid_size", "ask_size", "sequence"},
    "health": {"state", "reason", "last_message_age_ns", "messages", "reconnects", "gaps",
               "parse_errors"},
}


class Run:
    """One ``heron feed`` process; its output is read as it comes (no pipe fills up)."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("HERON_DEBUG", "HERON_CATALOG")}
        self.proc = subprocess.Popen([sys.executable, "-m", "heron", "feed", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={**env, "COLUMNS": "200"})
        self.out, self.err = bytearray(), bytearray()
        self._readers = [threading.Thread(target=self._read, args=(pipe, buf), daemon=True)
                         for pipe, buf in ((self.proc.stdout, self.out),
                                           (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe: IO[bytes] | None, buf: bytearray) -> None:
        assert pipe is not None
        with pipe:
            while chunk := pipe.read1(1 << 16):  # type: ignore[attr-defined]
                buf.extend(chunk)

    def finish(self, timeout: float = 120.0) -> tuple[int, list[dict[str, Any]], list[str]]:
        """Exit code, stdout lines decoded, stderr's non-empty lines."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        text = bytes(self.out).decode()
        assert text == "" or text.endswith("\n"), "a torn last line: output not flushed"
        return (code, [json.loads(line) for line in text.splitlines()],
                [line for line in bytes(self.err).decode().splitlines() if line.strip()])

    def stop(self) -> None:
        if self.proc.poll() is None:  # a test failed before this run ended
            self.proc.kill()
            self.proc.wait(10)


def when(condition: Callable[[], bool], then: Callable[[], None], timeout: float = 120.0
         ) -> threading.Thread:
    """Call ``then`` on a helper thread once ``condition`` holds."""
    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.01)
        then()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@dataclass
class Recorded:
    trades: list[dict[str, Any]]
    tickers: list[dict[str, Any]]


@pytest.fixture(scope="module")
def recorded() -> Recorded:
    trades, tickers = [], []
    with gzip.open(need(USDM / "ws_capture_BTCUSDT_2024-08-08.txt.gz"), "rb") as f:
        for _, line in zip(range(LINES), f, strict=False):
            body = json.loads(line.partition(b" ")[2])
            stream = body.get("stream", "")
            if stream.endswith("@trade"):
                trades.append(body["data"])
            elif stream.endswith("@bookTicker"):
                tickers.append(body["data"])
    return Recorded(trades, tickers)


@pytest.fixture(scope="module")
def runs(recorded: Recorded) -> Iterator[dict[str, Run]]:
    profiles = [BinanceUsdmProfile.recorded(USDM, lines=LINES) for _ in range(3)]
    with VenueServer(profiles[0]) as fast, VenueServer(profiles[1], speed=1.0) as paced, \
            VenueServer(profiles[2], speed=1.0) as held:
        held.hold()  # until both groups subscribed: then both streams flow side by side
        started = {
            "count": Run(*BTC, "--streams", "trades,quotes", "--endpoint", fast.url,
                         "--count", "40"),
            "groups": Run(*BTC, "--streams", "trades", *BTC, "--streams", "quotes",
                          "--endpoint", held.url, "--no-health", "--duration", "3"),
            "sigterm": Run(*BTC, "--streams", "quotes", "--endpoint", paced.url),
            "symbol": Run("--venue", "binanceusdm", "--symbol", "BTCUSD", "--endpoint",
                          paced.url),
            "unreachable": Run(*BTC, "--endpoint", f"http://127.0.0.1:{closed_port()}"),
            "venue": Run("--venue", "binancefutures", "--symbol", "BTCUSDT"),
            "stream": Run(*BTC, "--streams", "trades,depth"),
        }
        when(lambda: len(held.subscribes()) >= 2, held.release)
        sigterm = started["sigterm"]
        when(lambda: sigterm.out.count(b"\n") >= 5,
             lambda: sigterm.proc.send_signal(signal.SIGTERM))
        try:
            yield started
        finally:
            for run in started.values():
                run.stop()


def market(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["type"] != "health"]


def check_envelope(line: dict[str, Any]) -> None:
    assert set(line) == ENVELOPE_KEYS
    assert (line["venue"], line["symbol"]) == ("binanceusdm", "BTCUSDT")
    assert set(line["data"]) == DATA_KEYS[line["type"]]
    assert isinstance(line["ts_event"], int) and isinstance(line["ts_recv"], int)
    if line["type"] == "health":
        assert line["ts_event"] == line["ts_recv"]
        FeedState(line["data"]["state"])
    else:
        assert line["stream"] == {"trade": "trades", "quote": "quotes"}[line["type"]]
        assert line["ts_recv"] > line["ts_event"]


def check_values(lines: list[dict[str, Any]], recorded: Recorded) -> None:
    """Each stream's lines are the capture's messages from its start, text for text."""
    trades = [line["data"] for line in lines if line["type"] == "trade"]
    quotes = [line["data"] for line in lines if line["type"] == "quote"]
    assert trades == [{"price": t["p"], "size": t["q"], "trade_id": str(t["t"]),
                       "aggressor": "sell" if t["m"] else "buy"}
                      for t in recorded.trades[:len(trades)]]
    assert quotes == [{"bid": q["b"], "ask": q["a"], "bid_size": q["B"], "ask_size": q["A"],
                       "sequence": q["u"]} for q in recorded.tickers[:len(quotes)]]
    times = [line["ts_event"] for line in lines if line["type"] == "trade"]
    assert times == [t["T"] * 1_000_000 for t in recorded.trades[:len(times)]]


# -- output ----------------------------------------------------------------------------------
def test_count_gives_exactly_n_market_lines_plus_health(runs: dict[str, Run],
                                                        recorded: Recorded) -> None:
    code, lines, err = runs["count"].finish()
    assert (code, err) == (0, [])
    assert len(market(lines)) == 40
    health = [line for line in lines if line["type"] == "health"]
    assert health and {h["data"]["state"] for h in health} <= {"live", "connecting"}
    for line in lines:
        check_envelope(line)
    check_values(lines, recorded)


def test_two_groups_merge_without_health_until_the_duration_ends(
        runs: dict[str, Run], recorded: Recorded) -> None:
    code, lines, err = runs["groups"].finish()
    assert (code, err) == (0, [])
    assert {line["type"] for line in lines} == {"trade", "quote"}  # --no-health: none
    for line in lines:
        check_envelope(line)
    check_values(lines, recorded)


def test_sigterm_stops_with_exit_0_and_everything_written(runs: dict[str, Run],
                                                          recorded: Recorded) -> None:
    code, lines, err = runs["sigterm"].finish()
    assert (code, err) == (0, [])
    assert len(market(lines)) >= 3
    for line in lines:
        check_envelope(line)
    check_values(lines, recorded)


# -- exit codes ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "code", "message"), [
    ("symbol", 2, "error: binanceusdm has no market 'BTCUSD' (closest: BTCUSDT, "),
    ("venue", 2, "error: unknown venue 'binancefutures'; choose from binanceusdm, okx, "),
    ("stream", 2, "error: unknown stream 'depth'; choose from trades, book, quotes, "),
    ("unreachable", 1, "error: binanceusdm: cannot reach http://127.0.0.1:"),
])
def test_failures_exit_with_one_line_naming_the_fix(runs: dict[str, Run], name: str,
                                                    code: int, message: str) -> None:
    got, lines, err = runs[name].finish()
    assert (got, lines) == (code, [])
    assert len(err) == 1 and err[0].startswith(message), err
    fix = {"symbol": "use a ccxt symbol such as BTC/USDT:USDT",
           "venue": "alpaca", "stream": "liquidations",
           "unreachable": "check the network or --endpoint"}[name]
    assert fix in err[0]
