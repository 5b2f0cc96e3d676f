"""Alpaca live feeds against the loopback venue: crypto through ccxt.pro, equities through
alpaca-py.

Crypto: ccxt.pro's real ``alpaca`` client (markets over REST, login and subscriptions over
the socket) run by a :class:`VenueSession`; nothing of Alpaca crypto is recorded, so the
frames are :data:`CRYPTO_FRAMES`, written in the docs' shape. Equities: alpaca-py's real
``StockDataStream`` run by :class:`AlpacaStocksSession`, on msgpack frames made of the
**recorded** REST trades and quotes in /work/shared/data/venues/alpaca. Expected values
come from the raw JSON, read here with ``json`` and ``Decimal`` and the grid of the asset
the server served, never from the parser.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from conftest import SHARED_VENUES, need
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.backoff import Backoff
from heron.data.feeds.live import FeedRequest, run_feeds
from heron.data.feeds.session import FeedOptions
from heron.data.feeds.streams import Stream
from heron.errors import InputError, InvalidConfiguration
from heron.model.data import BookDelta, BookSide, BookSnapshot, Quote, Trade
from heron.model.feed import FeedHealth, FeedState
from heron.testing.feed_run import FeedRun, run_feed
from heron.testing.venue_server import VenueServer
from heron.testing.venues.alpaca import (
    CRYPTO_ASSETS,
    CRYPTO_FRAMES,
    KEYS,
    AlpacaCryptoProfile,
    AlpacaStocksProfile,
)
from heron.venues.alpaca.parse import AlpacaParser

DATA = SHARED_VENUES / "alpaca"
BTC = "BTC/USD"
WAIT_S = 8.0
STOCK_TICK, STOCK_LOT = Decimal("0.0001"), Decimal("0.000000001")


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", KEYS[0])
    monkeypatch.setenv("APCA_API_SECRET_KEY", KEYS[1])
    monkeypatch.delenv("APCA_API_BASE_URL", raising=False)


# -- the raw records, read independently ----------------------------------------------------
def exact(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def ns(text: str) -> int:
    """RFC-3339 (UTC, up to nine fractional digits) -> ns."""
    head, _, frac = text.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return seconds * 10**9 + int(frac.ljust(9, "0"))


def units(value: Decimal, step: Decimal) -> int:
    count = value / step
    assert count == count.to_integral_value(), f"{value} is off the {step} grid"
    return int(count)


def crypto_records(kind: str) -> list[dict[str, Any]]:
    return [r for text in CRYPTO_FRAMES for r in exact(text) if r["T"] == kind]


BTC_ASSET = exact(json.dumps(CRYPTO_ASSETS[0]))
TICK, LOT = Decimal(BTC_ASSET["price_increment"]), Decimal(BTC_ASSET["min_trade_increment"])


def stock_records(kind: str) -> list[dict[str, Any]]:
    """The recorded AAPL trades (``t``) or quotes (``q``), in time order."""
    need(DATA)
    key = {"t": "trades", "q": "quotes"}[kind]
    rows: list[dict[str, Any]] = []
    for name in (f"rest_v2_stocks_{key}_AAPL_2022-03-09.json",
                 f"rest_v2_stocks_{key}_latest_AAPL_2022-03-18.json"):
        found = exact((DATA / name).read_text())[key]["AAPL"]
        rows += found if isinstance(found, list) else [found]
    snapshot = exact((DATA / "rest_v2_stocks_snapshots_AAPL_2022-03-18.json").read_text())
    rows.append(snapshot["AAPL"]["latestTrade" if kind == "t" else "latestQuote"])
    return sorted(rows, key=lambda r: ns(r["t"]))


# -- running a session against the venue ------------------------------------------------------
def options(**kwargs: Any) -> dict[str, Any]:
    """The sessions' :class:`FeedOptions`: quick retries, ccxt at 1 ms a rate-limit unit."""
    return {"stale_after_s": 30.0, "health_every_s": 60.0,
            "backoff": lambda: Backoff(initial_s=0.05, jitter=0.0),
            "ccxt_config": {"rateLimit": 1}, **kwargs}


def endpoint(server: VenueServer) -> FeedOptions:
    """The options of a session built here rather than by :func:`run_feed`."""
    return FeedOptions(endpoint=server.url, **options())


