"""``heron paper``: a strategy on live market data against the simulated venue, resumable.

Exit codes: 0 stopped (``--stop-after``, ``--duration``, Ctrl-C, SIGTERM); 1 the venue
could not be reached at start; 2 bad input (unknown strategy, parameter, venue, symbol
or stream; a state directory started with other options, or in use); 3 a bug (for
instance a rebuilt journal that differs from the one on disk).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from heron.errors import InputError

if TYPE_CHECKING:
    from heron.model.feed import FeedHealth
    from heron.node.paper import PaperEngine
    from heron.node.paper_run import PaperStatus
    from heron.node.paper_state import PaperState

err = Console(stderr=True)
Opt = typer.Option


def paper_command(
    strategy: Annotated[str | None, Opt(help="strategy name or module:Class")] = None,
    venue: Annotated[str | None, Opt(help="binanceusdm, okx, bybit, hyperliquid, mexc, "
                                     "alpaca")] = None,
    symbol: Annotated[list[str] | None, Opt(help="symbol (repeatable)")] = None,
    streams: Annotated[str | None, Opt(help="trades (bar fills) or trades,book / "
                                       "trades,quotes (book fills)")] = None,
    param: Annotated[list[str] | None, Opt(help="strategy parameter k=v (repeatable)")] = None,
    state: Annotated[Path, Opt(help="state directory: resume by passing it again")] = Path(
        "paper-state"),
    cash: Annotated[str | None, Opt(help="starting cash (default 10000)")] = None,
    bar: Annotated[str | None, Opt(help="bar length for on_bar strategies (default 1m)")
                   ] = None,
    fee_bps: Annotated[str | None, Opt(help="fee per fill, bps (default: the venue's)")
                       ] = None,
    slippage_bps: Annotated[str | None, Opt(help="slippage on taker fills, bps")] = None,
    endpoint: Annotated[str | None, Opt(help="another host for the venue (testnet, "
                                        "emulator)")] = None,
    warmup: Annotated[int | None, Opt(min=0, help="closed bars of history fetched at the "
                                      "first start, so indicators are ready at once")] = None,
    risk: Annotated[Path | None, Opt(help="risk file: [limits], [state], [portfolio] (TOML, "
                                     "docs/risk.md); kept with the state")] = None,
    stop_after: Annotated[int | None, Opt(min=0, help="stop when the run has consumed N "
                                          "market events in all")] = None,
    duration: Annotated[float | None, Opt(min=0, help="stop after S seconds")] = None,
    stale: Annotated[float, Opt(help="seconds without data before reconnecting")] = 30.0,
    quiet: Annotated[bool, Opt(help="no status line")] = False,
    metrics_port: Annotated[int | None, Opt(min=0, max=65535, help="serve Prometheus "
                                            "metrics at http://HOST:PORT/metrics")] = None,
    metrics_host: Annotated[str, Opt(help="address for --metrics-port")] = "127.0.0.1",
    log_json: Annotated[bool, Opt(help="JSON log lines on stderr (with run, strategy, "
                                  "instrument, order id)")] = False,
    db: Annotated[str | None, Opt(envvar="HERON_DB", help="journal to this database "
                                  "instead of STATE/journal.sqlite: postgresql://user@host:"
                                  "port/dbname or sqlite:///PATH; HERON_DB keeps a password "
                                  "out of the process list")] = None,
    run_id: Annotated[str | None, Opt(help="the run's id in the --db database (default: a "
                                      "new one, printed; kept in STATE/run.json)")] = None,
) -> None:
    """Paper-trade a strategy on a live feed; Ctrl-C stops, the same --state resumes."""
    from heron.cli.backtest import _parse_params
    from heron.data.feeds.session import FeedOptions
    from heron.node.paper_run import run_paper
    from heron.node.paper_state import PaperState, resolve_config
    from heron.observe.logs import bind_run, configure_logging
    from heron.observe.metrics_server import MetricsEndpoint
    from heron.risk.config import risk_text

    configure_logging(json=log_json)
    metrics_at = None if metrics_port is None else MetricsEndpoint(metrics_port, metrics_host)
    given = {"strategy": strategy, "venue": venue, "symbols": symbol or None,
             "streams": streams.split(",") if streams else None,
             "params": _parse_params(param) if param else None, "cash": cash, "bar": bar,
             "fee_bps": fee_bps, "slippage_bps": slippage_bps, "warmup": warmup,
             "risk": risk_text(risk)}
    st = PaperState(state)
    try:
        stored = st.stored()
        cfg = resolve_config(given, stored[0] if stored else None)
        open_journal(st, db, run_id, log_json)
        bind_run(run=st.dir.name, strategy=cfg.strategy, venue=cfg.venue)  # the last line too
        live = None if quiet or log_json else Live(console=err, refresh_per_second=4,
                                                   transient=False)
        draw = None if live is None else (lambda s: live.update(status_line(s)))
        if live is not None:
            live.start()
        try:
            final = asyncio.run(run_paper(cfg, st, endpoint=endpoint, stop_after=stop_after,
                                          duration_s=duration,
                                          options=FeedOptions(stale_after_s=stale),
                                          on_status=draw, metrics_at=metrics_at))
        finally:
            if live is not None:
                live.stop()
        print_final(status_line(final), log_json)
    except InputError:
        raise
    finally:
        st.close()


def open_journal(st: PaperState, db: str | None, run_id: str | None, log_json: bool) -> None:
    """Where the run journals (``--db``, ``--run-id``); with a database, say which run id
    it is there (the way back to it for ``heron journal``, ``heron trades``)."""
    if run_id is not None and db is None:
        raise InputError("--run-id names the run in a --db database; pass --db (or "
                         "HERON_DB) too, or leave --run-id out")
    journal = st.open_journal(db, run_id)
    if db is not None:
        if log_json:
            logging.getLogger("heron.run").info("journal: %s", journal.describe())
        else:
            err.print(f"journal: {journal.describe()}", highlight=False, soft_wrap=True)


def print_final(line: Text, log_json: bool) -> None:
    """The run's last status line: on the console, or as a JSON log line (with
    ``--log-json`` stderr carries JSON lines only, and no live status line)."""
    if log_json:
        logging.getLogger("heron.run").info("stopped: %s", line.plain)
    else:
        err.print(line)


def status_line(s: PaperStatus) -> Text:
    """PnL, positions, open orders and feed health on one line."""
    line = account_line(s.engine, s.cash, s.health)
    line.append(f" | events {s.engine.consumed} ({s.replayed} replayed) | feed "
                f"{feed_states(s.health)}")
    return line


def account_line(engine: PaperEngine, cash: Decimal, health: Mapping[Any, FeedHealth]
                 ) -> Text:
    """Equity, PnL against ``cash``, positions and open orders (paper and live)."""
    pf = engine.portfolio
    equity = pf.money(pf.equity())
    pnl = equity - cash
    positions = " ".join(f"{pf.instruments[iid].symbol} {pf.instruments[iid].quantity(p.qty)}"
                         for iid, p in pf.positions.items() if p.qty) or "flat"
    line = Text()
    line.append(f"equity {equity:.2f} ", style="bold")
    line.append(f"pnl {pnl:+.2f} ", style="green" if pnl >= 0 else "red")
    line.append(f"| {positions} | open orders {len(engine.om.open_orders)}")
    return line


def feed_states(health: Mapping[Any, FeedHealth]) -> str:
    return ",".join(sorted({h.state.value for h in health.values()}) or ["starting"])


__all__ = ["InputError", "account_line", "feed_states", "open_journal", "paper_command",
           "print_final", "status_line"]
