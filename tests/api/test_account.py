"""A run's account over the API: fills, positions, balances, round trips, the equity curve
and the journal's records, page by page, against heron's own replay of the journal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from api.conftest import Home, api_client, error_code
from heron.api.pages import PageParams
from heron.api.read_models import RunView
from heron.api.routes.account import trip_page
from heron.core.journal_store import JournalReader
from heron.model.events import OrderFilled
from heron.node.replay import replay_journal
from heron.node.round_trip_table import journal_round_trips

pytestmark = pytest.mark.anyio


async def _all_pages(http: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        page = await http.get(path, params=query)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_fills_positions_balances_agree_with_the_replay(home: Home) -> None:
    location, journal_run = home.manager.journal_location(home.month)
    replayed = replay_journal(location, run_id=journal_run)
    pf = replayed.portfolio
    records = list(JournalReader(location, journal_run).records())
    fill_seqs = [seq for seq, r in enumerate(records, 1) if isinstance(r, OrderFilled)]
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.month}"
        fills = await _all_pages(http, f"{base}/fills", limit=97)
        assert [f["seq"] for f in fills] == fill_seqs
        first = records[fill_seqs[0] - 1]
        assert isinstance(first, OrderFilled)
        inst = pf.instruments[first.instrument_id]
        assert Decimal(fills[0]["price"]) == inst.price(first.last_px)
        assert Decimal(fills[0]["quantity"]) == inst.quantity(first.last_qty)
        assert Decimal(fills[0]["fee"]) == pf.money(first.fee)
        positions = (await http.get(f"{base}/positions")).json()["items"]
        pos = pf.positions[first.instrument_id]
        assert [(p["instrument_id"], Decimal(p["quantity"])) for p in positions] == [
            (first.instrument_id, pos.quantity)]
        assert Decimal(positions[0]["realized_pnl"]) == pf.money(pos.realised)
        balance = (await http.get(f"{base}/balances")).json()["items"][0]
        assert Decimal(balance["total"]) == pf.money(pf.balance)
        assert Decimal(balance["fees"]) == pf.money(pf.fees)
        assert Decimal(balance["starting"]) == pf.money(pf.starting_balance)
        trips = await _all_pages(http, f"{base}/round-trips", limit=50)
        table = journal_round_trips(location, include_open=True, run_id=journal_run)
        assert len(trips) == table.height
        assert [Decimal(t["net_pnl"]) for t in trips] == [
            v.normalize() for v in table["net_pnl"].to_list()]


async def test_fills_and_round_trips_newest_first_page_back_to_the_first(
        home: Home) -> None:
    """A dashboard shows a long run's newest rows, whatever its age: newest first, the
    pages are the oldest-first list reversed, and each page says the list's length."""
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.month}"
        for path, key in (("fills", "seq"), ("round-trips", "entry_ts")):
            oldest = await _all_pages(http, f"{base}/{path}", limit=97)
            newest = await _all_pages(http, f"{base}/{path}", limit=97, newest_first=True)
            assert len(oldest) > 97 and newest == oldest[::-1], path
            first = (await http.get(f"{base}/{path}", params={
                "newest_first": True, "limit": 5})).json()
            assert first["total"] == len(oldest), path
            assert [row[key] for row in first["items"]] == [
                row[key] for row in oldest[:-6:-1]], path


async def test_equity_curve_is_downsampled_to_the_points_asked(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.month}/equity"
        full = (await http.get(base, params={"points": 100_000})).json()
        few = (await http.get(base, params={"points": 20})).json()
        assert len(few) <= 20 < len(full)
        assert few[-1] == full[-1]
        assert all(0 <= Decimal(p["drawdown"]) < 1 for p in full)
        assert (await http.get(base, params={"points": 1})).status_code == 422
        assert (await http.get(base, params={"points": "many"})).status_code == 422


async def test_events_page_through_the_journal_by_sequence(home: Home) -> None:
    location, journal_run = home.manager.journal_location(home.month)
    count = JournalReader(location, journal_run).record_count
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.month}/events"
        events = await _all_pages(http, base, limit=1000)
        assert [e["seq"] for e in events] == list(range(1, count + 1))
        assert {e["run_id"] for e in events} == {home.month}
        fills = await _all_pages(http, base, limit=200, type="OrderFilled")
        assert {e["type"] for e in fills} == {"OrderFilled"}
        assert [e["seq"] for e in fills] == [e["seq"] for e in events
                                             if e["type"] == "OrderFilled"]
        later = (await http.get(base, params={"after": count - 2})).json()
        assert [e["seq"] for e in later["items"]] == [count - 1, count]
        assert later["next_cursor"] is None
        bad_type = await http.get(base, params={"type": "Nope"})
        assert bad_type.status_code == 422 and error_code(bad_type) == "invalid"
        bad_cursor = await http.get(base, params={"cursor": "YWJj"})  # "abc"
        assert bad_cursor.status_code == 400 and error_code(bad_cursor) == "bad_request"


async def test_a_run_without_a_journal_yet_has_empty_lists(home: Home) -> None:
    async with api_client(home.settings(), home.manager) as http:
        base = f"/api/runs/{home.paper}"
        for path in ("fills", "positions", "balances", "round-trips", "orders", "events"):
            answer = await http.get(f"{base}/{path}")
            assert answer.status_code == 200, path
            counted = {"total": 0} if path in ("fills", "round-trips", "orders") else {}
            assert answer.json() == {"items": [], "next_cursor": None, **counted}, path
        assert (await http.get(f"{base}/equity")).json() == []
        run = (await http.get(base)).json()
        assert run["status"] == "created" and run["summary"] is None


def test_round_trip_pages_of_a_live_view_do_not_shift_while_it_trades(home: Home) -> None:
    """A paper or live view lets its oldest closed trips go as new ones close: the next
    page (newest first) is still the ten trips just before the first page's oldest."""
    location, journal_run = home.manager.journal_location(home.month)
    reader = JournalReader(location, journal_run)
    header, records = reader.header, list(reader.records())
    full = RunView(home.month, header)
    for seq, record in enumerate(records, 1):
        full.apply(seq, record)
    view = RunView(home.month, {**header, "kind": "live"}, closed_kept=25)
    seq = 0
    while view.round_trip_count() < 100:
        seq += 1
        view.apply(seq, records[seq - 1])
    shown = view.round_trip_count()
    first = trip_page(view, PageParams(10, None), newest_first=True)
    while view.round_trip_count() < shown + 3:   # three more trips: three let go of
        seq += 1
        view.apply(seq, records[seq - 1])
    second = trip_page(view, PageParams(10, first["next_cursor"]), newest_first=True)
    everything = full.round_trip_rows()
    assert second["items"] == everything[shown - 20:shown - 10][::-1]
    assert [t["entry_ts"] for t in first["items"][1:]] == [
        t["entry_ts"] for t in everything[shown - 10:shown - 1][::-1]]
