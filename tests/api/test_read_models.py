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
from heron.model.events import OrderFilled, Record, SubmitOrder, TradingStateChanged
from heron.model.fixed import EXACT
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
    assert len(view.fills) == replayed.portfolio.fill_count > 100
    table = journal_round_trips(location, include_open=True, run_id=journal_run)
    rows = view.round_trip_rows()
    assert len(rows) == table.height
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
    assert pieces.fill_rows() == whole.fill_rows()
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
    assert len(everything) == len(view.equity) == len(view.fills) + 1
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
