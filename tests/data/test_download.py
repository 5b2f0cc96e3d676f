"""History download through ccxt, against a loopback server answering with real bodies.

Each test points a real ccxt client at :class:`heron.testing.RestServer` (``endpoint=``)
and downloads into a temporary catalog. The bodies come from the shared test set
(``shared/data``, see its README); where a venue endpoint has no recorded body, one is
built in the venue's documented shape from real values recorded elsewhere, and the
helper that builds it says so.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import SHARED
from heron.data.catalog import Catalog
from heron.data.download import RetryPolicy, download
from heron.errors import DataError, InvalidConfiguration
from heron.testing import Request, RestServer
from heron.testing.venues.binance import recorded_exchange_info

VENUES = SHARED / "venues"
pytestmark = pytest.mark.skipif(not VENUES.is_dir(), reason="shared/data test set not present")

MS = 1_000_000
FIVE_MIN_MS = 300_000


# -- bodies ----------------------------------------------------------------------------------
def _xrp_klines() -> list[list[Any]]:
    """Binance USD-M XRPUSDT 5m klines in GET /fapi/v1/klines' documented 12-field shape.

    No recorded klines body spans several pages, so the OHLCV values are freqtrade's
    real Binance USD-M XRP/USDT:USDT 5m candles (2021-11-15..21); the close time is
    derived, and quote volume, trade count and taker volumes (which heron does not
    read) are zero.
    """
    frame = pl.read_ipc(SHARED / "bars" / "freqtrade_XRP_USDT_perp_5m_futures_2021-11.feather")
    rows = []
    for date, o, h, low, c, v in frame.iter_rows():
        opened = int(date.timestamp() * 1000)
        # Binance prints XRPUSDT prices with 4 places and sizes with 1; the feather's
        # floats carry noise (1.2065000000000001) that no venue body has.
        rows.append([opened, f"{o:.4f}", f"{h:.4f}", f"{low:.4f}", f"{c:.4f}", f"{v:.1f}",
                     opened + FIVE_MIN_MS - 1, "0", 0, "0", "0", "0"])
    return rows


def _btc_trades() -> list[dict[str, Any]]:
    """Real Binance USD-M BTCUSDT trades (WebSocket capture, 2024-08-08) as the objects
    of GET /fapi/v1/aggTrades (documented shape ``a p q f l T m``), one trade per
    aggregate: no aggTrades body was recorded."""
    path = VENUES / "binance_usdm" / "ws_capture_BTCUSDT_2024-08-08.txt.gz"
    trades = []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            message = json.loads(line.split(" ", 1)[1])
            data = message.get("data", {})
            if data.get("e") == "trade":
                trades.append({"a": data["t"], "p": data["p"], "q": data["q"], "f": data["t"],
                               "l": data["t"], "T": data["T"], "m": data["m"]})
    return trades


def _btc_klines(trades: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """1m klines of the real trades above in GET /fapi/v1/klines' shape: no BTCUSDT
    klines body was recorded, so these are the bars those prints make."""
    bars: dict[int, list[Any]] = {}
    for trade in trades:
        minute = trade["T"] // 60_000 * 60_000
        price, size = Decimal(trade["p"]), Decimal(trade["q"])
        bar = bars.setdefault(minute, [minute, price, price, price, price, Decimal(0)])
        bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
        bar[5] += size
    return [[m, str(o), str(h), str(lo), str(c), str(v), m + 59_999, "0", 0, "0", "0", "0"]
            for m, o, h, lo, c, v in bars.values()]


def _xrp_funding() -> list[dict[str, Any]]:
    """Real Binance USD-M XRPUSDT funding rates (freqtrade's 8h funding candles, rate in
    ``open``) in GET /fapi/v1/fundingRate's documented shape; no body was recorded."""
    frame = pl.read_ipc(
        SHARED / "bars" / "freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather")
    return [{"symbol": "XRPUSDT", "fundingTime": int(date.timestamp() * 1000),
             "fundingRate": f"{rate:.8f}", "markPrice": "0"}  # Binance prints 8 places
            for date, rate, *_ in frame.iter_rows()]


