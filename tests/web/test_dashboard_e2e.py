"""The dashboard in a real browser against a real ``heron serve``.

Debian's chromium, driven by Playwright's Python package, opens the built dashboard
(``make web``) served by ``heron serve`` in a subprocess on a free loopback port with a
fresh home. Runs are real processes started by that server: a backtest over the bundled
BTC-PERP bars, launched from the form; a paper run on the Binance USD-M loopback venue
replaying a recorded session, whose orders and fills must appear on the page while it
trades, whose journal the page follows across a restart of the server without a gap or a
duplicate, and which is then killed from the overview's confirmation dialog. Last, a
server that requires tokens, opened with ``?token=``.

Screenshots of each step land in ``out/test-artifacts/web/`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SHARED_VENUES, closed_port
from managed_runs import wait_until

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "web" / "dist" / "index.html"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "out" / "test-artifacts" / "web"
BARS = "data/btc-perp-20211231-20220201_1m.csv.gz"
VENUE = SHARED_VENUES / "binance_usdm"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ENDED = {"finished", "failed", "stopped", "killed"}


def _why_not() -> str | None:
    if not CHROMIUM.exists():
        return "chromium not installed at /usr/bin/chromium (apt-get install chromium)"
    if not DIST.exists():
        return "the dashboard is not built: run `make web` (needs Node.js 20+ and npm)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_why_not() is not None,
                                                   reason=_why_not() or "")]


# -- the server ------------------------------------------------------------------------------
class Serve:
    """A ``heron serve`` subprocess and a tiny JSON client for it (urllib: no extras)."""

    def __init__(self, home: Path, *options: str, token: str | None = None) -> None:
        self.home = home
        self.options = options
        self.token = token
        self.port = closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (home.parent / "serve.log").open("a")
        self.proc = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "heron", "serve", "--host", "127.0.0.1", "--port",
             str(self.port), "--home", str(self.home), "--root", str(REPO), *self.options],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._up, "heron serve to answer /api/health", 60)
        return self.proc

    def restart(self) -> None:
        """Stop the server (its runs go on) and start it again on the same port and home."""
        self._halt()
        self._launch()

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"heron serve exited {self.proc.returncode}: {self.output()}")
        with contextlib.suppress(OSError):
            return bool(self.get("/api/health")["status"] == "ok")
        return False

    def output(self) -> str:
        self.log.flush()
        return (self.home.parent / "serve.log").read_text()[-3000:]

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return json.loads(res.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from exc

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def stop(self) -> None:
        """Stop every run this server started, then the server (each by its own PID)."""
        with contextlib.suppress(AssertionError, OSError):
            for run in self.get("/api/runs?limit=1000")["items"]:
                if run["status"] in ("running", "stopping"):
                    with contextlib.suppress(AssertionError):
                        self.call("POST", f"/api/runs/{run['run_id']}/stop")
        deadline = time.monotonic() + 30
        for pid in self._run_pids():
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self._halt()
        self.log.close()

    def _halt(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _run_pids(self) -> list[int]:
        pids = []
        for f in self.home.glob("runs/*/pid"):
            with contextlib.suppress(ValueError, OSError):
                pids.append(int(f.read_text().strip()))
        return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):  # a zombie of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    server = Serve(tmp_path_factory.mktemp("serve") / "home")
    try:
        yield server
    finally:
        server.stop()


# -- the browser -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                      headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
        assert not errors, f"the page threw: {errors}"
    finally:
        with contextlib.suppress(Exception):
            pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
        context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows(page: Any, testid: str) -> int:
    """The row count a DataTable reports (all rows, also those beyond what it draws)."""
    return int(page.get_by_test_id(testid).get_attribute("data-rows") or 0)


# -- 1. a backtest launched from the form ------------------------------------------------------
def test_a_backtest_launched_from_the_form_shows_its_equity_and_trades(serve: Serve,
                                                                       page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(serve.url + "/backtests")
    form = page.get_by_test_id("backtest-form")
    form.get_by_test_id("strategy-select").select_option("sma_cross")
    form.get_by_test_id("param-fast").fill("30")
    form.get_by_test_id("param-slow").fill("240")
    form.get_by_test_id("data-file-select").select_option(value=BARS)
    form.get_by_test_id("symbol-input").fill("BTC-PERP")
    form.get_by_test_id("cash-input").fill("100000")
    form.get_by_test_id("fee-input").fill("4")
    form.get_by_test_id("name-input").fill("e2e sma_cross")
    shot(page, "1-backtest-form")
    form.get_by_test_id("launch-button").click()

    panel = page.get_by_test_id("backtest-run")
    expect(panel).to_be_visible(timeout=15_000)
    run_id = panel.get_attribute("data-run-id")
    assert run_id and run_id.startswith("bt-")
    results = page.get_by_test_id("backtest-results")
    expect(results).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("trades-table")).not_to_have_attribute("data-rows", "0")
    expect(page.get_by_test_id("equity-chart")).not_to_have_attribute("data-points", "0")
    shot(page, "1-backtest-results")

    # what the page shows is what the server computed, digit for digit
    result = serve.get(f"/api/runs/{run_id}/result")
    assert result["trades"] > 0
    trips = serve.get(f"/api/runs/{run_id}/round-trips?limit=1000")["items"]
    assert rows(page, "trades-table") == len(trips) >= result["trades"]
    final = page.get_by_test_id("metric-final_equity").locator(".value")
    expect(final).to_have_text(result["final_equity"])
    run = serve.get(f"/api/runs/{run_id}")
    assert run["status"] == "finished" and 'strategy = "sma_cross"' in run["config"]
    assert "fast = 30" in run["config"] and BARS in run["config"]
    report = page.get_by_test_id("report-link").get_attribute("href")
    assert report == f"/api/runs/{run_id}/report"

    # the run page: price chart with fill markers, equity, the journal
    page.get_by_test_id("run-link").click()
    expect(page.get_by_test_id("run-detail")).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-value", "finished")
    expect(page.get_by_test_id("price-chart")).not_to_have_attribute("data-points", "0")
    expect(page.get_by_test_id("fills-table")).to_have_attribute("data-rows",
                                                                str(result["fills"]))
    expect(page.get_by_test_id("stat-fills")).to_have_text(str(result["fills"]))
    newest = serve.get(f"/api/runs/{run_id}/fills?newest_first=true&limit=1")
    assert newest["total"] == result["fills"]
    expect(page.get_by_test_id("fills-table-row").first.locator(
        "[data-col=client_order_id]")).to_have_text(newest["items"][0]["client_order_id"])
    expect(page.get_by_test_id("event-log-row").first).to_be_visible(timeout=30_000)
    shot(page, "1-backtest-run-detail")


def test_a_busy_runs_page_shows_its_newest_rows_and_how_many_there_are(
        serve: Serve, page: Any) -> None:
    """More fills than the page shows (the newest 1,000): the tables hold the newest, the
    first row is the last fill, and the counts are the run's (a run left trading for
    weeks used to show its first 20,000 rows, and none of what came after)."""
    from playwright.sync_api import expect

    config = (f'strategy = "sma_cross"\ndata = "{BARS}"\nkind = "perp"\n'
              '[params]\nfast = 2\nslow = 3\nmode = "long-short"\n')
    run_id = serve.call("POST", "/api/runs", {"kind": "backtest", "name": "busy",
                                              "config": config})["run_id"]
    wait_until(lambda: serve.get(f"/api/runs/{run_id}")["status"] == "finished",
               "the busy backtest to finish", 120)
    fills = serve.get(f"/api/runs/{run_id}/fills?newest_first=true&limit=1")
    orders = serve.get(f"/api/runs/{run_id}/orders?newest_first=true&limit=1")
    assert fills["total"] > 1000 and orders["total"] > 1000
    page.goto(f"{serve.url}/runs/{run_id}")
    expect(page.get_by_test_id("run-detail")).to_be_visible()
    expect(page.get_by_test_id("fills-table")).to_have_attribute("data-rows", "1000")
    expect(page.get_by_test_id("orders-table")).to_have_attribute("data-rows", "1000")
    expect(page.get_by_test_id("stat-fills")).to_have_text(str(fills["total"]))
    expect(page.get_by_test_id("fills-table-row").first.locator(
        "[data-col=client_order_id]")).to_have_text(fills["items"][0]["client_order_id"])
    heading = page.get_by_role("heading", name="fills", exact=False)
    expect(heading).to_contain_text(f"1,000 newest of {fills['total']:,}")
    heading = page.get_by_role("heading", name=re.compile(r"^orders"))
    expect(heading).to_contain_text(f"1,000 newest of {orders['total']:,}")


# -- 2 and 3. a paper run on the loopback venue, started from the form: live orders and fills,
# -- a manual order from the ticket, canceled; then killed -----------------------------------
PAPER_NAME = "e2e paper sma_cross"


def fill_paper_form(page: Any, endpoint: str, **params: str) -> Any:
    """The New run form filled for sma_cross on 1 s bars of the replayed BTCUSDT trades (it
    trades within seconds), reached from the navigation; the form, not yet sent."""
    from playwright.sync_api import expect

    page.goto(serve_url(page) + "/")
    page.get_by_test_id("nav-new-run").click()
    form = page.get_by_test_id("run-form")
    expect(form).to_be_visible()
    form.get_by_test_id("run-kind-paper").click()
    expect(form).to_have_attribute("data-kind", "paper")
    form.get_by_test_id("strategy-select").select_option("sma_cross")
    for name, value in {"fast": "2", "slow": "3", "fraction": "0.1", **params}.items():
        form.get_by_test_id(f"param-{name}").fill(value)
    form.get_by_test_id("venue-input").fill("binanceusdm")
    form.get_by_test_id("symbols-input").fill("BTC/USDT:USDT")
    form.get_by_test_id("option-endpoint").fill(endpoint)
    form.get_by_test_id("option-bar").fill("1s")
    form.get_by_test_id("option-cash").fill("10000")
    form.get_by_test_id("more-options").locator("summary").click()
    form.get_by_test_id("option-duration").fill("300")
    form.get_by_test_id("run-name-input").fill(PAPER_NAME)
    return form


def serve_url(page: Any) -> str:
    """The server a page was opened on (its origin)."""
    return str(page.evaluate("location.origin"))


@pytest.fixture(scope="module")
def venue_url() -> Iterator[str]:
    if not (VENUE / "ws_capture_BTCUSDT_2024-08-08.txt.gz").exists():
        pytest.skip(f"shared venue data not present: {VENUE}")
    from heron.testing.venue_server import VenueServer
    from heron.testing.venues.binance import BinanceUsdmProfile

    # the capture spans ~6 minutes: at 3x it plays ~2 minutes, longer than these tests need
    with VenueServer(BinanceUsdmProfile.recorded(VENUE), speed=3) as venue:
        yield venue.url


@pytest.fixture(scope="module")
def paper_run(serve: Serve, venue_url: str, browser: Any) -> Iterator[str]:
    """The paper run, created and started by a user filling the New run form."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(serve.url + "/")
        form = fill_paper_form(page, venue_url)
        preview = page.get_by_test_id("run-config-preview")
        expect(preview).to_contain_text(f'endpoint = "{venue_url}"')
        expect(preview).to_contain_text('symbol = ["BTC/USDT:USDT"]')
        shot(page, "2-paper-run-form")
        form.get_by_test_id("run-submit").click()
        detail = page.get_by_test_id("run-detail")
        expect(detail).to_be_visible(timeout=30_000)   # the form went to the new run's page
        run_id = str(detail.get_attribute("data-run-id"))
        assert run_id.startswith("pp-") and page.url.endswith(f"/runs/{run_id}")
        assert not errors, f"the page threw: {errors}"
    finally:
        context.close()
    try:
        yield run_id
    finally:
        with contextlib.suppress(AssertionError, OSError):
            serve.call("POST", f"/api/runs/{run_id}/stop")
        wait_until(lambda: serve.get(f"/api/runs/{run_id}")["status"] in ENDED,
                   "the paper run to stop", 60)


