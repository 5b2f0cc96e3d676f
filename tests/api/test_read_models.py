"""A run's view from its journal: the same state as heron's own replay, built at once or
record by record, and numbers leaving as exact decimal text."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from api.conftest import Home
from heron.api.read_models import RunView
from heron.api.record_json import RecordEncoder, fixed_text
from heron.core.journal_store import JournalReader
from heron.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderSubmitted,
    Record,
    SubmitOrder,
    TradingStateChanged,
)
from heron.model.fixed import EXACT
from heron.model.orders import OrderSide, OrderType
from heron.node.replay import replay_journal
from heron.node.round_trip_table import journal_round_trips


def _journal(home: Home, run_id: str) -> tuple[dict[str, object], list[Record]]:
    location, journal_run = home.manager.journal_location(run_id)
    reader = JournalReader(location, journal_run)
    return reader.header, list(reader.records())


def _view(home: Home, run_id: str) -> RunView:
    header, records = _journal(home, run_id)
    view = RunView(run_id, header)
    for seq, record in enumerate(records, 1):
        view.apply(seq, record)
    return view


def test_view_has_the_state_heron_replay_rebuilds(home: Home) -> None:
    view = _view(home, home.month)
    location, journal_run = home.manager.journal_location(home.month)
    replayed = replay_journal(location, run_id=journal_run)
    assert view.portfolio.snapshot() == replayed.portfolio.snapshot()
    assert {k: o.status for k, o in view.om.orders.items()} == {
        k: o.status for k, o in replayed.orders.orders.items()}
    assert view.fill_count == replayed.portfolio.fill_count > 100
    assert view.order_count == len(replayed.orders.orders)
    table = journal_round_trips(location, include_open=True, run_id=journal_run)
    rows = view.round_trip_rows()
    assert len(rows) == table.height == view.kept_round_trips() == view.round_trip_count()
    assert view.round_trip_rows(10, 20) == rows[10:20]   # a page prices its rows only
    for mine, theirs in zip(rows, table.iter_rows(named=True), strict=True):
        for key, value in theirs.items():
            expected = value if not isinstance(value, Decimal) else value.normalize()
            got = Decimal(mine[key]) if isinstance(value, Decimal) else mine[key]
            assert got == expected, key
    balance = view.balance_rows()[0]
    assert Decimal(balance["total"]) == replayed.portfolio.money(replayed.portfolio.balance)
    assert view.problems == []


def test_view_built_record_by_record_equals_one_built_at_once(home: Home) -> None:
    header, records = _journal(home, home.month)
    whole = _view(home, home.month)
    pieces = RunView(home.month, header)
    for start in range(0, len(records), 97):
        for seq in range(start + 1, min(start + 97, len(records)) + 1):
            pieces.apply(seq, records[seq - 1])
        pieces.apply(1, records[0])  # an old sequence number changes nothing
    assert pieces.portfolio.snapshot() == whole.portfolio.snapshot()
    assert pieces.equity == whole.equity and pieces.last_seq == len(records)
    assert pieces.fill_count == whole.fill_count
    assert pieces.order_rows() == whole.order_rows()


@given(st.integers(-10**30, 10**30), st.integers(0, 24))
def test_fixed_text_is_exact_plain_decimal(raw: int, precision: int) -> None:
    text = fixed_text(raw, precision)
    assert Decimal(text) == Decimal(raw).scaleb(-precision, EXACT)
    assert "E" not in text and "e" not in text
    assert not ("." in text and text.endswith("0"))


def test_records_leave_with_prices_sizes_and_money_as_decimal_text(home: Home) -> None:
    header, records = _journal(home, home.month)
    encoder = RecordEncoder(home.month, header)
    fill = next(r for r in records if isinstance(r, OrderFilled))
    submit = next(r for r in records if isinstance(r, SubmitOrder)
                  and r.decision_price is not None)
    inst = encoder.instruments[fill.instrument_id]
    event = encoder.event(7, fill)
    assert (event["run_id"], event["seq"], event["type"], event["ts"]) == (
        home.month, 7, "OrderFilled", fill.ts_event)
    body = event["record"]
    assert Decimal(body["last_px"]) == inst.price(fill.last_px)
    assert Decimal(body["last_qty"]) == inst.quantity(fill.last_qty)
    assert Decimal(body["order_qty"]) == inst.quantity(fill.order_qty)
    assert Decimal(body["fee"]) == Decimal(fill.fee).scaleb(-int(str(header["money_precision"])))
    assert body["side"] == fill.side.value and body["trade_id"] == fill.trade_id
    submitted = encoder.fields(submit)
    assert Decimal(submitted["decision_price"]) == inst.price(submit.decision_price or 0)
    assert submitted["price"] is None


def test_equity_curve_drawdown_and_downsampling(home: Home) -> None:
    view = _view(home, home.month)
    everything = view.equity_rows(10**6)
    assert len(everything) == len(view.equity) == view.fill_count + 1
    assert everything[0]["ts"] > 0  # starts at the run's first timed record, not 1970
    peak = Decimal(0)
    for row in everything:
        equity = Decimal(row["equity"])
        peak = max(peak, equity)
        assert abs(Decimal(row["drawdown"]) - (1 - equity / peak)) < Decimal("1e-8")
    few = view.equity_rows(50)
    assert len(few) <= 50 and few[-1] == everything[-1]
    deepest = max(Decimal(r["drawdown"]) for r in everything)
    assert max(Decimal(r["drawdown"]) for r in few) == deepest
    assert [r["ts"] for r in few] == sorted(r["ts"] for r in few)


def test_equity_starts_at_the_first_timed_record(home: Home) -> None:
    """A paper run's journal opens with its INIT -> READY change at time 0; the curve
    starts at the first record that has a time, not in 1970."""
    header, records = _journal(home, home.month)
    view = RunView(home.month, header)
    view.apply(1, TradingStateChanged(0, 0, "INIT", "READY", "start", "run started"))
    for seq, record in enumerate(records, 2):
        view.apply(seq, record)
    assert view.equity[0][0] == records[0].ts_event > 0


def test_a_paper_or_live_view_keeps_what_the_run_keeps_and_stays_exact(home: Home) -> None:
    """A view served while a run trades for weeks: its newest closed orders (with their
    round trips) and every open one, a thinned curve whose deepest drawdown is still the
    exact one, and counts of everything it let go of; its account is the whole run's."""
    header, records = _journal(home, home.month)
    whole = _view(home, home.month)
    small = RunView(home.month, {**header, "kind": "paper"}, closed_kept=25, equity_kept=40)
    for seq, record in enumerate(records, 1):
        small.apply(seq, record)
    assert small.portfolio.snapshot() == whole.portfolio.snapshot()
    assert small.summary() == whole.summary() and small.balance_rows() == whole.balance_rows()
    assert (small.order_count, small.fill_count) == (whole.order_count, whole.fill_count)
    assert whole.order_count > 100
    kept = small.order_rows()
    assert len(kept) == 25 and kept == whole.order_rows()[-25:]   # the newest, unchanged
    assert set(small.order_no) == set(small.om.orders) == set(small.order_ts)
    assert [small.order_no[r["client_order_id"]] for r in kept] == list(
        range(whole.order_count - 24, whole.order_count + 1))
    trips = whole.round_trip_rows()   # closed, then the open ones
    assert small.round_trip_rows() == trips[-(25 + len(whole.om.trips.open)):]
    assert small.round_trip_count() == whole.round_trip_count() == len(
        whole.round_trip_rows())
    assert 40 <= len(small.equity) <= 80 < len(whole.equity)
    assert small.equity[-1] == whole.equity[-1]
    assert max(d for _, _, d in small.equity) == max(d for _, _, d in whole.equity) > 0
    assert [p[0] for p in small.equity] == sorted(p[0] for p in small.equity)


