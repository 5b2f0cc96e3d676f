"""History download through ccxt for OKX, Bybit v5 and MEXC, against a loopback server.

As in ``test_download.py``: a real ccxt client is pointed at
:class:`heron.testing.RestServer` (``endpoint=``) and downloads into a temporary
catalog. Each venue's market list is served from the recorded bodies in the shared test
set where one was recorded; the endpoints ccxt's ``load_markets`` also calls but that
the test does not use get the venue's documented empty answer, and every body that is
not a recording says so in the helper that builds it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from heron.data.catalog import Catalog
from heron.data.download import RetryPolicy, download
from heron.testing import Request, RestServer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
VENUES = SHARED / "venues"
pytestmark = pytest.mark.skipif(not VENUES.is_dir(), reason="shared/data test set not present")

MS = 1_000_000
MINUTE_MS = 60_000
FIVE_MIN_MS = 300_000
DAY_MS = 86_400_000


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def _get(server: RestServer, catalog: Catalog, **kwargs: Any) -> Any:
    return download(catalog, endpoint=server.url, rate_limit_ms=1,
                    retry=RetryPolicy(attempts=1, sleep=lambda _: None), **kwargs)


def _xrp_5m() -> list[tuple[int, str, str, str, str, str]]:
    """Real 5m XRP/USDT candles (freqtrade's Binance USD-M XRP/USDT:USDT, 2021-11-15..21)
    as ``(open ms, o, h, l, c, volume)`` texts. No OKX or MEXC candle body spanning several
    pages was recorded, so the venue bodies below carry these values; prices are printed
    with 4 places and volumes with 1, as Binance printed them (the feather's floats carry
    noise such as 1.2065000000000001 that no venue body has)."""
    frame = pl.read_ipc(SHARED / "bars" / "freqtrade_XRP_USDT_perp_5m_futures_2021-11.feather")
    return [(int(date.timestamp() * 1000), f"{o:.4f}", f"{h:.4f}", f"{low:.4f}", f"{c:.4f}",
             f"{v:.1f}") for date, o, h, low, c, v in frame.iter_rows()]


def _requests(server: RestServer, paths: Sequence[str]) -> list[Request]:
    return [r for r in server.requests if r.path in paths]


# -- OKX ---------------------------------------------------------------------------------------
OKX_CANDLES = ("/api/v5/market/history-candles", "/api/v5/market/candles")


def _okx_instruments() -> Callable[[Request], bytes]:
    """GET /api/v5/public/instruments by ``instType`` (and ``uly`` for options): the real
    SPOT, FUTURES and OPTION (BTC-USD, ETH-USD) bodies cryptofeed recorded on 2022-05-13,
    which are exactly the requests ccxt's ``load_markets`` makes; SWAP is the newer
    recorded body of nautilus' fixture (BTC-USDT-SWAP in lots of 0.01 contracts), whose
    era matches the recorded candles body."""
    recorded: dict[str, bytes] = {}
    path = VENUES / "okx" / "cryptofeed_rest_instruments_2022-05-13.jsonl.gz"
    with gzip.open(path, "rt") as lines:
        for line in lines:
            record = json.loads(line)
            if record["dir"] == "http_response":
                query = record["url"].split("?", 1)[1]
                recorded.setdefault(query, str(record["raw"]).encode())
    recorded["instType=SWAP"] = (VENUES / "okx" / "fixtures" /
                                 "http_get_instruments_swap.json").read_bytes()

    def answer(request: Request) -> bytes:
        query = f"instType={request.query['instType']}"
        if "uly" in request.query:
            query += f"&uly={request.query['uly']}"
        return recorded[query]
    return answer


def _okx_candle_rows() -> dict[str, list[list[str]]]:
    """Candle rows by ``instId`` in OKX's documented 9-field shape ``[ts, o, h, l, c, vol,
    volCcy, volCcyQuote, confirm]``. BTC-USDT-SWAP: the 2 rows of the recorded GET
    /api/v5/market/candles body. XRP-USDT (spot, where ``vol`` is in XRP): the real XRP
    5m values of :func:`_xrp_5m`; ``volCcy``/``volCcyQuote`` (quote volume, which heron
    does not read for spot) are zero."""
    recorded = json.loads((VENUES / "okx" / "fixtures" / "http_get_candlesticks_full.json")
                          .read_text())["data"]
    xrp = [[str(ts), o, h, low, c, v, "0", "0", "1"] for ts, o, h, low, c, v in _xrp_5m()]
    return {"BTC-USDT-SWAP": recorded, "XRP-USDT": xrp}


def _okx_candles(rows_by_id: dict[str, list[list[str]]]) -> Callable[[Request], bytes]:
    """GET /api/v5/market/(history-)candles as OKX documents it: rows strictly newer than
    ``before`` and strictly older than ``after``, newest first, the newest ``limit``."""
    def answer(request: Request) -> bytes:
        query = request.query
        assert query["bar"] in ("1m", "5m")
        low, high = int(query.get("before", -1)), int(query.get("after", 2**62))
        rows = sorted((row for row in rows_by_id[query["instId"]] if low < int(row[0]) < high),
                      key=lambda row: -int(row[0]))[:int(query.get("limit", 100))]
        return json.dumps({"code": "0", "msg": "", "data": rows}).encode()
    return answer


def _okx_funding_rows() -> list[dict[str, str]]:
    """The 2 rows of the recorded GET /api/v5/public/funding-rate-history body
    (BTC-USDT-SWAP, 2023-12-31 16:00 and 2024-01-01 00:00)."""
    path = VENUES / "okx" / "fixtures" / "http_get_funding_rate_history.json"
    rows: list[dict[str, str]] = json.loads(path.read_text())["data"]
    return rows


def _okx_funding(request: Request) -> bytes:
    """GET /api/v5/public/funding-rate-history: rows newer than ``before``, newest first,
    at most ``limit``, and never more than 1 (to make the 2 recorded rows span pages).
    OKX documents ``before`` as "records newer than"; which of those come back when
    there are more than ``limit`` is not documented, and this serves the ones nearest
    ``before`` (forward paging), which heron's pagination relies on."""
    low = int(request.query.get("before", -1))
    limit = min(int(request.query.get("limit", 100)), 1)
    newer = [row for row in _okx_funding_rows() if int(row["fundingTime"]) > low
             and row["instId"] == request.query["instId"]]
    # the rows nearest to ``before`` come back, as when OKX pages forward with ``before``
    chosen = sorted(newer, key=lambda row: int(row["fundingTime"]))[:limit]
    chosen.sort(key=lambda row: -int(row["fundingTime"]))
    return json.dumps({"code": "0", "msg": "", "data": chosen}).encode()