def _paged(rows: Sequence[Any], time_of: Callable[[Any], int], page: int,
           start: str = "startTime", end: str = "endTime") -> Callable[[Request], bytes]:
    """A handler serving ``rows`` as Binance does: from ``startTime`` (inclusive) up to
    ``endTime``, at most ``limit`` rows, and never more than ``page`` (to force paging)."""
    def handler(request: Request) -> bytes:
        low = int(request.query.get(start, 0))
        high = int(request.query.get(end, 2**62))
        limit = min(int(request.query.get("limit", 500)), page)
        chosen = [row for row in rows if low <= time_of(row) <= high][:limit]
        return json.dumps(chosen).encode()
    return handler


@pytest.fixture
def binance() -> Iterator[RestServer]:
    server = RestServer()
    server.route("GET", "/fapi/v1/exchangeInfo", recorded_exchange_info(VENUES / "binance_usdm"))
    trades = _btc_trades()
    xrp, btc = _xrp_klines(), _btc_klines(trades)

    def klines(request: Request) -> bytes:
        rows = xrp if request.query["symbol"] == "XRPUSDT" else btc
        return _paged(rows, lambda row: int(row[0]), 500)(request)

    server.route("GET", "/fapi/v1/klines", klines)
    server.route("GET", "/fapi/v1/aggTrades", _paged(trades, lambda t: int(t["T"]), 1000))
    server.route("GET", "/fapi/v1/fundingRate",
                 _paged(_xrp_funding(), lambda row: int(row["fundingTime"]), 40))
    with server:
        yield server