def test_the_run_form_sends_the_config_it_shows(serve: Serve, paper_run: str) -> None:
    run = serve.get(f"/api/runs/{paper_run}")
    assert run["kind"] == "paper" and run["name"] == PAPER_NAME
    assert run["status"] in ("running", "stopping", *ENDED)
    config = run["config"]
    for line in ('strategy = "sma_cross"', 'venue = "binanceusdm"', 'symbol = ["BTC/USDT:USDT"]',
                 'bar = "1s"', 'cash = "10000"', "duration = 300", "[params]", "fast = 2",
                 "slow = 3", 'fraction = "0.1"'):
        assert line in config.splitlines(), (line, config)


def test_a_paper_run_shows_orders_and_fills_as_they_happen(serve: Serve, paper_run: str,
                                                          page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{serve.url}/runs/{paper_run}")
    expect(page.get_by_test_id("run-detail")).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-value", "running",
                                                                timeout=30_000)
    expect(page.get_by_test_id("stream-state")).to_have_attribute("data-value", "live",
                                                                  timeout=15_000)
    # the first fill arrives while we watch (the page is never reloaded)
    wait_until(lambda: rows(page, "fills-table") > 0, "a first fill on the page", 90)
    first_fills, first_orders = rows(page, "fills-table"), rows(page, "orders-table")
    assert first_orders >= 1
    shot(page, "2-paper-first-fill")
    wait_until(lambda: rows(page, "fills-table") > first_fills, "more fills, live", 90)
    wait_until(lambda: rows(page, "orders-table") > first_orders, "more orders, live", 30)
    expect(page.get_by_test_id("event-log")).to_contain_text("OrderFilled")
    expect(page.get_by_test_id("price-chart")).not_to_have_attribute("data-points", "0")
    expect(page.get_by_test_id("trading-state")).to_have_attribute("data-value", "READY")
    shot(page, "2-paper-live")
    # every fill on the page is one the server's journal holds
    fills = serve.get(f"/api/runs/{paper_run}/fills?limit=1000")["items"]
    assert len(fills) >= rows(page, "fills-table")
    shown = page.get_by_test_id("fills-table-row").first.locator("[data-col=price]")
    assert shown.inner_text() in {f["price"] for f in fills}