@pytest.fixture
def okx() -> Iterator[RestServer]:
    server = RestServer()
    server.route("GET", "/api/v5/public/instruments", _okx_instruments())
    candles = _okx_candles(_okx_candle_rows())
    for path in OKX_CANDLES:
        server.route("GET", path, candles)
    server.route("GET", "/api/v5/public/funding-rate-history", _okx_funding)
    with server:
        yield server


def test_download_okx_spot_bars_paginate_exact(okx: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    real = _xrp_5m()
    report = _get(okx, catalog, venue="okx", symbol="XRP/USDT", kind="bars", timeframe="5m",
                  start_ns=_ns("2021-11-15"), end_ns=_ns("2021-11-22"))
    bars = catalog.read("OKX", "XRP-USDT", "bars")
    assert bars.height == len(real) == report.rows_added == 1999
    asked = _requests(okx, OKX_CANDLES)
    # 100 bars a page, then one empty page after the data's last bar (22:30) ends it
    assert len(asked) == report.requests == 21
    assert int(asked[0].query["before"]) == _ns("2021-11-15") // MS - 1
    first, last = bars.row(0, named=True), bars.row(-1, named=True)
    assert first["ts_event"] == _ns("2021-11-15") and first["interval_ns"] == FIVE_MIN_MS * MS
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        118930, 119540, 118910, 119410)  # ticks of 0.00001 (tickSz of the 2022 body)
    assert first["volume"] == 9289043500000  # 9289043.5 in lots of 0.000001
    assert last["ts_event"] == _ns("2021-11-21T22:30:00") and last["close"] == 107130
    instrument = catalog.instrument("OKX", "XRP-USDT")
    assert (instrument.price_increment, instrument.size_increment) == (
        Decimal("0.00001"), Decimal("0.000001"))
    assert not instrument.is_perpetual and instrument.quote_currency == "USDT"
    # ccxt lists spot, futures, swap and both option underlyings, as recorded
    listed = [dict(r.query) for r in okx.requests_to("/api/v5/public/instruments")]
    assert {"instType": "OPTION", "uly": "ETH-USD"} in listed and len(listed) == 5