def sent(server: VenueServer) -> list[dict[str, Any]]:
    out = []
    for _, message in list(server.received):
        out.append(msgspec.msgpack.decode(message) if isinstance(message, bytes)
                   else json.loads(message))
    return out


def crypto(streams: Sequence[Stream], until: Callable[[FeedRun], bool], *,
           profile: AlpacaCryptoProfile | None = None, subscribes: int | None = None,
           during: Callable[[FeedRun], Awaitable[None]] | None = None) -> FeedRun:
    """BTC/USD through ccxt.pro until ``until``; data held until the subscribes are in (one
    a stream unless ``subscribes`` says)."""
    return run_feed(profile or AlpacaCryptoProfile(), adapter_for("alpaca"), [BTC], streams,
                    until=until, subscribes=len(streams) if subscribes is None else subscribes,
                    during=during, timeout_s=WAIT_S, **options())


def stocks(streams: Sequence[Stream], until: Callable[[FeedRun], bool], *,
           profile: AlpacaStocksProfile | None = None, subscribes: int = 1,
           venue: str = "alpaca-stocks",
           during: Callable[[FeedRun], Awaitable[None]] | None = None,
           **kwargs: Any) -> FeedRun:
    """AAPL through alpaca-py until ``until``; data held until the one subscribe is in;
    ``kwargs`` are options."""
    return run_feed(profile or AlpacaStocksProfile.recorded(DATA), adapter_for(venue), ["AAPL"],
                    streams, until=until, subscribes=subscribes, during=during,
                    timeout_s=WAIT_S, **options(**kwargs))


def has(kind: type, n: int) -> Callable[[FeedRun], bool]:
    return lambda run: len(run.of(kind)) >= n


@pytest.fixture
def data() -> Path:
    return need(DATA)


# -- crypto, through ccxt.pro -----------------------------------------------------------------
def test_crypto_trades_are_the_frames_values_with_the_taker_side() -> None:
    raw = crypto_records("t")
    run = crypto([Stream.TRADES], has(Trade, len(raw)))
    want = [(ns(r["t"]), units(r["p"], TICK), units(r["s"], LOT),
             {"B": "buy", "S": "sell"}[r["tks"]], str(r["i"])) for r in raw]
    assert [(t.ts_event, t.price, t.size, t.aggressor, t.trade_id)
            for t in run.of(Trade)] == want
    inst = run.of(Trade)[0].instrument
    assert (inst.id, inst.price_increment, inst.size_increment, inst.min_quantity) == (
        "BTC/USD.ALPACA", TICK, LOT, Decimal(BTC_ASSET["min_order_size"]))
    assert sent(run.server)[:2] == [{"action": "auth", "key": KEYS[0], "secret": KEYS[1]},
                                    {"action": "subscribe", "trades": [BTC]}]
    assert {path for path, _ in run.server.received} == {"/v1beta3/crypto/us"}
    assert ("GET", "/v2/assets", {"asset_class": "crypto", "status": "active"}) \
        in run.server.requests
    assert run.session.parse_errors == 0


def test_crypto_quotes_are_the_frames_best_bid_and_ask() -> None:
    raw = crypto_records("q")
    run = crypto([Stream.QUOTES], has(Quote, len(raw)))
    want = [(ns(r["t"]), units(r["bp"], TICK), units(r["ap"], TICK), units(r["bs"], LOT),
             units(r["as"], LOT), 0) for r in raw]
    assert [(q.ts_event, q.bid, q.ask, q.bid_size, q.ask_size, q.sequence)
            for q in run.of(Quote)] == want
    assert run.server.subscribes() == [{"action": "subscribe", "quotes": [BTC]}]


def levels(rows: list[dict[str, Decimal]]) -> list[tuple[int, int]]:
    return [(units(r["p"], TICK), units(r["s"], LOT)) for r in rows]