def event_seqs(page: Any) -> list[int]:
    cells = page.eval_on_selector_all("[data-testid=event-log-row] td:first-child",
                                      "cells => cells.map(c => c.textContent)")
    return [int(c) for c in cells]


def test_the_run_page_misses_nothing_across_a_server_restart(serve: Serve, paper_run: str,
                                                            page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{serve.url}/runs/{paper_run}")
    stream = page.get_by_test_id("stream-state")
    expect(stream).to_have_attribute("data-value", "live", timeout=15_000)
    wait_until(lambda: event_seqs(page), "journal records in the event log", 60)
    before = max(event_seqs(page))
    serve.restart()   # every open stream is cut; the run goes on writing its journal
    expect(stream).to_have_attribute("data-value", "live", timeout=30_000)
    wait_until(lambda: max(event_seqs(page)) > before + 5, "records written after the restart",
             60)
    seqs = event_seqs(page)   # newest first: each one once, none missing
    assert seqs == list(range(seqs[0], seqs[0] - len(seqs), -1))
    assert seqs[-1] == 1 or len(seqs) >= 500
    # the tables catch up too (a refetch that failed while the server was away is retried)
    wait_until(lambda: rows(page, "fills-table") == len(
        serve.get(f"/api/runs/{paper_run}/fills?limit=1000")["items"]), "the fills table", 30)
    shot(page, "2-paper-after-server-restart")


def order_row(page: Any, table: str, client_order_id: str) -> Any:
    return page.get_by_test_id(f"{table}-row").filter(
        has=page.locator(f"[data-col=client_order_id]:text-is('{client_order_id}')"))


def test_an_order_from_the_ticket_rests_then_is_canceled_from_the_page(
        serve: Serve, paper_run: str, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(f"{serve.url}/runs/{paper_run}")
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-value", "running",
                                                                timeout=30_000)
    expect(page.get_by_test_id("trading-state")).to_have_attribute("data-value", "READY",
                                                                  timeout=60_000)
    ticket = page.get_by_test_id("order-ticket")
    ticket.get_by_test_id("ticket-symbol").fill("BTCUSDT")
    ticket.get_by_test_id("ticket-side").select_option("buy")
    ticket.get_by_test_id("ticket-type").select_option("limit")
    ticket.get_by_test_id("ticket-quantity").fill("0.002")
    ticket.get_by_test_id("ticket-tif").select_option("GTC")
    # off the price grid: the run's risk engine denies it, and the page says which rule
    ticket.get_by_test_id("ticket-price").fill("10000.0001")
    ticket.get_by_test_id("ticket-submit").click()
    result = page.get_by_test_id("ticket-result")
    expect(result).to_have_attribute("data-outcome", "denied", timeout=15_000)
    expect(result).to_contain_text("price:")
    shot(page, "2-ticket-denied")

    # far below the market (~56k): it rests on the book
    ticket.get_by_test_id("ticket-price").fill("10000")
    ticket.get_by_test_id("ticket-submit").click()
    expect(result).to_have_attribute("data-outcome", "accepted", timeout=15_000)
    coid = str(result.get_attribute("data-order-id"))
    assert coid and coid != "None"
    resting = order_row(page, "open-orders-table", coid)
    expect(resting).to_have_count(1, timeout=30_000)   # arrives live, no reload
    expect(resting.locator("[data-col=price]")).to_have_text("10000")
    expect(resting.locator("[data-col=quantity]")).to_have_text("0.002")
    shot(page, "2-ticket-resting")
    order = next(o for o in serve.get(f"/api/runs/{paper_run}/orders?status=open")["items"]
                 if o["client_order_id"] == coid)
    assert order["strategy_id"] == "manual" and order["price"] == "10000"

    resting.get_by_test_id("cancel-order").click()
    canceled = page.get_by_test_id("cancel-result")
    expect(canceled).to_have_attribute("data-outcome", "accepted", timeout=15_000)
    expect(resting).to_have_count(0, timeout=30_000)
    expect(order_row(page, "orders-table", coid).locator("[data-col=status]")).to_have_text(
        "canceled", timeout=30_000)
    shot(page, "2-ticket-canceled")
    statuses = {o["client_order_id"]: o["status"]
                for o in serve.get(f"/api/runs/{paper_run}/orders?limit=1000")["items"]}
    assert statuses[coid] == "canceled"


def test_killing_a_paper_run_from_the_overview_halts_it(serve: Serve, paper_run: str,
                                                       page: Any) -> None:
    from playwright.sync_api import expect

    wait_until(lambda: serve.get(f"/api/runs/{paper_run}")["status"] == "running",
             "the paper run to be running", 60)
    page.goto(serve.url + "/")
    row = page.locator(f"[data-testid=run-row][data-run-id='{paper_run}']")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("trading-state")).to_have_attribute("data-value", "READY",
                                                                  timeout=60_000)
    # Cancel leaves it alone
    row.get_by_test_id("kill-button").click()
    expect(page.get_by_test_id("kill-dialog")).to_be_visible()
    page.get_by_test_id("kill-cancel").click()
    expect(page.get_by_test_id("kill-dialog")).to_be_hidden()
    assert serve.get(f"/api/runs/{paper_run}/status")["trading_state"] == "READY"

    row.get_by_test_id("kill-button").click()
    dialog = page.get_by_test_id("kill-dialog")
    dialog.get_by_test_id("kill-reason").fill("e2e: operator kill")
    shot(page, "3-kill-dialog")
    dialog.get_by_test_id("kill-confirm").click()
    expect(dialog).to_be_hidden(timeout=15_000)
    expect(row.get_by_test_id("trading-state")).to_have_attribute("data-value", "HALTED",
                                                                  timeout=60_000)
    shot(page, "3-overview-halted")

    events = serve.get(f"/api/runs/{paper_run}/events?type=TradingStateChanged")["items"]
    moves = [(e["record"]["to_state"], e["record"]["trigger"], e["record"]["reason"])
             for e in events]
    assert ("HALTED", "manual", "e2e: operator kill") in moves
    page.goto(f"{serve.url}/runs/{paper_run}")
    expect(page.get_by_test_id("trading-state")).to_have_attribute("data-value", "HALTED",
                                                                  timeout=30_000)
    expect(page.get_by_test_id("event-log")).to_contain_text("TradingStateChanged")
    shot(page, "3-run-halted")