def test_download_okx_bars_resume_after_catalog_last_bar(okx: RestServer,
                                                         tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    args = {"venue": "okx", "symbol": "XRP-USDT", "kind": "bars", "timeframe": "5m",
            "start_ns": _ns("2021-11-15")}
    first = _get(okx, catalog, end_ns=_ns("2021-11-16"), **args)
    assert first.rows_added == 288 and not first.resumed
    before = len(okx.requests)
    second = _get(okx, catalog, end_ns=_ns("2021-11-22"), **args)
    asked = [r for r in okx.requests[before:] if r.path in OKX_CANDLES]
    # the first page is asked for bars newer than the stored last bar (23:55)
    assert int(asked[0].query["before"]) == _ns("2021-11-16") // MS - 1
    assert second.resumed and second.rows_added == 1999 - 288 and second.rows_skipped == 0
    assert catalog.read("OKX", "XRP-USDT", "bars").height == 1999


def test_download_okx_swap_bars_volume_in_contracts(okx: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(okx, catalog, venue="okx", symbol="BTC/USDT:USDT", kind="bars",
                  timeframe="1m", start_ns=_ns("2025-05-12T23:50:00"),
                  end_ns=_ns("2025-05-13T00:00:00"))
    bars = catalog.read("OKX", "BTC-USDT-SWAP", "bars")
    assert bars.height == report.rows_added == 2
    first, last = bars.row(0, named=True), bars.row(1, named=True)
    assert first["ts_event"] == 1747093980000 * MS
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1028060, 1028205, 1027831, 1028061)  # ticks of 0.1
    # OKX's ``vol`` is 7164.04 contracts (``volCcy`` 71.6404 BTC at 0.01 BTC a contract):
    # lots of 0.01 contracts, as the instrument's size and trades are counted
    assert first["volume"] == 716404 and last["volume"] == 104037
    instrument = catalog.instrument("OKX", "BTC-USDT-SWAP")
    assert instrument.is_perpetual and instrument.multiplier == Decimal("0.01")
    assert instrument.size_increment == Decimal("0.01")


def test_download_okx_funding_exact_across_pages(okx: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(okx, catalog, venue="okx", symbol="BTC-USDT-SWAP", kind="funding",
                  start_ns=_ns("2023-12-31"), end_ns=_ns("2024-01-02"))
    funding = catalog.read("OKX", "BTC-USDT-SWAP", "funding")
    assert report.rows_added == funding.height == 2
    assert funding["ts_event"].to_list() == [1704038400000 * MS, 1704067200000 * MS]
    # ccxt reports OKX's ``realizedRate`` (the rate charged), not ``fundingRate``
    assert [f"{rate.normalize():f}" for rate in funding["rate"]] == ["-0.00002", "0.00015"]
    asked = okx.requests_to("/api/v5/public/funding-rate-history")
    assert [int(r.query["before"]) for r in asked[:2]] == [
        _ns("2023-12-31") // MS - 1, 1704038400000]  # then after the first row


# -- Bybit v5 ----------------------------------------------------------------------------------
def _bybit_body(result: dict[str, Any]) -> bytes:
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},
                       "time": 1694674505073}).encode()


