"""History download through ccxt into the catalog: OHLCV bars, public trades, funding.

``download(catalog, venue="binanceusdm", symbol="BTC/USDT:USDT", kind="bars",
start_ns=..., end_ns=...)`` pages through the venue's REST history with ccxt's
``fetch_ohlcv`` / ``fetch_trades`` / ``fetch_funding_rate_history`` and writes every
page to the catalog as it arrives, so an interrupted download keeps what it fetched.

Venues (ccxt ids, catalog venue in brackets): binanceusdm (BINANCE_USDM), okx (OKX),
bybit (BYBIT), hyperliquid (HYPERLIQUID), mexc (MEXC), alpaca (ALPACA; ccxt's Alpaca
is crypto only, and lists markets through the trading API, so it needs
``APCA_API_KEY_ID``/``APCA_API_SECRET_KEY``). The instrument is filed under the venue's
own id (:func:`~heron.data.download_venues.catalog_symbol`) with the tick, lot and
contract size of ccxt's market.

Pagination. Each page asks for rows from ``since`` (ms); the next page starts after the
page's last timestamp: the next bar's open for bars, one ms later for funding, and *the
same* ms for trades (more trades may share it; the catalog drops the ones it has).
It stops at ``end_ns``, on an empty page, or on a page that does not move ``since``
forward; since ``since`` grows every round, it cannot loop forever. Where ccxt asks
for a bounded window (Binance: aggTrades an hour from ``since``, klines ``limit`` bars)
an empty page only means an empty window, and the next window is asked for. Elsewhere
an empty page inside the range (a venue outage) ends the download early: ``heron data
check`` shows the gap, and a later run with a later start fills the rest.

Trades by venue. Binance USD-M pages aggTrades by time; OKX pages GET
/api/v5/market/history-trades forward by timestamp (``type=2``, ``before``); Alpaca pages
GET /v1beta3/crypto/us/trades from ``start``. Bybit v5 has no public trade history, only
GET /v5/market/recent-trade (the latest 1000 linear / 60 spot trades, no time
parameter): one page is fetched, its trades inside the range are stored, and older ones
are not to be had. Hyperliquid (no public trade history over REST; ccxt's fetch_trades
reads one wallet's fills) and MEXC (public trades without ids) are refused with a
:class:`~heron.errors.DataError` before any request.

Resuming. Before fetching, the catalog's last row of the series inside
``[start_ns, end_ns)`` is looked up and fetching starts after it as above; holes
*before* that row are not refetched.

Rows. ``ts_event`` is the venue time. Bars get ``ts_recv`` = close time (when the bar
was known), as ``heron data bars --write`` does; trades and funding get ``ts_recv`` =
``ts_event``: history carries no receive time, and a download time would make the same
row differ between runs and defeat the catalog's deduplication. Bars still open at
download time are not stored (a later, complete version would conflict with them).
Prices and sizes go on the instrument's grid with :func:`~heron.data.schemas.to_grid`,
which refuses values between ticks rather than rounding them. Bar volume counts
contracts, as trade sizes do: OKX derivative bars, which ccxt gives in base currency
(``volCcy``), are divided by the contract size. A trade's ``sequence``
is its numeric venue id, or for venues with non-numeric ids (Bybit's UUIDs) 63 bits of
the id's SHA-256: stable across runs, so re-downloads deduplicate.

Rate limits and retries: ccxt's limiter spaces requests (``enableRateLimit``); failures
are retried as :class:`~heron.data.download_venues.RetryPolicy` says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
import polars as pl
from rich.progress import Progress, TaskID

from heron.data.catalog import Catalog
from heron.data.download_venues import (
    VENUES,
    RetryPolicy,
    VenueUnavailable,
    bar_volume_unit,
    instrument_of,
    make_client,
    resolve_market,
    retrying,
)
from heron.data.event_frames import trade_sequence
from heron.data.schemas import FUNDING_RATE_DTYPE, DataKind, to_grid
from heron.errors import DataError, InvalidConfiguration
from heron.model.instrument import Instrument

__all__ = ["KINDS", "VENUES", "DownloadReport", "RetryPolicy", "VenueUnavailable", "download"]

KINDS = (DataKind.BARS, DataKind.TRADES, DataKind.FUNDING)
"""The kinds a download can fetch."""

_MS = 1_000_000  # ns per ms
_PAGE_LIMIT = {"okx": 100, "bybit": 1000, "hyperliquid": 500, "alpaca": 1000}
_DEFAULT_PAGE_LIMIT = 1000
_MAX_PAGES = 10_000_000  # a backstop only: since grows every page
_NO_TRADE_HISTORY = {  # venue -> why its public trades cannot be downloaded
    "hyperliquid": "hyperliquid refused: its REST API has no public trade history (ccxt's "
                   "fetch_trades reads /info userFills, one wallet's own fills); download "
                   "bars or funding",
    "mexc": "mexc sends public trades without ids (null in /api/v3/aggTrades and "
            "/api/v3/trades, none in contract deals), and heron needs them to tell trades "
            "in the same ms apart; download bars",
}
_RECENT_TRADES_ONLY = frozenset({"bybit"})  # one page of the latest trades, no history


class DownloadReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one download did. ``start_ns`` is where fetching began (after the catalog's
    last row when resuming); ``first_ts``/``last_ts`` span the rows fetched (``None``
    when none were)."""

    venue: str  # heron venue name
    symbol: str  # as filed in the catalog
    kind: DataKind
    start_ns: int
    end_ns: int
    resumed: bool
    requests: int  # pages fetched
    rows_fetched: int
    rows_added: int
    rows_skipped: int
    first_ts: int | None
    last_ts: int | None