def test_crypto_book_is_the_whole_book_then_its_changes_numbered_in_order() -> None:
    snap, *updates = crypto_records("o")
    n_levels = sum(len(u["b"]) + len(u["a"]) for u in updates)
    run = crypto([Stream.BOOK], has(BookDelta, n_levels))
    first, *deltas = [e for e in run.events if isinstance(e, BookSnapshot | BookDelta)]
    assert isinstance(first, BookSnapshot) and snap["r"] is True
    assert (list(first.bids), list(first.asks), first.sequence, first.ts_event) == (
        sorted(levels(snap["b"]), reverse=True), sorted(levels(snap["a"])), 1, ns(snap["t"]))
    want = []
    for number, update in enumerate(updates, start=2):
        rows = [(BookSide.BID, *lvl) for lvl in levels(update["b"])]
        rows += [(BookSide.ASK, *lvl) for lvl in levels(update["a"])]
        want += [(side, p, s, number, ns(update["t"]), i == len(rows) - 1)
                 for i, (side, p, s) in enumerate(rows)]
    assert [(d.side, d.price, d.size, d.sequence, d.ts_event, d.is_last)
            for d in deltas] == want
    assert run.server.subscribes() == [{"action": "subscribe", "orderbooks": [BTC]}]
    assert (run.session.subscriptions[0].gaps, run.session.parse_errors) == (0, 0)


def test_crypto_book_built_from_the_events_is_the_frames_book() -> None:
    snap, *updates = crypto_records("o")
    n_levels = sum(len(u["b"]) + len(u["a"]) for u in updates)
    run = crypto([Stream.BOOK], has(BookDelta, n_levels))
    want = {"b": dict(levels(snap["b"])), "a": dict(levels(snap["a"]))}
    for update in updates:
        for side in ("b", "a"):
            for price, size in levels(update[side]):
                if size:
                    want[side][price] = size
                else:
                    del want[side][price]
    book: dict[BookSide, dict[int, int]] = {}
    for e in run.events:
        if isinstance(e, BookSnapshot):
            book = {BookSide.BID: dict(e.bids), BookSide.ASK: dict(e.asks)}
        elif isinstance(e, BookDelta):
            if e.size:
                book[e.side][e.price] = e.size
            else:
                book[e.side].pop(e.price)
    assert book == {BookSide.BID: want["b"], BookSide.ASK: want["a"]}


def test_crypto_every_stream_on_one_connection_goes_live() -> None:
    streams = [Stream.TRADES, Stream.QUOTES, Stream.BOOK]
    run = crypto(streams, lambda r: all(h.state is FeedState.LIVE for h in latest_health(r)))
    assert run.server.connections == 1
    assert sorted(key for m in run.server.subscribes() for key in m if key != "action") == [
        "orderbooks", "quotes", "trades"]


def latest_health(run: FeedRun) -> list[FeedHealth]:
    """The latest health of each of the three streams (none until all three have one)."""
    latest: dict[str, FeedHealth] = {}
    for e in run.of(FeedHealth):
        latest[e.stream] = e
    return list(latest.values()) if len(latest) == 3 else []


def test_crypto_book_gap_resubscribes_for_a_new_whole_book() -> None:
    """A book record the parser cannot use leaves a hole in its numbering, which the next
    update shows: the session drops the connection, and the new subscription starts with
    the whole book again."""
    bad = '[{"T":"o","S":"BTC/USD","t":"not a time","b":[{"p":1,"s":1}],"a":[]}]'
    after = '[{"T":"o","S":"BTC/USD","t":"2024-03-12T10:38:51Z","b":[{"p":71850,"s":0.5}]}]'

    async def inject_after_first_book(run: FeedRun) -> None:
        await run.wait(lambda: bool(run.of(BookSnapshot)), "the first book")
        run.server.inject(bad)
        run.server.inject(after)

    run = crypto([Stream.BOOK], has(BookSnapshot, 2), during=inject_after_first_book)
    [sub] = run.session.subscriptions
    assert (sub.gaps, run.session.parse_errors, run.server.connections) == (1, 1, 2)
    states = [h.state for h in run.of(FeedHealth)]
    assert FeedState.RESYNCING in states and states[-1] is FeedState.STOPPED
    first, second = run.of(BookSnapshot)
    assert (first.bids, first.asks) == (second.bids, second.asks)


def reconnected_twice(run: FeedRun) -> bool:
    return sum(h.state is FeedState.RECONNECTING for h in run.of(FeedHealth)) >= 2