def test_a_backtest_view_keeps_every_order(home: Home) -> None:
    view = _view(home, home.month)
    assert len(view.om.orders) == view.order_count > 100 and not view.om.bounded


def test_a_round_trip_keeps_its_decision_prices_after_its_orders_are_let_go_of(
        home: Home) -> None:
    """A position held while 40 quotes come and go: its entry order is let go of (5
    closed orders kept), but the trip still prices its slippage from both decisions."""
    header, records = _journal(home, home.month)
    iid = next(r.instrument_id for r in records if isinstance(r, SubmitOrder))
    view = RunView(home.month, {**header, "kind": "live"}, closed_kept=5)
    made: list[Record] = []

    def order(cid: str, side: OrderSide, kind: OrderType, px: int, decided: int) -> None:
        t = 1_700_000_000_000_000_000 + len(made) * 10**9
        made.append(SubmitOrder(t, t, cid, "s", iid, side, kind, 10,
                                px if kind is OrderType.LIMIT else None, decision_price=decided))
        made.append(OrderSubmitted(t, t, cid, iid))
        made.append(OrderAccepted(t, t, cid, iid, f"V-{cid}"))
        if kind is OrderType.MARKET:
            made.append(OrderFilled(t, t, cid, iid, f"V-{cid}", f"T-{cid}", "s", side, 10, px,
                                    0, "taker", 10))
        else:
            made.append(OrderCanceled(t, t, cid, iid))

    order("in", OrderSide.BUY, OrderType.MARKET, 400_000, 399_990)
    for k in range(40):
        order(f"quote-{k}", OrderSide.SELL, OrderType.LIMIT, 410_000, 401_000)
    order("out", OrderSide.SELL, OrderType.MARKET, 401_000, 401_020)
    for seq, record in enumerate(made, 1):
        view.apply(seq, record)
    assert view.problems == []
    assert "in" not in view.om.orders and view.order_count == 42
    [trip] = view.round_trip_rows()
    price = view.encoder.instruments[iid].price
    assert Decimal(trip["entry_decision_price"]) == price(399_990)
    assert Decimal(trip["exit_decision_price"]) == price(401_020)
    assert len(view.decisions) < 42