# -- a bad form: the server's refusal, in the page ------------------------------------------
def test_a_bad_run_form_shows_the_servers_error_and_creates_nothing(serve: Serve,
                                                                   page: Any) -> None:
    from playwright.sync_api import expect

    before = len(serve.get("/api/runs?limit=1000")["items"])
    page.goto(serve.url + "/runs/new")
    form = fill_paper_form(page, "http://127.0.0.1:9", fast="5", slow="3")
    form.get_by_test_id("run-submit").click()
    error = page.get_by_test_id("run-form-error")
    expect(error).to_have_text("sma_cross: fast (5) must be below slow (3); pass a smaller "
                               "fast or a larger slow")
    shot(page, "5-run-form-bad-parameter")
    form.get_by_test_id("param-fast").fill("2")
    form.get_by_test_id("option-duration").fill("soon")
    form.get_by_test_id("run-submit").click()
    expect(error).to_contain_text("run config: key 'duration'")
    expect(page.get_by_test_id("new-run-page")).to_be_visible()   # still on the form
    assert len(serve.get("/api/runs?limit=1000")["items"]) == before


def test_a_live_run_asks_for_a_real_money_confirmation(serve: Serve, page: Any) -> None:
    from playwright.sync_api import expect

    before = len(serve.get("/api/runs?limit=1000")["items"])
    page.goto(serve.url + "/runs/new")
    form = page.get_by_test_id("run-form")
    form.get_by_test_id("run-kind-live").click()
    expect(form).to_have_attribute("data-kind", "live")
    form.get_by_test_id("symbols-input").fill("BTC/USDT:USDT")
    expect(form.get_by_test_id("option-cash")).to_have_count(0)   # not a live option
    form.get_by_test_id("run-submit").click()
    dialog = page.get_by_test_id("live-confirm-dialog")
    expect(dialog.get_by_test_id("live-warning")).to_contain_text("REAL MONEY")
    expect(dialog.get_by_test_id("live-confirm")).to_be_disabled()
    shot(page, "5-live-confirmation")
    dialog.get_by_test_id("live-cancel").click()
    expect(dialog).to_be_hidden()
    assert len(serve.get("/api/runs?limit=1000")["items"]) == before