def _bybit_instruments(request: Request) -> bytes:
    """GET /v5/market/instruments-info per ``category``: linear is the recorded body
    (nautilus fixture: BTCUSDT, ETHUSDT), with the ``result.category`` that Bybit's
    documented body carries and ccxt reads (to tell linear from inverse) put back: the
    fixture was trimmed of it. Spot, inverse, option (one request per ``baseCoin``) and
    the ``status=PreLaunch`` listing were not recorded and are not tested: an empty
    ``list`` in the documented shape."""
    category = request.query["category"]
    if category == "linear" and "status" not in request.query:
        body = json.loads((VENUES / "bybit" / "fixtures" / "http_linear_instruments.json")
                          .read_text())
        body["result"].setdefault("category", "linear")
        return json.dumps(body).encode()
    return _bybit_body({"category": category, "list": [], "nextPageCursor": ""})


def _bybit_klines() -> list[list[str]]:
    """The 3 daily BTCUSDT rows of the recorded GET /v5/market/kline (linear) body."""
    path = VENUES / "bybit" / "fixtures" / "http_linear_klines_btc.json"
    rows: list[list[str]] = json.loads(path.read_text())["result"]["list"]
    return rows


def _bybit_kline(request: Request) -> bytes:
    """GET /v5/market/kline as Bybit documents it: rows from ``start`` (to ``end``), newest
    first; at most ``limit`` and never more than 2 (to make the 3 recorded rows span
    pages), the ones nearest ``start`` (as Bybit answers when only ``start`` is given)."""
    query = request.query
    assert (query["category"], query["interval"]) == ("linear", "D")
    low, high = int(query.get("start", 0)), int(query.get("end", 2**62))
    rows = sorted((row for row in _bybit_klines() if low <= int(row[0]) <= high),
                  key=lambda row: int(row[0]))[:min(int(query.get("limit", 200)), 2)]
    return _bybit_body({"symbol": query["symbol"], "category": "linear",
                        "list": rows[::-1]})


def _bybit_funding_rows() -> list[dict[str, str]]:
    """No Bybit funding-history body was recorded: rows in GET /v5/market/funding/history's
    documented shape carrying the real OKX BTC-USDT-SWAP rates recorded above."""
    return [{"symbol": "BTCUSDT", "fundingRate": row["fundingRate"],
             "fundingRateTimestamp": row["fundingTime"]} for row in _okx_funding_rows()]


def _bybit_funding(request: Request) -> bytes:
    """Rows in ``[startTime, endTime]``, newest first, at most ``limit`` and never more
    than 1 (to make 2 rows span pages), the ones nearest ``startTime``."""
    query = request.query
    low, high = int(query.get("startTime", 0)), int(query.get("endTime", 2**62))
    rows = sorted((row for row in _bybit_funding_rows()
                   if low <= int(row["fundingRateTimestamp"]) <= high),
                  key=lambda row: int(row["fundingRateTimestamp"]))
    chosen = rows[:min(int(query.get("limit", 200)), 1)]
    return _bybit_body({"category": query["category"], "list": chosen[::-1]})


@pytest.fixture
def bybit() -> Iterator[RestServer]:
    with RestServer() as server:
        server.route("GET", "/v5/market/instruments-info", _bybit_instruments)
        server.route("GET", "/v5/market/kline", _bybit_kline)
        server.route("GET", "/v5/market/funding/history", _bybit_funding)
        yield server


