"""Funding-rate files, and funding applied to a perpetual backtest from one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import heron
from heron.data.funding import read_funding
from heron.errors import DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "bars"
FT_FUNDING = SHARED / "freqtrade_XRP_USDT_perp_8h_funding_rate_2021-11.feather"
FT_BARS = SHARED / "freqtrade_XRP_USDT_perp_5m_futures_2021-11.feather"


def _shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data {path} not present")
    return path


def test_read_funding_freqtrade_feather_rate_in_open_column() -> None:
    events = read_funding(_shared(FT_FUNDING))
    assert len(events) == 91
    assert events[0] == (1637193600017000000, Decimal("0.0001"))
    assert [ts for ts, _ in events] == sorted(ts for ts, _ in events)


def test_read_funding_binance_archive_csv_keeps_exact_digits(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-fundingRate-2024-01.csv"
    path.write_text("calc_time,funding_interval_hours,last_funding_rate\n"
                    "1704067200000,8,0.00037409\n1704096000000,8,-0.00001234\n")
    assert read_funding(path) == [(1704067200000 * 10**6, Decimal("0.00037409")),
                                  (1704096000000 * 10**6, Decimal("-0.00001234"))]


@pytest.mark.parametrize(("body", "needle"), [
    ("when,rate\n2024-01-01,0.1\n", "no time column"),
    ("timestamp,value\n2024-01-01,0.1\n", "no rate column"),
    ("timestamp,rate\n2024-01-01,abc\n", "is not a number"),
    ("timestamp,rate\n2024-01-01,0.1\n2024-01-01,0.2\n", "same time"),
])
def test_read_funding_bad_files_name_the_problem(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text(body)
    with pytest.raises(DataError, match=needle):
        read_funding(path)


def test_perp_backtest_charges_funding_from_a_file_exactly() -> None:
    bars, funding = _shared(FT_BARS), _shared(FT_FUNDING)
    result = heron.backtest(bars, strategy="sma_cross", kind="perp", leverage="2",
                            params={"fast": 5, "slow": 20, "mode": "long-short"},
                            funding=funding, lot_size="0.1")
    applied = [r for r in result.engine.journal.records
               if type(r).__name__ == "FundingApplied"]
    assert applied, "the strategy holds positions across funding times"
    inst = result.engine.instruments[0]
    for event in applied:
        mark = inst.price(event.mark_px)
        qty = inst.quantity(event.position)
        expected = -(qty * mark * Decimal(event.rate))
        paid = result.engine.portfolio.money(event.amount)
        assert abs(paid - expected) <= Decimal(1).scaleb(-result.engine.portfolio.money_precision)
    assert result.funding == sum((result.engine.portfolio.money(e.amount) for e in applied),
                                 Decimal(0))
    assert result.to_dict()["funding"] == format(result.funding.normalize(), "f")