def test_crypto_refused_login_fails_the_connection_with_alpacas_reason() -> None:
    """The error frame reaches ccxt: its login fails at once (no hang), the session says
    why and tries again after its backoff, on a new connection each time."""
    profile = AlpacaCryptoProfile(stream_keys=("other-key", "other-secret"))
    run = crypto([Stream.TRADES], reconnected_twice, profile=profile, subscribes=0)
    reasons = {h.reason for h in run.of(FeedHealth) if h.state is FeedState.RECONNECTING}
    assert reasons == {"alpaca code: 402 message: auth failed"}
    assert not run.of(Trade)
    assert run.session.parse_errors >= 2  # each error frame is counted, and also handed on
    assert run.server.connections >= 2
    assert not run.server.subscribes()


def test_crypto_venue_error_mid_stream_is_counted_and_the_connection_renewed() -> None:
    raw = crypto_records("t")

    async def error_after_first_trade(run: FeedRun) -> None:
        await run.wait(lambda: bool(run.of(Trade)), "the first trade")
        run.server.inject('[{"T":"error","code":405,"msg":"symbol limit exceeded"}]')

    run = crypto([Stream.TRADES], has(Trade, 2 * len(raw)), during=error_after_first_trade)
    assert run.session.parse_errors == 1 and run.server.connections == 2
    assert "alpaca code: 405 message: symbol limit exceeded" in {h.reason for h in
                                                         run.of(FeedHealth)}


def test_crypto_keys_the_trading_api_refuses_are_an_input_error() -> None:
    profile = AlpacaCryptoProfile(keys=("real-key", "real-secret"))
    with VenueServer(profile) as server:
        session = adapter_for("alpaca").session([BTC], [Stream.TRADES], lambda _: None,
                                                endpoint(server))
        with pytest.raises(InputError, match="not authorized"):
            asyncio.run(session.open())


