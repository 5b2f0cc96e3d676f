"""Public trade history downloads (``kind="trades"``) for OKX, Bybit v5, Alpaca crypto,
and the venues that are refused (Hyperliquid, MEXC), against a loopback server.

As in ``test_download_venues.py``: a real ccxt client is pointed at
:class:`heron.testing.RestServer` (``endpoint=``) and downloads into a temporary
catalog. Market lists are the recorded bodies where one was recorded. No venue's REST
trades body was recorded except Alpaca's stock trades, so each trades body is built in
the venue's documented REST shape from real trades recorded elsewhere (WebSocket
captures of the same venue), and the helper that builds it says so.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from heron.data.catalog import Catalog
from heron.data.download import RetryPolicy, download
from heron.errors import DataError
from heron.testing import Request, RestServer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
VENUES = SHARED / "venues"
pytestmark = pytest.mark.skipif(not VENUES.is_dir(), reason="shared/data test set not present")

MS = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def _get(server: RestServer, catalog: Catalog, **kwargs: Any) -> Any:
    return download(catalog, endpoint=server.url, rate_limit_ms=1,
                    retry=RetryPolicy(attempts=1, sleep=lambda _: None), **kwargs)


def _ws_messages(path: Path) -> Iterator[dict[str, Any]]:
    """The received JSON messages of a cryptofeed capture."""
    with gzip.open(path, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if record["dir"] != "recv":
                continue
            try:
                message = json.loads(record["raw"])
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict):
                yield message


# -- OKX ---------------------------------------------------------------------------------------
OKX_HISTORY = "/api/v5/market/history-trades"


def _okx_instruments() -> Callable[[Request], bytes]:
    """GET /api/v5/public/instruments: the real bodies cryptofeed recorded on 2022-05-13
    (BTC-USDT spot: tick 0.1, lot 0.00000001), the day of the trades below; SWAP is the
    recorded nautilus fixture body (that capture did not ask for swaps)."""
    recorded: dict[str, bytes] = {}
    path = VENUES / "okx" / "cryptofeed_rest_instruments_2022-05-13.jsonl.gz"
    with gzip.open(path, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if record["dir"] == "http_response":
                recorded.setdefault(record["url"].split("?", 1)[1], str(record["raw"]).encode())
    recorded["instType=SWAP"] = (VENUES / "okx" / "fixtures" /
                                 "http_get_instruments_swap.json").read_bytes()

    def answer(request: Request) -> bytes:
        query = f"instType={request.query['instType']}"
        if "uly" in request.query:
            query += f"&uly={request.query['uly']}"
        return recorded[query]
    return answer


def _okx_trades() -> list[dict[str, str]]:
    """The 69 real BTC-USDT spot trades of the OKX v5 public WebSocket capture
    (2022-05-13), oldest first. The ``trades`` channel pushes exactly the objects of GET
    /api/v5/market/history-trades (``instId tradeId px sz side ts``); no REST trades body
    was recorded."""
    trades = {}
    for message in _ws_messages(VENUES / "okx" / "cryptofeed_ws_v5_public_2022-05-13.jsonl.gz"):
        if message.get("arg", {}).get("channel") == "trades":
            for trade in message.get("data", []):
                if trade["instId"] == "BTC-USDT":
                    trades[trade["tradeId"]] = trade
    return sorted(trades.values(), key=lambda t: (int(t["ts"]), int(t["tradeId"])))


def _okx_history_trades(trades: list[dict[str, str]]) -> Callable[[Request], bytes]:
    """GET /api/v5/market/history-trades with ``type=2`` (page by timestamp): trades newer
    than ``before``, newest first, at most ``limit`` and never more than 25 (to make the
    69 trades span pages). As for OKX's funding history (``test_download_venues``), which
    trades come back when more than ``limit`` are newer is not documented; this serves the
    ones nearest ``before``, which forward paging relies on."""
    def answer(request: Request) -> bytes:
        query = request.query
        assert (query["instId"], query["type"]) == ("BTC-USDT", "2")
        low = int(query["before"])
        chosen = [t for t in trades if int(t["ts"]) > low][:min(int(query["limit"]), 25)]
        return json.dumps({"code": "0", "msg": "", "data": chosen[::-1]}).encode()
    return answer


@pytest.fixture
def okx() -> Iterator[RestServer]:
    with RestServer() as server:
        server.route("GET", "/api/v5/public/instruments", _okx_instruments())
        server.route("GET", OKX_HISTORY, _okx_history_trades(_okx_trades()))
        yield server


def test_download_okx_trades_pages_history_exact(okx: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    real = _okx_trades()
    assert len(real) == 69
    report = _get(okx, catalog, venue="okx", symbol="BTC/USDT", kind="trades",
                  start_ns=_ns("2022-05-13"), end_ns=_ns("2022-05-14"))
    trades = catalog.read("OKX", "BTC-USDT", "trades")
    assert trades.height == report.rows_added == 69
    assert trades["trade_id"].to_list() == [t["tradeId"] for t in real]
    assert trades["sequence"].to_list() == [int(t["tradeId"]) for t in real]
    # history-trades, never the latest-trades endpoint; 25 a page, each from the last
    # page's last ms (the 2, 4 and 1 trades in it come again and are skipped), until a
    # page holding only the last ms ends it
    assert not okx.requests_to("/api/v5/market/trades")
    asked = okx.requests_to(OKX_HISTORY)
    assert int(asked[0].query["before"]) == _ns("2022-05-13") // MS - 1
    assert [int(r.query["before"]) for r in asked[1:]] == [
        int(real[i]["ts"]) - 1 for i in (24, 47, 68)]
    assert report.requests == len(asked) == 4 and asked[0].query["limit"] == "100"
    assert report.rows_skipped == 2 + 4 + 1 and report.rows_fetched == 69 + 7
    first = trades.row(0, named=True)
    assert real[0] == {"instId": "BTC-USDT", "tradeId": "338476307", "px": "30236",
                       "sz": "0.0002", "side": "buy", "ts": "1652459224818"}
    assert first["ts_event"] == first["ts_recv"] == 1652459224818 * MS
    assert (first["price"], first["size"], first["aggressor"]) == (302360, 20000, 1)
    sells = [t for t in real if t["side"] == "sell"]
    assert trades.filter(trades["aggressor"] == -1).height == len(sells) > 0
    last = trades.row(-1, named=True)
    assert last["price"] == int(Decimal(real[-1]["px"]) * 10)  # ticks of 0.1
    assert last["size"] == int(Decimal(real[-1]["sz"]) * 10**8)  # lots of 0.00000001


def test_download_okx_trades_resume_after_catalog_last_trade(okx: RestServer,
                                                             tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    real = _okx_trades()
    split = int(real[31]["ts"]) * MS  # trades 0..30 are before it
    assert int(real[30]["ts"]) < int(real[31]["ts"]) and real[29]["ts"] == real[30]["ts"]
    args = {"venue": "okx", "symbol": "BTC-USDT", "kind": "trades",
            "start_ns": _ns("2022-05-13")}
    first = _get(okx, catalog, end_ns=split, **args)
    assert first.rows_added == 31 and not first.resumed
    before = len(okx.requests_to(OKX_HISTORY))
    second = _get(okx, catalog, end_ns=_ns("2022-05-14"), **args)
    asked = okx.requests_to(OKX_HISTORY)[before:]
    # from the stored last trade's ms: its 2 stored trades come again and are skipped,
    # as are the page-boundary repeats (1 on page 2, 1 on the last page)
    assert int(asked[0].query["before"]) == int(real[30]["ts"]) - 1
    assert second.resumed and second.start_ns == int(real[30]["ts"]) * MS
    assert [int(r.query["before"]) for r in asked] == [
        int(real[i]["ts"]) - 1 for i in (30, 54, 68)]
    assert second.rows_added == 38 and second.rows_skipped == 2 + 1 + 1
    assert catalog.read("OKX", "BTC-USDT", "trades")["trade_id"].to_list() == [
        t["tradeId"] for t in real]


# -- Bybit v5 ----------------------------------------------------------------------------------
BYBIT_RECENT = "/v5/market/recent-trade"


def _bybit_body(result: dict[str, Any]) -> bytes:
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                       "time": 1618677810000}).encode()


def _bybit_instruments(request: Request) -> bytes:
    """GET /v5/market/instruments-info: linear is the recorded nautilus fixture (BTCUSDT,
    ETHUSDT: tick 0.01, lot 0.01) with the ``result.category`` of Bybit's documented body
    put back; the other categories were not recorded: an empty documented list."""
    category = request.query["category"]
    if category == "linear" and "status" not in request.query:
        body = json.loads((VENUES / "bybit" / "fixtures" / "http_linear_instruments.json")
                          .read_text())
        body["result"].setdefault("category", "linear")
        return json.dumps(body).encode()
    return _bybit_body({"category": category, "list": [], "nextPageCursor": ""})


def _bybit_trades() -> list[dict[str, Any]]:
    """The 6 real ETHUSDT trades of Bybit's (legacy) public WebSocket capture of
    2021-04-17, oldest first, as the objects of GET /v5/market/recent-trade's documented
    shape (``execId symbol price size side time isBlockTrade``); no REST trades body was
    recorded. Two share the ms 1618677794812; linear execIds are UUIDs."""
    path = VENUES / "bybit" / "legacy_cryptofeed_ws_realtime_public_2021-04-17.jsonl.gz"
    trades = []
    for message in _ws_messages(path):
        if message.get("topic") == "trade.ETHUSDT":
            for trade in message["data"]:
                trades.append({"execId": trade["trade_id"], "symbol": "ETHUSDT",
                               "price": trade["price"], "size": f"{trade['size']:.2f}",
                               "side": trade["side"], "time": trade["trade_time_ms"],
                               "isBlockTrade": False})
    return trades


def _bybit_recent(request: Request) -> bytes:
    """GET /v5/market/recent-trade as Bybit documents it: the latest ``limit`` trades,
    newest first; it takes no time parameter."""
    query = request.query
    assert (query["category"], query["symbol"]) == ("linear", "ETHUSDT")
    assert not {"start", "startTime", "since"} & set(query)
    chosen = _bybit_trades()[::-1][:int(query["limit"])]
    return _bybit_body({"category": "linear", "list": chosen})


@pytest.fixture
def bybit() -> Iterator[RestServer]:
    with RestServer() as server:
        server.route("GET", "/v5/market/instruments-info", _bybit_instruments)
        server.route("GET", BYBIT_RECENT, _bybit_recent)
        yield server


def test_download_bybit_trades_one_page_of_recent_trades(bybit: RestServer,
                                                         tmp_path: Path) -> None:
    # Bybit v5 has no public trade history: one request, its trades inside the range
    catalog = Catalog(tmp_path)
    real = _bybit_trades()
    report = _get(bybit, catalog, venue="bybit", symbol="ETH/USDT:USDT", kind="trades",
                  start_ns=1618677784718 * MS, end_ns=_ns("2021-04-18"))
    asked = bybit.requests_to(BYBIT_RECENT)
    assert len(asked) == report.requests == 1 and asked[0].query["limit"] == "1000"
    trades = catalog.read("BYBIT", "ETHUSDT", "trades")
    assert trades.height == report.rows_added == 5  # the first (…784506) is before start
    assert trades["trade_id"].to_list() == [t["execId"] for t in real[1:]]
    assert trades["ts_event"].to_list() == [int(t["time"]) * MS for t in real[1:]]
    assert trades["price"].to_list() == [236495, 236495, 236490, 236490, 236460]  # 0.01
    assert trades["size"].to_list() == [13, 1, 1, 1, 1]  # lots of 0.01
    assert trades["aggressor"].to_list() == [1, 1, -1, -1, 1]
    # UUID ids: 63 bits of their SHA-256, so the two trades in ms …794812 stay apart
    sequences = trades["sequence"].to_list()
    assert len(set(sequences)) == 5 and all(0 <= s < 2**63 for s in sequences)
    again = _get(bybit, catalog, venue="bybit", symbol="ETHUSDT", kind="trades",
                 start_ns=1618677784718 * MS, end_ns=_ns("2021-04-18"))
    assert again.rows_added == 0 and catalog.read("BYBIT", "ETHUSDT", "trades").equals(trades)


# -- Alpaca crypto -----------------------------------------------------------------------------
ALPACA_TRADES = "/v1beta3/crypto/us/trades"


def _alpaca_time_ms(text: str) -> int:
    return (datetime.fromisoformat(text.replace("Z", "+00:00")) - EPOCH) // timedelta(
        milliseconds=1)


def _alpaca_trades() -> list[dict[str, Any]]:
    """The 2 real AAPL trades of the recorded GET /v2/stocks/trades body (2022-03-09):
    ccxt's Alpaca is crypto only, and a crypto trade has the same ``t p s i`` fields
    plus the taker side ``tks``, which a stock trade lacks: here "B" on the first and "S"
    on the second (not recorded), so both sides are checked."""
    path = VENUES / "alpaca" / "rest_v2_stocks_trades_AAPL_2022-03-09.json"
    stock = json.loads(path.read_text())["trades"]["AAPL"]
    return [{"t": t["t"], "p": t["p"], "s": t["s"], "i": t["i"], "tks": side}
            for t, side in zip(stock, ("B", "S"), strict=True)]


def _alpaca_crypto_trades(request: Request) -> bytes:
    """GET /v1beta3/crypto/us/trades as Alpaca documents it: trades of ``symbols`` from
    ``start`` (inclusive), oldest first, at most ``limit``, keyed by symbol."""
    since = _alpaca_time_ms(request.query["start"])
    chosen = [t for t in _alpaca_trades() if _alpaca_time_ms(t["t"]) >= since]
    return json.dumps({"trades": {request.query["symbols"]: chosen[:int(request.query["limit"])]},
                       "next_page_token": None}).encode()


@pytest.fixture
def alpaca(monkeypatch: pytest.MonkeyPatch) -> Iterator[RestServer]:
    # ccxt's Alpaca lists markets through the trading API (/v2/assets), so heron wants
    # keys even for public data: dummy ones, never sent anywhere but the loopback server.
    monkeypatch.setenv("APCA_API_KEY_ID", "test-key")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "test-secret")
    # /v2/assets was not recorded: one asset in Alpaca's documented shape.
    asset = {"id": "276e2673-764b-4ab6-a611-caf665ca6340", "class": "crypto",
             "exchange": "CRYPTO", "symbol": "BTC/USD", "name": "Bitcoin", "status": "active",
             "tradable": True, "marginable": False, "shortable": False,
             "easy_to_borrow": False, "fractionable": True, "min_order_size": "0.0001",
             "min_trade_increment": "0.000000001", "price_increment": "0.01"}
    with RestServer() as server:
        server.route("GET", "/v2/assets", json.dumps([asset]))
        server.route("GET", ALPACA_TRADES, _alpaca_crypto_trades)
        yield server


def test_download_alpaca_trades_exact(alpaca: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(alpaca, catalog, venue="alpaca", symbol="BTC/USD", kind="trades",
                  start_ns=_ns("2022-03-09"), end_ns=_ns("2022-03-10"))
    trades = catalog.read("ALPACA", "BTC/USD", "trades")
    assert trades.height == report.rows_added == 2
    assert trades["ts_event"].to_list() == [1646802002183 * MS, 1646802016910 * MS]
    assert trades["price"].to_list() == [15907, 15907]  # 159.07 in ticks of 0.01
    assert trades["size"].to_list() == [10**9, 2 * 10**9]  # lots of 0.000000001
    assert trades["aggressor"].to_list() == [1, -1]
    assert trades["trade_id"].to_list() == ["151", "168"]
    assert trades["sequence"].to_list() == [151, 168]
    # from the range start, then from the last trade's ms, which brings nothing new
    starts = [r.query["start"] for r in alpaca.requests_to(ALPACA_TRADES)]
    assert starts == ["2022-03-09T00:00:00.000Z", "2022-03-09T05:00:16.910Z"]
    assert report.requests == 2 and report.rows_skipped == 1


# -- refused -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("venue", "symbol", "why"), [
    ("hyperliquid", "BTC/USDC:USDC", "no public trade history"),
    ("mexc", "XRP/USDT", "without ids"),
])
def test_download_trades_refused_before_any_request(venue: str, symbol: str, why: str,
                                                    tmp_path: Path) -> None:
    with RestServer() as server:
        with pytest.raises(DataError, match=f"cannot download {venue} trades: .*{why}") as caught:
            _get(server, Catalog(tmp_path), venue=venue, symbol=symbol, kind="trades",
                 start_ns=_ns("2023-05-01"), end_ns=_ns("2023-05-02"))
        assert not server.requests
    assert "\n" not in str(caught.value)
