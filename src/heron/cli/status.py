"""``heron status``: every managed run in one table, from a server or from its home.

With ``--url`` the table is what the server's API says (``GET /api/runs`` and, for a
running paper or live run, its ``/status``). Without it, the home is read directly, with
no server needed: the registry, each paper or live run's ``status.json`` (written by the
run about once a second) and otherwise its journal, replayed through the same read model
as the API's, so both ways show the same numbers.

Exit codes: 0 printed; 1 the server could not be reached; 2 bad input (no server home,
a token refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from heron.errors import InputError, VenueUnavailable
from heron.node.run_summary import (
    backtest_summary,
    decimal_or_none,
    status_overlay,
    status_summary,
)

if TYPE_CHECKING:
    from heron.node.runs import RunManager, RunRecord

out = Console()
Opt = typer.Option
STATUS_STYLE = {"running": "green", "finished": "cyan", "failed": "red", "killed": "red",
                "stopping": "yellow", "stopped": "yellow", "created": "dim"}


@dataclass(frozen=True)
class StatusRow:
    """One line of the table; money as exact decimal text, blanks as ``None``."""

    run_id: str
    kind: str
    name: str
    status: str
    trading_state: str | None = None
    equity: str | None = None
    pnl: str | None = None
    exposure: str | None = None
    feeds: str | None = None
    error: str | None = None


def status_command(
    home: Annotated[Path, Opt(help="the server home (heron serve --home)")] = Path(
        "heron-home"),
    db: Annotated[str | None, Opt(help="the server's PostgreSQL database (heron serve "
                                  "--db)")] = None,
    url: Annotated[str | None, Opt(help="ask a running server instead, e.g. "
                                   "http://127.0.0.1:8000")] = None,
    token: Annotated[str | None, Opt(envvar="HERON_TOKEN", help="API token for --url "
                                     "(or HERON_TOKEN)")] = None,
) -> None:
    """Show every run: status, trading state, equity, PnL, exposure and feed health."""
    rows = rows_from_api(url, token) if url is not None else rows_from_home(home, db)
    out.print(status_table(rows))
    for row in rows:
        if row.error:
            out.print(f"{row.run_id}: {row.error}", style="red", highlight=False,
                      markup=False)


def status_table(rows: list[StatusRow]) -> Table:
    table = Table(title="heron runs", title_justify="left")
    for column in ("id", "kind", "name", "status", "trading", "equity", "pnl", "exposure",
                   "feeds"):
        money = column in ("equity", "pnl", "exposure")
        table.add_column(column, justify="right" if money else "left",
                         no_wrap=column in ("id", "status") or money)
    for r in rows:
        pnl_style = "red" if (r.pnl or "").startswith("-") else "green"
        table.add_row(r.run_id, r.kind, escape(r.name),
                      f"[{STATUS_STYLE.get(r.status, 'white')}]{r.status}[/]",
                      r.trading_state or "-", shown(r.equity),
                      f"[{pnl_style}]{shown(r.pnl)}[/]", shown(r.exposure), r.feeds or "-")
    if not rows:
        table.caption = "no runs yet: heron serve --demo starts one"
    return table


def shown(money: str | None) -> str:
    """Exact decimal text rounded to cents for the eye (the API keeps every digit)."""
    value = decimal_or_none(money)
    return "-" if value is None else f"{value:,.2f}"


# -- from a running server ---------------------------------------------------------------------
def rows_from_api(url: str, token: str | None) -> list[StatusRow]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=10.0) as client:
            items = _all_runs(client)
            return [_api_row(client, item) for item in items]
    except httpx.TransportError as exc:
        raise VenueUnavailable(f"cannot reach heron serve at {url} ({exc}); is it running?"
                               ) from None


def _all_runs(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = _get(client, "/api/runs", params)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _get(client: Any, path: str, params: dict[str, Any] | None = None) -> Any:
    response = client.get(path, params=params)
    if response.status_code in (401, 403):
        raise InputError(f"the server refused the request ({response.status_code}); pass "
                         "--token with a viewer token (heron token create --role viewer)")
    if response.status_code >= 400:
        return None
    return response.json()


def _api_row(client: Any, item: dict[str, Any]) -> StatusRow:
    summary = item.get("summary") or {}
    feeds = None
    if item["kind"] != "backtest" and item["status"] in ("running", "stopping"):
        status = _get(client, f"/api/runs/{item['run_id']}/status")
        feeds = feed_health(status) if isinstance(status, dict) else None
    return StatusRow(item["run_id"], item["kind"], item["name"], item["status"],
                     summary.get("trading_state"), summary.get("equity"), summary.get("pnl"),
                     summary.get("exposure"), feeds, item.get("error"))


# -- straight from the home ----------------------------------------------------------------------
def rows_from_home(home: Path, db: str | None) -> list[StatusRow]:
    from heron.cli.token import server_db
    from heron.node.runs import HomeLock, RunManager

    server_db(home, db)  # refuses a folder that is no server home
    manager = RunManager(home, db=db)
    lock = HomeLock(home)
    try:
        if lock.try_acquire():  # no server keeps the registry up to date: do it here
            manager.refresh()
            lock.release()
        return [_home_row(manager, record) for record in manager.list(limit=10_000)]
    finally:
        manager.close()


def _home_row(manager: RunManager, record: RunRecord) -> StatusRow:
    from heron.node.control import read_status

    state = manager.state_dir(record.run_id)
    status = None if state is None else read_status(state)
    summary = home_summary(manager, record, status) or {}
    running = record.status in ("running", "stopping")
    return StatusRow(record.run_id, record.kind, record.name, record.status,
                     summary.get("trading_state"), summary.get("equity"), summary.get("pnl"),
                     summary.get("exposure"),
                     feed_health(status) if status is not None and running else None,
                     record.error)


def home_summary(manager: RunManager, record: RunRecord, status: dict[str, Any] | None
                 ) -> dict[str, Any] | None:
    """The API's summary of a run, by the API's rules: a backtest's result once it has
    one; else the journal view, with ``status.json``'s fresher figures over it."""
    if record.kind == "backtest":
        return backtest_summary(Path(record.directory))
    own = status_summary(status) if status is not None else None
    if own is not None:
        return own  # the run's own figures: no journal to replay
    summary = journal_summary(manager, record.run_id)
    if status is None or summary is None:
        return summary
    return {**summary, **status_overlay(status, summary)}


def journal_summary(manager: RunManager, run_id: str) -> dict[str, Any] | None:
    """Equity, PnL, trading state and exposure rebuilt from the run's journal (None when
    it has none yet), by the API's read model."""
    from heron.api.journal_rows import open_rows
    from heron.api.read_models import RunView
    from heron.core.journal import decode_record

    source = open_rows(*manager.journal_location(run_id))
    try:
        header = source.header()
        if header is None:
            return None
        view = RunView(run_id, header)
        after = 0
        while rows := source.read(after, 10_000):
            for seq, _ts, _type, payload in rows:
                view.apply(seq, decode_record(payload))
            after = rows[-1][0]
        summary: dict[str, Any] = view.summary()
        return summary
    finally:
        source.close()


def feed_health(status: dict[str, Any]) -> str | None:
    """``live`` / ``stale,live`` ...: the states of the run's feeds, with the worst lag."""
    feeds = [f for f in status.get("feeds") or [] if isinstance(f, dict)]
    if not feeds:
        return None
    states = ",".join(sorted({str(f.get("state", "?")) for f in feeds}))
    lags = [int(f["lag_ms"]) for f in feeds if isinstance(f.get("lag_ms"), int)]
    return f"{states} ({max(lags)} ms)" if lags else states