# -- 4. a server that requires tokens ----------------------------------------------------------
def test_a_token_in_the_page_url_opens_a_server_that_requires_one(
        tmp_path: Path, browser: Any) -> None:
    from playwright.sync_api import expect

    home = tmp_path / "home"
    made = subprocess.run([sys.executable, "-m", "heron", "token", "create", "--role", "viewer",
                           "--name", "e2e", "--home", str(home)],
                          capture_output=True, text=True, check=True, cwd=REPO)
    found = re.search(r"heron_[A-Za-z0-9_-]{20,}", made.stdout)
    assert found, made.stdout + made.stderr
    secret = found.group(0)
    server = Serve(home, "--require-token", token=secret)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(server.url + "/")   # no token: the server says so, the page shows it
        expect(page.get_by_test_id("overview-error")).to_be_visible()
        page.goto(f"{server.url}/?token={secret}")
        expect(page.get_by_test_id("role")).to_have_text("viewer")
        expect(page.get_by_test_id("stream-state")).to_have_attribute("data-value", "live",
                                                                      timeout=15_000)
        expect(page.get_by_test_id("overview-error")).to_have_count(0)
        assert "token" not in page.url   # taken out of the address bar, kept for the tab
        page.get_by_test_id("nav-new-run").click()   # a viewer gets no form to start runs
        expect(page.get_by_test_id("new-run-readonly")).to_be_visible()
        expect(page.get_by_test_id("run-form")).to_have_count(0)
        page.get_by_test_id("nav-data").click()
        expect(page.get_by_test_id("data-files-table")).to_contain_text(BARS)
        page.reload()   # sessionStorage outlives a reload of the tab
        expect(page.get_by_test_id("data-files-table")).to_contain_text(BARS)
        expect(page.get_by_test_id("data-error")).to_have_count(0)
        shot(page, "4-token-data-page")
    finally:
        context.close()
        server.stop()