@dataclass(slots=True)
class _Run:
    """The state of one download: client, series, and what has been done so far."""

    client: Any
    catalog: Catalog
    instrument: Instrument
    market_symbol: str
    kind: DataKind
    step_ms: int  # bar length; 0 for other kinds
    timeframe: str
    policy: RetryPolicy
    volume_unit: Decimal = Decimal(1)  # base units per contract in ccxt's bar volume
    requests: int = 0
    fetched: int = 0
    added: int = 0
    skipped: int = 0
    first_ts: int | None = None
    last_ts: int | None = None


def download(catalog: Catalog, *, venue: str, symbol: str, kind: DataKind | str,
             start_ns: int, end_ns: int, timeframe: str = "1m", endpoint: str | None = None,
             progress: Progress | None = None, retry: RetryPolicy | None = None,
             rate_limit_ms: int | None = None) -> DownloadReport:
    """Fetch ``kind`` for ``symbol`` on ``venue`` in ``[start_ns, end_ns)`` into
    ``catalog``, resuming after the rows it already holds.

    ``endpoint`` sends every REST call to another host, paths kept (see
    :func:`~heron.data.download_venues.with_endpoint`). ``progress``, when given, gets a
    task advanced through the time range. ``timeframe`` is ccxt's bar length (bars only).
    """
    wanted = _check_request(venue, kind, start_ns, end_ns)
    policy = retry or RetryPolicy()
    client = make_client(venue, endpoint=endpoint, rate_limit_ms=rate_limit_ms)
    market = resolve_market(client, symbol, policy)
    step_ms = _step_ms(client, timeframe) if wanted is DataKind.BARS else 0
    run = _Run(client, catalog, instrument_of(client, market), str(market["symbol"]), wanted,
               step_ms, timeframe, policy, bar_volume_unit(client, market))
    if wanted is DataKind.BARS:  # only closed bars: an open one would change later
        end_ns = min(end_ns, (time.time_ns() // _MS // step_ms - 1) * step_ms * _MS + 1)
    resume = _resume_ms(run, start_ns, end_ns)
    since = max(_ceil_ms(start_ns), resume) if resume is not None else _ceil_ms(start_ns)
    end_ms = _ceil_ms(end_ns)
    task = (progress.add_task(f"{venue} {symbol} {wanted}", total=max(end_ms - since, 1))
            if progress is not None else None)
    first_since = since
    _pages(run, since, end_ms, _progress_callback(progress, task, first_since))
    return DownloadReport(venue=run.instrument.venue, symbol=run.instrument.symbol,
                          kind=wanted, start_ns=first_since * _MS, end_ns=end_ns,
                          resumed=resume is not None and resume > _ceil_ms(start_ns),
                          requests=run.requests, rows_fetched=run.fetched,
                          rows_added=run.added, rows_skipped=run.skipped,
                          first_ts=run.first_ts, last_ts=run.last_ts)


def _check_request(venue: str, kind: DataKind | str, start_ns: int, end_ns: int) -> DataKind:
    if venue not in VENUES:
        raise InvalidConfiguration(f"unknown venue {venue!r}; use one of {', '.join(VENUES)}")
    wanted = DataKind.parse(kind) if isinstance(kind, str) else kind
    if wanted not in KINDS:
        raise InvalidConfiguration(f"cannot download {wanted}; use one of "
                                   f"{', '.join(k.value for k in KINDS)}")
    if start_ns >= end_ns:
        raise InvalidConfiguration(f"start {start_ns} must be before end {end_ns}")
    if wanted is DataKind.TRADES and venue in _NO_TRADE_HISTORY:
        raise DataError(f"cannot download {venue} trades: {_NO_TRADE_HISTORY[venue]}")
    return wanted


def _step_ms(client: Any, timeframe: str) -> int:
    """The bar length of a ccxt timeframe the venue offers, in ms."""
    offered = client.timeframes or {}
    if timeframe not in offered:
        raise InvalidConfiguration(f"{client.id} has no timeframe {timeframe!r}; use one of "
                                   f"{', '.join(offered)}")
    return int(client.parse_timeframe(timeframe)) * 1000


def _ceil_ms(ns: int) -> int:
    return -(-ns // _MS)


def _progress_callback(progress: Progress | None, task: TaskID | None,
                       since: int) -> Callable[[int], None]:
    def advance(cursor_ms: int) -> None:
        if progress is not None and task is not None:
            progress.update(task, completed=max(cursor_ms - since, 0))
    return advance


def _resume_ms(run: _Run, start_ns: int, end_ns: int) -> int | None:
    """Where to start after the catalog's last row in range, or ``None`` without one."""
    inst = run.instrument
    if not any(e.venue == inst.venue and e.symbol == inst.symbol and e.kind is run.kind
               for e in run.catalog.entries()):
        return None
    frame = run.catalog.scan(inst.venue, inst.symbol, run.kind, start_ns, end_ns)
    if run.kind is DataKind.BARS:
        frame = frame.filter(pl.col("interval_ns") == run.step_ms * _MS)
    last = frame.select(pl.col("ts_event").max()).collect().item()
    return None if last is None else _next_since(run, _ceil_ms(int(last)))


def _next_since(run: _Run, last_ms: int) -> int:
    """The ``since`` after a row at ``last_ms``: next bar, same ms for trades, +1 ms."""
    if run.kind is DataKind.BARS:
        return last_ms + run.step_ms
    if run.kind is DataKind.TRADES:
        return last_ms
    return last_ms + 1


def _pages(run: _Run, since: int, end_ms: int, advance: Callable[[int], None]) -> None:
    """Fetch and store pages from ``since`` until ``end_ms``, an empty page, or a page
    that does not move ``since`` on."""
    limit = _PAGE_LIMIT.get(run.client.id, _DEFAULT_PAGE_LIMIT)
    for _ in range(_MAX_PAGES):
        if since >= end_ms:
            break
        page = _fetch(run, since, limit)
        run.requests += 1
        window = _window_ms(run, limit)
        if not page and window is not None:
            since += window  # an empty window, not the end: look at the next one
            advance(since)
            continue
        stamps = [int(ts) for ts in _timestamps(run.kind, page)]
        rows = [row for row, ts in zip(page, stamps, strict=True) if since <= ts < end_ms]
        if rows:
            _store(run, rows)
        if run.kind is DataKind.TRADES and run.client.id in _RECENT_TRADES_ONLY:
            break  # the venue gives its latest trades only: a second page is the same
        after = _next_since(run, max(stamps)) if stamps else since
        if run.kind is DataKind.TRADES and after == since and len(page) >= limit:
            after = since + 1  # a full page inside one ms: nothing more to learn there
        if not rows or after <= since:
            break
        since = after
        advance(since)
    advance(end_ms)


def _window_ms(run: _Run, limit: int) -> int | None:
    """The span one request covers where ccxt bounds it, so that an empty page means
    only that nothing happened in it: Binance pages aggTrades an hour at a time and
    klines ``limit`` bars at a time. ``None``: an empty page is the end of the data."""
    if run.client.id != "binanceusdm":
        return None
    if run.kind is DataKind.TRADES:
        return 3_600_000
    return limit * run.step_ms if run.kind is DataKind.BARS else None


def _fetch(run: _Run, since: int, limit: int) -> list[Any]:
    """One page from ccxt, retried on passing failures."""
    client, symbol = run.client, run.market_symbol
    what = f"{symbol} {run.kind} from {since} ms"
    if run.kind is DataKind.BARS:
        return list(retrying(client, lambda: client.fetch_ohlcv(
            symbol, run.timeframe, since, limit), run.policy, what))
    if run.kind is DataKind.TRADES:
        params = _trade_params(client.id, since)
        return list(retrying(client, lambda: client.fetch_trades(symbol, since, limit, params),
                             run.policy, what))
    return list(retrying(client, lambda: client.fetch_funding_rate_history(
        symbol, since, limit), run.policy, what))


def _trade_params(venue: str, since: int) -> dict[str, Any]:
    """Extra ccxt parameters for one page of trades from ``since``. OKX: ccxt's default
    is GET /api/v5/market/trades (the latest trades, no time parameter); the history is
    GET /api/v5/market/history-trades, asked for by timestamp (``type=2``) for trades
    newer than ``before``, as OKX funding history is paged forward."""
    if venue == "okx":
        return {"method": "publicGetMarketHistoryTrades", "type": "2",
                "before": str(since - 1)}
    return {}


def _timestamps(kind: DataKind, page: Sequence[Any]) -> list[int]:
    if kind is DataKind.BARS:
        return [int(row[0]) for row in page]
    return [int(row["timestamp"]) for row in page]


def _store(run: _Run, rows: list[Any]) -> None:
    """Convert one page to the kind's frame and write it (idempotent)."""
    if run.kind is DataKind.BARS:
        if run.volume_unit != 1:  # base-currency volume -> contracts (OKX derivatives)
            rows = [[*row[:5], _exact("volume", [row[5] or 0])[0] / run.volume_unit]
                    for row in rows]
        frame = bars_frame(run.instrument, rows, run.step_ms)
    elif run.kind is DataKind.TRADES:
        frame = trades_frame(run.instrument, rows)
    else:
        frame = funding_frame(rows)
    report = run.catalog.write(run.instrument, run.kind, frame)
    stamps = frame["ts_event"]
    first, last = int(stamps.min()), int(stamps.max())  # type: ignore[arg-type]
    run.first_ts = first if run.first_ts is None else min(run.first_ts, first)
    run.last_ts = last if run.last_ts is None else max(run.last_ts, last)
    run.fetched += frame.height
    run.added += report.rows_added
    run.skipped += report.rows_skipped


# -- ccxt rows -> catalog frames -------------------------------------------------------------
def bars_frame(instrument: Instrument, rows: Sequence[Sequence[Any]],
               step_ms: int) -> pl.DataFrame:
    """ccxt OHLCV rows ``[ms, open, high, low, close, volume]`` as catalog bars."""
    where = f"{instrument.id} bars"
    prices = {name: to_grid(_exact(name, [row[i] for row in rows]),
                            instrument.price_increment, what=f"{where} {name}")
              for i, name in enumerate(("open", "high", "low", "close"), start=1)}
    volume = to_grid(_exact("volume", [row[5] or 0 for row in rows]),
                     instrument.size_increment, what=f"{where} volume")
    ts = pl.Series([int(row[0]) * _MS for row in rows], dtype=pl.Int64)
    return pl.DataFrame({"ts_event": ts, "ts_recv": ts + step_ms * _MS,
                         "interval_ns": pl.Series([step_ms * _MS] * len(rows),
                                                  dtype=pl.Int64),
                         **prices, "volume": volume})


def _exact(name: str, values: Sequence[Any]) -> pl.Series:
    """ccxt's numbers as exact decimals: ``repr`` of a float is the shortest text that
    reads back as it, i.e. the venue's own text for up to 15 significant digits. Going
    through Decimal keeps large lot counts exact (85998033 shares in lots of 1e-9 is
    past float's 2**53)."""
    return pl.Series(name, [Decimal(repr(float(v))) if isinstance(v, float) else Decimal(v)
                            for v in values])


def trades_frame(instrument: Instrument, trades: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """ccxt trade dicts as catalog trades (aggressor from ``side``; see the module
    docstring for ``sequence``)."""
    where = f"{instrument.id} trades"
    ids = [str(trade.get("id") or "") for trade in trades]
    if not all(ids):
        raise DataError(f"{where}: the venue sent trades without ids; heron needs them to "
                        "tell trades at the same time apart")
    price = _exact("price", [trade["price"] for trade in trades])
    size = _exact("size", [trade["amount"] for trade in trades])
    ts = pl.Series([int(trade["timestamp"]) * _MS for trade in trades], dtype=pl.Int64)
    side = {"buy": 1, "sell": -1}
    return pl.DataFrame({
        "ts_event": ts, "ts_recv": ts,
        "price": to_grid(price, instrument.price_increment, what=f"{where} price"),
        "size": to_grid(size, instrument.size_increment, what=f"{where} size"),
        "aggressor": pl.Series([side.get(str(t.get("side")), 0) for t in trades],
                               dtype=pl.Int8),
        "trade_id": pl.Series(ids, dtype=pl.String),
        "sequence": pl.Series([trade_sequence(trade_id) for trade_id in ids], dtype=pl.Int64)})


def funding_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """ccxt funding-rate history as catalog funding rows, rates exact to the venue's text."""
    ts = pl.Series([int(row["timestamp"]) * _MS for row in rows], dtype=pl.Int64)
    rates = [Decimal(str(row["fundingRate"])) for row in rows]
    return pl.DataFrame({"ts_event": ts, "ts_recv": ts,
                         "rate": pl.Series(rates, dtype=FUNDING_RATE_DTYPE)})