class Waits:
    """Records the backoff waits instead of sleeping through them."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def _get(server: RestServer, catalog: Catalog, *, retry: RetryPolicy | None = None,
         **kwargs: Any) -> Any:
    return download(catalog, endpoint=server.url, rate_limit_ms=1,
                    retry=retry or RetryPolicy(sleep=Waits()), **kwargs)


# -- Binance USD-M -----------------------------------------------------------------------------
def test_download_binance_bars_paginates_into_exact_catalog_rows(binance: RestServer,
                                                                 tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    report = _get(binance, catalog, venue="binanceusdm", symbol="XRP/USDT:USDT", kind="bars",
                  timeframe="5m", start_ns=_ns("2021-11-15"), end_ns=_ns("2021-11-22"))
    bars = catalog.read("BINANCE_USDM", "XRPUSDT", "bars")
    assert bars.height == report.rows_added == 1999
    assert len(binance.requests_to("/fapi/v1/klines")) == report.requests >= 4
    first, last = bars.row(0, named=True), bars.row(-1, named=True)
    assert first["ts_event"] == _ns("2021-11-15") and first["interval_ns"] == FIVE_MIN_MS * MS
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        11893, 11954, 11891, 11941)  # ticks of 0.0001
    assert first["volume"] == 92890435  # lots of 0.1: 9289043.5
    assert last["ts_event"] == _ns("2021-11-21T22:30:00") and last["close"] == 10713
    assert first["ts_recv"] == first["ts_event"] + FIVE_MIN_MS * MS
    instrument = catalog.instrument("BINANCE_USDM", "XRPUSDT")
    assert (instrument.price_increment, instrument.size_increment) == (
        Decimal("0.0001"), Decimal("0.1"))
    assert instrument.is_perpetual and instrument.quote_currency == "USDT"
    starts = [int(r.query["startTime"]) for r in binance.requests_to("/fapi/v1/klines")]
    assert starts == sorted(set(starts)) and starts[0] == _ns("2021-11-15") // MS


def test_download_binance_bars_resumes_after_catalog_last_bar(binance: RestServer,
                                                              tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    args = {"venue": "binanceusdm", "symbol": "XRPUSDT", "kind": "bars", "timeframe": "5m",
            "start_ns": _ns("2021-11-15")}
    first = _get(binance, catalog, end_ns=_ns("2021-11-16"), **args)
    assert first.rows_added == 288 and not first.resumed
    before = len(binance.requests)
    second = _get(binance, catalog, end_ns=_ns("2021-11-22"), **args)
    asked = [r for r in binance.requests[before:] if r.path == "/fapi/v1/klines"]
    assert int(asked[0].query["startTime"]) == _ns("2021-11-16") // MS  # last open + 5m
    assert second.resumed and second.rows_added == 1999 - 288 and second.rows_skipped == 0
    assert catalog.read("BINANCE_USDM", "XRPUSDT", "bars").height == 1999


def test_download_binance_rate_limited_once_waits_retry_after_then_succeeds(
        binance: RestServer, tmp_path: Path) -> None:
    binance.fail_next("GET", "/fapi/v1/klines", status=429, retry_after=2)
    waits = Waits()
    report = _get(binance, Catalog(tmp_path), retry=RetryPolicy(base_s=0.01, sleep=waits),
                  venue="binanceusdm", symbol="XRP/USDT:USDT", kind="bars", timeframe="5m",
                  start_ns=_ns("2021-11-15"), end_ns=_ns("2021-11-16"))
    assert waits.seconds == [2.0]  # Retry-After beats the 0.01 s backoff
    assert report.rows_added == 288
    statuses = binance.requests_to("/fapi/v1/klines")
    assert statuses[0].query["startTime"] == statuses[1].query["startTime"]


def test_download_binance_unknown_symbol_names_close_matches(binance: RestServer,
                                                              tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no market 'BTC/USDT:USDX'.*BTC/USDT:USDT"):
        _get(binance, Catalog(tmp_path), venue="binanceusdm", symbol="BTC/USDT:USDX",
             kind="bars", start_ns=_ns("2024-08-08"), end_ns=_ns("2024-08-10"))
    assert not binance.requests_to("/fapi/v1/klines")


def test_download_binance_trades_exact_prices_sizes_sides(binance: RestServer,
                                                          tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    real = _btc_trades()
    report = _get(binance, catalog, venue="binanceusdm", symbol="BTC/USDT:USDT",
                  kind="trades", start_ns=_ns("2024-08-08"), end_ns=_ns("2024-08-10"))
    trades = catalog.read("BINANCE_USDM", "BTCUSDT", "trades")
    assert trades.height == len({t["a"] for t in real}) == report.rows_added
    assert len(binance.requests_to("/fapi/v1/aggTrades")) >= 3
    first, last = trades.row(0, named=True), trades.row(-1, named=True)
    assert (first["ts_event"], first["price"], first["size"]) == (
        real[0]["T"] * MS, 6180030, 6)  # 61800.30 in 0.01 ticks, 0.006 in 0.001 lots
    assert first["aggressor"] == 1 and first["trade_id"] == str(real[0]["a"])
    assert first["sequence"] == real[0]["a"]
    assert last["trade_id"] == str(real[-1]["a"]) and last["price"] == 6165980


def test_download_binance_funding_rates_exact(binance: RestServer, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    real = _xrp_funding()
    report = _get(binance, catalog, venue="binanceusdm", symbol="XRP/USDT:USDT",
                  kind="funding", start_ns=_ns("2021-11-01"), end_ns=_ns("2022-01-01"))
    funding = catalog.read("BINANCE_USDM", "XRPUSDT", "funding")
    assert funding.height == len(real) == report.rows_added
    assert len(binance.requests_to("/fapi/v1/fundingRate")) >= 3
    assert funding["ts_event"][0] == real[0]["fundingTime"] * MS
    assert [str(rate.normalize()) for rate in funding["rate"]] == [
        str(Decimal(row["fundingRate"]).normalize()) for row in real]


def test_cli_download_binance_bars_end_to_end(binance: RestServer, tmp_path: Path) -> None:
    trades = _btc_trades()
    day = datetime.fromtimestamp(trades[0]["T"] / 1000, UTC).date()
    command = [sys.executable, "-m", "heron", "data", "download", "--venue", "binanceusdm",
               "--symbol", "BTC/USDT:USDT", "--kind", "bars", "--start", str(day),
               "--end", f"{day.year}-{day.month:02d}-{day.day + 1:02d}", "--endpoint",
               binance.url, "--catalog", str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    bars = Catalog(tmp_path).read("BINANCE_USDM", "BTCUSDT", "bars")
    expected = _btc_klines(trades)
    assert report["rows_added"] == bars.height == len(expected)
    assert bars["ts_event"][0] == expected[0][0] * MS
    assert bars["close"][-1] == int(Decimal(expected[-1][4]) * 100)

    again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and json.loads(again.stdout)["rows_added"] == 0


def test_cli_download_unknown_symbol_one_line_exit_2(binance: RestServer,
                                                     tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "heron", "data", "download", "--venue", "binanceusdm",
         "--symbol", "BTCUSDX", "--start", "2024-08-08", "--end", "2024-08-09",
         "--endpoint", binance.url, "--catalog", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "BTCUSDT" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# -- Hyperliquid -----------------------------------------------------------------------------
def _hyperliquid_info() -> Callable[[Request], bytes]:
    """POST /info by ``type``. ``meta`` and ``allMids`` are real bodies of 2023-07-17;
    ccxt asks for ``metaAndAssetCtxs``, which is ``[meta, contexts]``: the contexts are
    built in the documented shape from those real mids. Spot and HIP-3 listings were
    not recorded and are served empty (documented shapes), so only perps are listed.
    Candles and funding are the real recorded bodies, paged by ``startTime``."""
    root = VENUES / "hyperliquid"
    meta = json.loads((root / "rest_info_meta_2023-07-17.json").read_text())
    mids = json.loads((root / "rest_info_allMids_2023-07-17.json").read_text())
    contexts = [{"markPx": mid, "midPx": mid, "oraclePx": mid, "prevDayPx": mid,
                 "funding": "0", "premium": "0", "openInterest": "0", "dayNtlVlm": "0",
                 "impactPxs": [mid, mid]}
                for mid in (mids.get(asset["name"], "1") for asset in meta["universe"])]
    candles = json.loads((root / "rest_info_candleSnapshot_kPEPE_1h_2023-05-21.json")
                         .read_text())
    funding = json.loads(
        (root / "rest_info_fundingHistory_BTC_2023-05-12_2023-07-17.json").read_text())
    empty_spot = {"universe": [], "tokens": []}

    def answer(request: Request) -> bytes:
        body = request.json()
        kind = body["type"]
        if kind == "candleSnapshot":
            query = body["req"]
            rows = [c for c in candles if c["s"] == query["coin"]
                    and query["startTime"] <= c["t"] <= (query.get("endTime") or 2**62)]
            return json.dumps(rows[:8]).encode()
        if kind == "fundingHistory":
            rows = [f for f in funding if f["coin"] == body["coin"]
                    and body["startTime"] <= f["time"] <= body.get("endTime", 2**62)]
            return json.dumps(rows[:60]).encode()
        fixed = {"spotMeta": empty_spot, "spotMetaAndAssetCtxs": [empty_spot, []],
                 "perpDexs": [None], "metaAndAssetCtxs": [meta, contexts]}
        return json.dumps(fixed[kind]).encode()
    return answer


@pytest.fixture
def hyperliquid() -> Iterator[RestServer]:
    with RestServer() as server:
        server.route("POST", "/info", _hyperliquid_info())
        yield server


def _candles() -> list[dict[str, Any]]:
    path = VENUES / "hyperliquid" / "rest_info_candleSnapshot_kPEPE_1h_2023-05-21.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text())
    return rows


def _info_requests(server: RestServer, kind: str) -> list[dict[str, Any]]:
    return [r.json() for r in server.requests_to("/info") if r.json()["type"] == kind]


def test_download_hyperliquid_bars_paginates_exact(hyperliquid: RestServer,
                                                   tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    real = _candles()
    report = _get(hyperliquid, catalog, venue="hyperliquid", symbol="KPEPE/USDC:USDC",
                  kind="bars", timeframe="1h", start_ns=_ns("2023-05-21"),
                  end_ns=_ns("2023-05-25"))
    bars = catalog.read("HYPERLIQUID", "kPEPE", "bars")
    assert bars.height == len(real) == report.rows_added
    asked = _info_requests(hyperliquid, "candleSnapshot")
    assert len(asked) >= 3 and asked[0]["req"]["startTime"] == _ns("2023-05-21") // MS
    first, last = bars.row(0, named=True), bars.row(-1, named=True)
    assert first["ts_event"] == real[0]["t"] * MS
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        1601, 1616, 1601, 1604, 520665683)  # ticks of 0.000001, lots of 1
    assert last["close"] == int(Decimal(real[-1]["c"]) * 10**6)
    assert catalog.instrument("HYPERLIQUID", "kPEPE").size_increment == 1


def test_download_hyperliquid_funding_exact_and_resumes(hyperliquid: RestServer,
                                                        tmp_path: Path) -> None:
    catalog = Catalog(tmp_path)
    path = VENUES / "hyperliquid" / "rest_info_fundingHistory_BTC_2023-05-12_2023-07-17.json"
    real = [row for row in json.loads(path.read_text()) if row["coin"] == "BTC"]
    split = real[100]["time"] * MS
    args = {"venue": "hyperliquid", "symbol": "BTC/USDC:USDC", "kind": "funding",
            "start_ns": _ns("2023-05-01")}
    first = _get(hyperliquid, catalog, end_ns=split, **args)
    assert first.rows_added == 100
    before = len(_info_requests(hyperliquid, "fundingHistory"))
    second = _get(hyperliquid, catalog, end_ns=_ns("2023-08-01"), **args)
    asked = _info_requests(hyperliquid, "fundingHistory")[before:]
    assert asked[0]["startTime"] == real[99]["time"] + 1  # just after the stored last row
    assert second.resumed and second.rows_added == len(real) - 100
    funding = catalog.read("HYPERLIQUID", "BTC", "funding")
    assert funding["ts_event"].to_list() == [row["time"] * MS for row in real]
    assert [f"{rate.normalize():f}" for rate in funding["rate"]] == [
        f"{Decimal(row['fundingRate']).normalize():f}" for row in real]


def test_download_hyperliquid_trades_refused_one_line(hyperliquid: RestServer,
                                                      tmp_path: Path) -> None:
    with pytest.raises(DataError, match="hyperliquid refused") as caught:
        _get(hyperliquid, Catalog(tmp_path), venue="hyperliquid", symbol="BTC/USDC:USDC",
             kind="trades", start_ns=_ns("2023-05-01"), end_ns=_ns("2023-05-02"))
    assert "\n" not in str(caught.value)


# -- Alpaca ------------------------------------------------------------------------------------
def _alpaca_bars(request: Request) -> bytes:
    """GET /v1beta3/crypto/us/bars. ccxt's Alpaca is crypto only and no crypto bars were
    recorded, so this serves the real AAPL daily bars of the recorded
    /v2/stocks/bars body (the bar objects have the same ``t o h l c v n vw`` shape) under
    the requested crypto symbol, from ``start`` on."""
    path = VENUES / "alpaca" / "rest_v2_stocks_bars_AAPL_1Day_2022-02.json"
    bars = json.loads(path.read_text())["bars"]["AAPL"]
    since = request.query.get("start", "")
    chosen = [bar for bar in bars if bar["t"] >= since]
    return json.dumps({"bars": {request.query["symbols"]: chosen[:1]},
                       "next_page_token": None}).encode()


@pytest.fixture
def alpaca() -> Iterator[RestServer]:
    # /v2/assets was not recorded: one asset in Alpaca's documented shape.
    asset = {"id": "276e2673-764b-4ab6-a611-caf665ca6340", "class": "crypto",
             "exchange": "CRYPTO", "symbol": "BTC/USD", "name": "Bitcoin", "status": "active",
             "tradable": True, "marginable": False, "shortable": False,
             "easy_to_borrow": False, "fractionable": True, "min_order_size": "0.0001",
             "min_trade_increment": "0.000000001", "price_increment": "0.01"}
    with RestServer() as server:
        server.route("GET", "/v2/assets", json.dumps([asset]))
        server.route("GET", "/v1beta3/crypto/us/bars", _alpaca_bars)
        yield server


def test_download_alpaca_without_keys_says_which_to_set(
        alpaca: RestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    with pytest.raises(InvalidConfiguration, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        _get(alpaca, Catalog(tmp_path), venue="alpaca", symbol="BTC/USD", kind="bars",
             timeframe="1d", start_ns=_ns("2022-02-01"), end_ns=_ns("2022-02-03"))
    assert not alpaca.requests


def test_download_alpaca_bars_paginates_exact(alpaca: RestServer, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_KEY_ID", "test-key")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "test-secret")
    catalog = Catalog(tmp_path)
    report = _get(alpaca, catalog, venue="alpaca", symbol="BTC/USD", kind="bars",
                  timeframe="1d", start_ns=_ns("2022-02-01"), end_ns=_ns("2022-02-03"))
    bars = catalog.read("ALPACA", "BTC/USD", "bars")
    assert bars.height == report.rows_added == 2
    assert len(alpaca.requests_to("/v1beta3/crypto/us/bars")) >= 2
    first = bars.row(0, named=True)
    assert first["ts_event"] == _ns("2022-02-01T05:00:00")
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        17400, 17484, 17231, 17461)
    assert first["volume"] == 85998033 * 10**9  # lots of 0.000000001
