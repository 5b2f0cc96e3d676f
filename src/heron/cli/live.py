"""``heron live``: a strategy trading a venue account, on the same node as paper trading.

Exit codes: 0 stopped (``--stop-after``, ``--duration``, Ctrl-C, SIGTERM; orders stay at
the venue); 1 the venue could not be reached; 2 bad input (unknown strategy, parameter,
venue or symbol; missing or bad keys; a key file readable by others; a state directory
started with other options, or in use); 3 a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

if TYPE_CHECKING:
    from heron.node.live_run import LiveConfig, LiveState, LiveStatus
    from heron.venues.credentials import Credentials

err = Console(stderr=True)
Opt = typer.Option


def live_command(
    strategy: Annotated[str | None, Opt(help="strategy name or module:Class")] = None,
    venue: Annotated[str | None, Opt(help="binanceusdm, okx, bybit, hyperliquid, mexc, "
                                     "alpaca")] = None,
    symbol: Annotated[list[str] | None, Opt(help="symbol (repeatable)")] = None,
    streams: Annotated[str | None, Opt(help="market data: trades, or trades,book / "
                                       "trades,quotes")] = None,
    param: Annotated[list[str] | None, Opt(help="strategy parameter k=v (repeatable)")] = None,
    state: Annotated[Path, Opt(help="state directory: resume by passing it again")] = Path(
        "live-state"),
    bar: Annotated[str | None, Opt(help="bar length for on_bar strategies (default 1m)")
                   ] = None,
    testnet: Annotated[bool, Opt(help="the venue's testnet / demo account")] = False,
    endpoint: Annotated[str | None, Opt(help="another host for the venue's REST and "
                                        "WebSocket (the emulator, a proxy)")] = None,
    key_file: Annotated[Path | None, Opt(help="API keys file (chmod 600); else "
                                         "HERON_<VENUE>_API_KEY / _API_SECRET")] = None,
    warmup: Annotated[int | None, Opt(min=0, help="closed bars of history fetched at each "
                                      "start, so indicators are ready at once")] = None,
    risk: Annotated[Path | None, Opt(help="risk file: [limits], [state], [portfolio] (TOML, "
                                     "docs/risk.md); kept with the state")] = None,
    stop_after: Annotated[int | None, Opt(min=0, help="stop after N market events")] = None,
    duration: Annotated[float | None, Opt(min=0, help="stop after S seconds")] = None,
    poll: Annotated[float, Opt(min=0.1, help="seconds between REST catch-ups of orders "
                               "and fills (the private streams push in between)")] = 30.0,
    reconcile: Annotated[float, Opt(min=1, help="seconds between reconciliations with the "
                                    "venue (orders, positions, balance)")] = 300.0,
    stale: Annotated[float, Opt(help="seconds without market data before reconnecting")
                     ] = 30.0,
    quiet: Annotated[bool, Opt(help="no status line")] = False,
    metrics_port: Annotated[int | None, Opt(min=0, max=65535, help="serve Prometheus "
                                            "metrics at http://HOST:PORT/metrics")] = None,
    metrics_host: Annotated[str, Opt(help="address for --metrics-port")] = "127.0.0.1",
    log_json: Annotated[bool, Opt(help="JSON log lines on stderr (with run, strategy, "
                                  "instrument, order id)")] = False,
    db: Annotated[str | None, Opt(envvar="HERON_DB", help="journal to this database "
                                  "instead of STATE/journal.sqlite (and hold the account's "
                                  "one-writer lock there): postgresql://user@host:port/"
                                  "dbname or sqlite:///PATH; HERON_DB keeps a password out "
                                  "of the process list")] = None,
    run_id: Annotated[str | None, Opt(help="the run's id in the --db database (default: a "
                                      "new one, printed; kept in STATE/run.json)")] = None,
) -> None:
    """Trade a strategy on a venue account; Ctrl-C stops (orders stay), --state resumes."""
    from heron.cli.backtest import _parse_params
    from heron.cli.paper import open_journal, print_final
    from heron.core.writer_lock import WriterLock
    from heron.data.feeds.session import FeedOptions
    from heron.node.live_run import LiveState, run_live
    from heron.observe.logs import bind_run, configure_logging
    from heron.observe.metrics_server import MetricsEndpoint
    from heron.risk.config import risk_text
    from heron.venues.ccxt.client import CcxtClient
    from heron.venues.ccxt.dialect import dialect_for
    from heron.venues.credentials import load_credentials

    configure_logging(json=log_json)
    metrics_at = None if metrics_port is None else MetricsEndpoint(metrics_port, metrics_host)
    given = {"strategy": strategy, "venue": venue, "symbols": symbol or None,
             "streams": streams.split(",") if streams else None,
             "params": _parse_params(param) if param else None, "bar": bar,
             "warmup": warmup, "risk": risk_text(risk)}
    st = LiveState(state)
    stack = contextlib.ExitStack()
    try:
        cfg = _config(given, st, testnet)
        bind_run(run=st.dir.name, strategy=cfg.strategy, venue=cfg.venue)  # the last line too
        open_journal(st, db, run_id, log_json)
        credentials = load_credentials(cfg.venue, key_file=key_file)
        client = CcxtClient(dialect_for(cfg.venue), credentials, cfg.symbols,
                            endpoint=endpoint, testnet=cfg.testnet)
        # one writer per account and journal (heron.core.writer_lock), for the run's life
        assert st.run_journal is not None  # open_journal set it
        writer = WriterLock(st.run_journal.location,
                            f"{cfg.venue}:{account_key(cfg.testnet, credentials)}")
        stack.enter_context(writer)
        view = None if quiet or log_json else Live(console=err, refresh_per_second=4,
                                                   transient=False)
        draw = None if view is None else (lambda s: view.update(status_line(s)))
        if view is not None:
            view.start()
        try:
            final = asyncio.run(run_live(cfg, st, client, endpoint=endpoint,
                                         stop_after=stop_after, duration_s=duration,
                                         options=FeedOptions(stale_after_s=stale),
                                         on_status=draw, poll_s=poll,
                                         reconcile_s=reconcile, metrics_at=metrics_at))
        finally:
            if view is not None:
                view.stop()
        print_final(status_line(final), log_json)
    finally:
        stack.close()
        st.close()


def _config(given: dict[str, Any], st: LiveState, testnet: bool) -> LiveConfig:
    """The run's options: the stored ones when ``st`` resumes a run (flags may not
    change them), else the flags'."""
    from heron.errors import InputError
    from heron.node.live_run import LiveConfig
    from heron.node.paper_state import resolve_config

    stored = st.stored()
    resolved = resolve_config(given, stored[0] if stored else None)
    if isinstance(resolved, LiveConfig):
        if testnet and not resolved.testnet:
            raise InputError("this state trades the live account, not the testnet; "
                             "leave --testnet out, or pass another --state")
        return resolved
    return LiveConfig(**{k: getattr(resolved, k) for k in resolved.__struct_fields__},
                      testnet=testnet)


def account_key(testnet: bool, credentials: Credentials) -> str:
    """Who the account is, without its secret: a hash of the API key (or the wallet)."""
    import hashlib

    ident = credentials.api_key or credentials.wallet or ""
    env = "testnet" if testnet else "live"
    return f"{env}:{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


def status_line(s: LiveStatus) -> Text:
    """Equity, PnL, positions, open orders, trading state and feed health on one line."""
    from heron.cli.paper import account_line, feed_states

    line = account_line(s.engine, s.cash, s.health)
    differences = f" ({s.mismatches} differences)" if s.mismatches else ""
    line.append(f" | {s.engine.machine.state.value}{differences} | events {s.live} "
                f"| feed {feed_states(s.health)}")
    return line


__all__ = ["live_command", "status_line"]