def test_crypto_without_keys_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APCA_API_SECRET_KEY")
    with pytest.raises(InvalidConfiguration, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        adapter_for("alpaca")


def test_crypto_unknown_symbol_is_an_input_error_naming_close_matches() -> None:
    with VenueServer(AlpacaCryptoProfile()) as server:
        session = adapter_for("alpaca").session(["BTC/USX"], [Stream.TRADES], lambda _: None,
                                                endpoint(server))
        with pytest.raises(InputError, match=r"no market 'BTC/USX' \(closest: BTC/USD"):
            asyncio.run(session.open())
        assert not server.received


@pytest.mark.parametrize("stream", [Stream.FUNDING, Stream.MARK, Stream.LIQUIDATIONS])
def test_crypto_derivative_streams_are_refused_as_spot_only(stream: Stream) -> None:
    with pytest.raises(InputError, match="spot only"):
        adapter_for("alpaca").session([BTC], [stream], lambda _: None, FeedOptions())


# -- US equities, through alpaca-py -----------------------------------------------------------
def test_stock_trades_are_the_recorded_trades(data: Path) -> None:
    raw = stock_records("t")
    run = stocks([Stream.TRADES, Stream.QUOTES], has(Trade, len(raw)))
    want = [(ns(r["t"]), units(r["p"], STOCK_TICK), units(r["s"], STOCK_LOT), "",
             str(r["i"])) for r in raw]
    assert [(t.ts_event, t.price, t.size, t.aggressor, t.trade_id)
            for t in run.of(Trade)] == want
    assert run.session.parse_errors == 0
    assert sent(run.server)[:2] == [
        {"action": "auth", "key": KEYS[0], "secret": KEYS[1]},
        {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"]}]
    assert {path for path, _ in run.server.received} == {"/v2/iex"}


def test_stock_quotes_are_the_recorded_quotes(data: Path) -> None:
    raw = stock_records("q")
    run = stocks([Stream.QUOTES], has(Quote, len(raw)))
    want = [(ns(r["t"]), units(r["bp"], STOCK_TICK), units(r["ap"], STOCK_TICK),
             units(r["bs"], STOCK_LOT), units(r["as"], STOCK_LOT)) for r in raw]
    assert [(q.ts_event, q.bid, q.ask, q.bid_size, q.ask_size)
            for q in run.of(Quote)] == want


def test_stock_instrument_is_cents_to_a_ten_thousandth_and_fractional_shares(
        data: Path) -> None:
    run = stocks([Stream.TRADES], has(Trade, 1))
    [inst] = run.session.instruments
    assert (inst.id, inst.price_increment, inst.size_increment, inst.min_quantity,
            inst.min_notional, inst.maker_fee, inst.taker_fee) == (
        "AAPL.ALPACA", STOCK_TICK, STOCK_LOT, STOCK_LOT, Decimal(1), 0, 0)
    assert run.of(Trade)[0].instrument == inst


def test_stock_whole_share_asset_trades_in_whole_shares(data: Path) -> None:
    with VenueServer(AlpacaStocksProfile.recorded(DATA)) as server:
        session = adapter_for("alpaca-stocks").session(["BRK.A"], [Stream.TRADES],
                                                       lambda _: None, endpoint(server))
        asyncio.run(session.open())
    [inst] = session.instruments
    assert (inst.size_increment, inst.min_quantity, inst.min_notional) == (1, 1, 0)


def test_stock_refused_login_is_reported_and_retried_not_a_hang(data: Path) -> None:
    profile = AlpacaStocksProfile.recorded(DATA, stream_keys=("other-key", "other-secret"))
    run = stocks([Stream.TRADES], reconnected_twice, profile=profile, subscribes=0)
    assert {h.reason for h in run.of(FeedHealth)
            if h.state is FeedState.RECONNECTING} == {"alpaca: auth failed"}
    assert not run.of(Trade) and not run.server.subscribes()
    assert run.server.connections >= 2
    assert run.session.subscriptions[0].reconnects >= 2


def test_stock_keys_the_trading_api_refuses_are_an_input_error(data: Path) -> None:
    profile = AlpacaStocksProfile.recorded(DATA, keys=("real-key", "real-secret"))
    with VenueServer(profile) as server:
        session = adapter_for("alpaca-stocks").session(["AAPL"], [Stream.TRADES],
                                                       lambda _: None, endpoint(server))
        with pytest.raises(InputError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
            asyncio.run(session.open())


def test_stock_unknown_symbol_is_an_input_error_naming_close_matches(data: Path) -> None:
    with VenueServer(AlpacaStocksProfile.recorded(DATA)) as server:
        session = adapter_for("alpaca-stocks").session(["AAPX"], [Stream.TRADES],
                                                       lambda _: None, endpoint(server))
        with pytest.raises(InputError, match=r"no US equity 'AAPX' \(closest: AAPL, AAPD"):
            asyncio.run(session.open())
        assert server.connections == 0


def test_stock_crypto_symbol_is_sent_to_the_crypto_venue(data: Path) -> None:
    with VenueServer(AlpacaStocksProfile.recorded(DATA)) as server:
        session = adapter_for("alpaca-stocks").session(["BTCUSD"], [Stream.TRADES],
                                                       lambda _: None, endpoint(server))
        with pytest.raises(InputError, match="--venue alpaca"):
            asyncio.run(session.open())


@pytest.mark.parametrize(("stream", "reason"), [(Stream.BOOK, "no order book"),
                                                (Stream.FUNDING, "no funding")])
def test_stock_streams_alpaca_lacks_are_refused_with_the_reason(stream: Stream,
                                                                reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        adapter_for("alpaca-stocks").session(["AAPL"], [stream], lambda _: None,
                                             FeedOptions())


def test_stock_dropped_connection_is_reopened_and_replays(data: Path) -> None:
    n = len(stock_records("t"))

    async def drop_after_first(run: FeedRun) -> None:
        await run.wait(lambda: bool(run.of(Trade)), "the first trade")
        run.server.drop()

    run = stocks([Stream.TRADES], has(Trade, n + 1), during=drop_after_first)
    [sub] = run.session.subscriptions
    assert (sub.reconnects, run.server.connections) == (1, 2)
    assert "ConnectionClosedError" in next(h.reason for h in run.of(FeedHealth)
                                           if h.state is FeedState.RECONNECTING)
    changes = [h.state for h in run.of(FeedHealth)]
    changes = [s for i, s in enumerate(changes) if i == 0 or changes[i - 1] is not s]
    assert changes == [FeedState.LIVE, FeedState.RECONNECTING, FeedState.CONNECTING,
                       FeedState.LIVE, FeedState.STOPPED]


def quiet_run(market_open: bool) -> FeedRun:
    """Every record sent, then silence for a second with a 0.3 s stale limit."""
    n = len(stock_records("t"))

    async def wait_quiet(run: FeedRun) -> None:
        await run.wait(lambda: len(run.of(Trade)) >= n, "the trades")
        await asyncio.sleep(1.0)

    profile = AlpacaStocksProfile.recorded(DATA, market_open=market_open)
    return stocks([Stream.TRADES], has(Trade, n), profile=profile, during=wait_quiet,
                  stale_after_s=0.3)


def test_stock_silence_in_open_hours_renews_the_connection(data: Path) -> None:
    run = quiet_run(market_open=True)
    assert run.server.connections >= 2
    assert any(h.state is FeedState.STALE for h in run.of(FeedHealth))


def test_stock_silence_while_the_market_is_closed_is_not_stale(data: Path) -> None:
    run = quiet_run(market_open=False)
    assert run.server.connections == 1 and run.session.subscriptions[0].reconnects == 0
    assert not any(h.state is FeedState.STALE for h in run.of(FeedHealth))
    assert ("GET", "/v2/clock", {}) in run.server.requests


def test_stock_raw_sink_text_reads_back_to_the_same_events(data: Path) -> None:
    raw: list[tuple[str, str, int, str]] = []
    n = len(stock_records("t")) + len(stock_records("q"))
    run = stocks([Stream.TRADES, Stream.QUOTES],
                 lambda r: len(r.of(Trade)) + len(r.of(Quote)) >= n,
                 raw=lambda *frame: raw.append(frame))
    parser = AlpacaParser({i.symbol: i for i in run.session.instruments})
    again = [e for venue, url, ts, text in raw for e in parser.parse(text, ts) or []]
    assert again == [e for e in run.events if isinstance(e, Trade | Quote)]
    assert {(venue, url) for venue, url, _, _ in raw} == {("alpaca-stocks",
                                                           run.server.url.replace("http", "ws")
                                                           + "/v2/iex")}


def test_stock_sip_venue_streams_from_the_sip_feed(data: Path) -> None:
    run = stocks([Stream.TRADES], has(Trade, 1), venue="alpaca-stocks-sip")
    assert {path for path, _ in run.server.received} == {"/v2/sip"}


def test_stock_run_feeds_takes_alpaca_stocks_from_the_registry(data: Path) -> None:
    n = len(stock_records("t")) + len(stock_records("q"))
    events: list[Any] = []
    with VenueServer(AlpacaStocksProfile.recorded(DATA)) as server:
        request = FeedRequest("alpaca-stocks", ("AAPL",), (Stream.TRADES, Stream.QUOTES),
                              server.url)
        run = asyncio.run(run_feeds([request], events.append, options=endpoint(server),
                                    count=n, duration_s=WAIT_S))
    assert (run.stopped_by, run.events) == ("count", n)
    assert [type(e) for e in events if not isinstance(e, FeedHealth)] == [Trade, Trade, Quote,
                                                                         Quote, Trade, Quote,
                                                                         Trade, Quote]


@pytest.mark.slow
def test_heron_feed_command_streams_alpaca_stocks(data: Path) -> None:
    """``heron feed --venue alpaca-stocks`` end to end, in its own process (seconds: a new
    Python importing ccxt, and alpaca-py, which imports pandas)."""
    trades = stock_records("t")
    with VenueServer(AlpacaStocksProfile.recorded(DATA)) as server:
        env = {**os.environ, "APCA_API_KEY_ID": KEYS[0], "APCA_API_SECRET_KEY": KEYS[1]}
        done = subprocess.run(
            [sys.executable, "-m", "heron", "feed", "--venue", "alpaca-stocks", "--symbol",
             "AAPL", "--streams", "trades", "--endpoint", server.url, "--count",
             str(len(trades)), "--no-health"],
            capture_output=True, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(line["symbol"], line["type"], line["ts_event"], Decimal(line["data"]["price"]),
             Decimal(line["data"]["size"]), line["data"]["trade_id"]) for line in lines] == [
        ("AAPL", "trade", ns(r["t"]), r["p"], r["s"], str(r["i"])) for r in trades]