def test_download_bybit_bars_paginate_exact(bybit: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(bybit, catalog, venue="bybit", symbol="BTC/USDT:USDT", kind="bars",
                  timeframe="1d", start_ns=_ns("2023-09-12"), end_ns=_ns("2023-09-15"))
    bars = catalog.read("BYBIT", "BTCUSDT", "bars")
    assert bars.height == report.rows_added == 3
    asked = bybit.requests_to("/v5/market/kline")
    assert [int(r.query["start"]) for r in asked] == [
        _ns("2023-09-12") // MS, _ns("2023-09-14") // MS]
    first, last = bars.row(0, named=True), bars.row(-1, named=True)
    assert first["ts_event"] == _ns("2023-09-12") and first["interval_ns"] == DAY_MS * MS
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        251555, 265561, 251177, 258283)  # ticks of 0.10
    assert first["volume"] == 56642088  # 56642.088 in lots of 0.001
    assert last["ts_event"] == _ns("2023-09-14") and last["close"] == 262682
    assert last["volume"] == 11185573
    instrument = catalog.instrument("BYBIT", "BTCUSDT")
    assert (instrument.price_increment, instrument.size_increment) == (
        Decimal("0.10"), Decimal("0.001"))
    assert instrument.is_perpetual and instrument.min_notional == 5
    categories = {r.query["category"] for r in bybit.requests_to("/v5/market/instruments-info")}
    assert categories == {"spot", "linear", "inverse", "option"}


def test_download_bybit_bars_resume_after_catalog_last_bar(bybit: RestServer,
                                                           tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    args = {"venue": "bybit", "symbol": "BTCUSDT", "kind": "bars", "timeframe": "1d",
            "start_ns": _ns("2023-09-12")}
    first = _get(bybit, catalog, end_ns=_ns("2023-09-13"), **args)
    assert first.rows_added == 1 and not first.resumed
    before = len(bybit.requests)
    second = _get(bybit, catalog, end_ns=_ns("2023-09-15"), **args)
    asked = [r for r in bybit.requests[before:] if r.path == "/v5/market/kline"]
    assert int(asked[0].query["start"]) == _ns("2023-09-13") // MS
    assert second.resumed and second.rows_added == 2 and second.rows_skipped == 0
    assert catalog.read("BYBIT", "BTCUSDT", "bars")["ts_event"].to_list() == [
        _ns("2023-09-12"), _ns("2023-09-13"), _ns("2023-09-14")]


def test_download_bybit_funding_exact_across_pages(bybit: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(bybit, catalog, venue="bybit", symbol="BTC/USDT:USDT", kind="funding",
                  start_ns=_ns("2023-12-31"), end_ns=_ns("2024-01-02"))
    funding = catalog.read("BYBIT", "BTCUSDT", "funding")
    assert report.rows_added == funding.height == 2
    assert funding["ts_event"].to_list() == [1704038400000 * MS, 1704067200000 * MS]
    assert [f"{rate.normalize():f}" for rate in funding["rate"]] == [
        "-0.0000236017", "0.0001515032"]
    asked = bybit.requests_to("/v5/market/funding/history")
    assert [int(r.query["startTime"]) for r in asked[:2]] == [
        _ns("2023-12-31") // MS, 1704038400001]


# -- MEXC --------------------------------------------------------------------------------------
def _mexc_exchange_info() -> bytes:
    """GET /api/v3/exchangeInfo was not recorded: one XRPUSDT symbol in MEXC's documented
    shape (prices to 4 places, quantities to 2, as the served XRP candles are printed)."""
    symbol = {"symbol": "XRPUSDT", "status": "1", "baseAsset": "XRP",
              "baseAssetPrecision": 2, "quoteAsset": "USDT", "quotePrecision": 4,
              "quoteAssetPrecision": 4, "baseCommissionPrecision": 2,
              "quoteCommissionPrecision": 4, "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
              "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
              "quoteAmountPrecision": "1.000000000000000000000000000000",
              "baseSizePrecision": "0", "permissions": ["SPOT"], "filters": [],
              "maxQuoteAmount": "2000000.000000000000000000000000000000",
              "makerCommission": "0", "takerCommission": "0.0005",
              "quoteAmountPrecisionMarket": "1.000000000000000000000000000000",
              "maxQuoteAmountMarket": "100000.000000000000000000000000000000",
              "fullName": "XRP", "tradeSideType": 1}
    return json.dumps({"timezone": "CST", "serverTime": 1637294400000, "rateLimits": [],
                       "exchangeFilters": [], "symbols": [symbol]}).encode()


def _mexc_klines(request: Request) -> bytes:
    """GET /api/v3/klines in MEXC's documented 8-field shape ``[open ms, o, h, l, c, v,
    close ms, quote volume]``, carrying the real XRP 5m values of :func:`_xrp_5m` (quote
    volume, unread by heron, is zero): rows in ``[startTime, endTime)``, oldest first, at
    most ``limit`` and never more than 500 (MEXC's spot cap, as ccxt notes)."""
    query = request.query
    assert (query["symbol"], query["interval"]) == ("XRPUSDT", "5m")
    low, high = int(query.get("startTime", 0)), int(query.get("endTime", 2**62))
    rows = [[ts, o, h, lo, c, v, ts + FIVE_MIN_MS - 1, "0"]
            for ts, o, h, lo, c, v in _xrp_5m() if low <= ts < high]
    return json.dumps(rows[:min(int(query.get("limit", 500)), 500)]).encode()


@pytest.fixture
def mexc() -> Iterator[RestServer]:
    with RestServer() as server:
        server.route("GET", "/api/v3/exchangeInfo", _mexc_exchange_info())
        # ccxt lists futures too (GET /api/v1/contract/detail); not recorded and not
        # tested: the documented answer with no contracts.
        server.route("GET", "/api/v1/contract/detail",
                     json.dumps({"success": True, "code": 0, "data": []}))
        server.route("GET", "/api/v3/klines", _mexc_klines)
        yield server


def test_download_mexc_bars_paginate_exact(mexc: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(mexc, catalog, venue="mexc", symbol="XRP/USDT", kind="bars",
                  timeframe="5m", start_ns=_ns("2021-11-15"), end_ns=_ns("2021-11-22"))
    bars = catalog.read("MEXC", "XRPUSDT", "bars")
    assert bars.height == report.rows_added == 1999
    asked = mexc.requests_to("/api/v3/klines")
    # 500 bars a page, then one empty page after the data's last bar (22:30) ends it
    assert len(asked) == report.requests == 5
    assert [int(r.query["startTime"]) for r in asked[:4]] == [
        _ns("2021-11-15") // MS + page * 500 * FIVE_MIN_MS for page in range(4)]
    first, last = bars.row(0, named=True), bars.row(-1, named=True)
    assert first["ts_event"] == _ns("2021-11-15") and first["ts_recv"] == _ns(
        "2021-11-15T00:05:00")
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        11893, 11954, 11891, 11941)  # ticks of 0.0001
    assert first["volume"] == 928904350  # 9289043.5 in lots of 0.01
    assert last["ts_event"] == _ns("2021-11-21T22:30:00") and last["close"] == 10713
    instrument = catalog.instrument("MEXC", "XRPUSDT")
    assert (instrument.price_increment, instrument.size_increment) == (
        Decimal("0.0001"), Decimal("0.01"))
    assert instrument.taker_fee == Decimal("0.0005")


def test_download_mexc_bars_resume_after_catalog_last_bar(mexc: RestServer,
                                                          tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    args = {"venue": "mexc", "symbol": "XRPUSDT", "kind": "bars", "timeframe": "5m",
            "start_ns": _ns("2021-11-15")}
    first = _get(mexc, catalog, end_ns=_ns("2021-11-16"), **args)
    assert first.rows_added == 288 and not first.resumed
    before = len(mexc.requests)
    second = _get(mexc, catalog, end_ns=_ns("2021-11-22"), **args)
    asked = [r for r in mexc.requests[before:] if r.path == "/api/v3/klines"]
    assert int(asked[0].query["startTime"]) == _ns("2021-11-16") // MS
    assert second.resumed and second.rows_added == 1999 - 288 and second.rows_skipped == 0
    assert catalog.read("MEXC", "XRPUSDT", "bars").height == 1999
