"""The limits file: a good one loads; each bad one is refused with one line naming the key."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from heron.errors import InputError
from heron.risk.config import load_risk
from heron.risk.limits import RateLimit, parse_limits

GOOD = """
[limits]
max_order_quantity = "2"
max_order_notional = 10000.5
max_position = 5
max_gross_exposure = "100000"
max_net_exposure = "50000"
max_leverage = 3
price_band_bps = 500
whitelist = ["BTCUSDT.BINANCE", "ETHUSDT"]
self_trade = "decrement-both"

[limits.order_rate]
count = 50
window_s = 1

[limits.cancel_rate]
count = 100
window_s = 0.25

[limits.instruments."BTCUSDT.BINANCE"]
max_order_quantity = "1"
"""


def test_good_file_loads_exactly(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(GOOD)

    limits = load_risk(path).limits

    assert limits.default.max_order_notional == Decimal("10000.5")  # a TOML float, exact
    assert limits.default.max_position == Decimal(5)
    assert limits.max_leverage == Decimal(3)
    assert limits.whitelist == ("BTCUSDT.BINANCE", "ETHUSDT")
    assert limits.order_rate == RateLimit(50, 1_000_000_000)
    assert limits.cancel_rate == RateLimit(100, 250_000_000)
    assert limits.self_trade == "decrement-both"
    btc = limits.for_instrument("BTCUSDT.BINANCE", "BTCUSDT")
    assert btc.max_order_quantity == Decimal(1)
    assert btc.max_order_notional == Decimal("10000.5")  # the default where not overridden
    assert limits.for_instrument("ETHUSDT.BINANCE", "ETHUSDT").max_order_quantity == 2


def _refused(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:  # the [limits] table's own checks
        parse_limits(tomllib.loads(path.read_text(), parse_float=Decimal), path.name)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "message"), [
    ('[limits]\nmax_order_notional = -5',
     "risk.toml: [limits] max_order_notional must be positive, got -5; fix the value"),
    ('[limits]\nmax_position = 0',
     "risk.toml: [limits] max_position must be positive, got 0; fix the value"),
    ('[limits]\nmax_leverage = "lots"',
     "risk.toml: [limits] max_leverage must be a number, got 'lots'; fix the value"),
    ('[limits]\nprice_band_bps = true',
     "risk.toml: [limits] price_band_bps must be a number, got True; fix the value"),
    ('[limits]\nmax_ordr_qty = 1',
     "risk.toml: [limits] unknown rule 'max_ordr_qty'; known: max_order_quantity, "
     "max_order_notional, max_position, price_band_bps, max_gross_exposure, "
     "max_net_exposure, max_leverage, whitelist, self_trade, order_rate, cancel_rate, "
     "instruments; fix the name"),
    ('[limit]\nmax_position = 1',
     "risk.toml: unknown table or key 'limit'; the file holds one [limits] table "
     "(see docs/risk.md)"),
    ('', "risk.toml: no [limits] table; add one (see docs/risk.md)"),
    ('[limits]\nself_trade = "cancel-both"',
     "risk.toml: [limits] self_trade must be one of off, cancel-new, cancel-resting, "
     "decrement-both, got 'cancel-both'; fix the value"),
    ('[limits]\nwhitelist = []',
     "risk.toml: [limits] whitelist is empty, which denies every order; list the "
     "instruments or remove the key"),
    ('[limits]\nwhitelist = "BTCUSDT"',
     "risk.toml: [limits] whitelist must be a list of instrument ids, got 'BTCUSDT'; "
     "fix the value"),
    ('[limits.order_rate]\ncount = 10',
     "risk.toml: [limits.order_rate] is missing window_s; add it"),
    ('[limits.order_rate]\ncount = 1.5\nwindow_s = 1',
     "risk.toml: [limits.order_rate] count must be a whole number, got 1.5; fix the value"),
    ('[limits.cancel_rate]\ncount = 10\nwindow_s = 1\nburst = 2',
     "risk.toml: [limits.cancel_rate] unknown key 'burst'; known: count, window_s; "
     "fix the name"),
    ('[limits.cancel_rate]\ncount = 10\nwindow_s = -1',
     "risk.toml: [limits.cancel_rate] window_s must be positive, got -1; fix the value"),
    ('[limits]\norder_rate = 5',
     "risk.toml: [limits.order_rate] must be a table with count and window_s; fix the value"),
    ('[limits.order_rate]\ncount = 1\nwindow_s = 0.0000000001',
     "risk.toml: [limits.order_rate] window_s is finer than a nanosecond; fix the value"),
    ('[limits.instruments."BTCUSDT"]\nmax_leverage = 2',
     'risk.toml: [limits.instruments."BTCUSDT"] unknown per-instrument rule '
     "'max_leverage'; known: max_order_quantity, max_order_notional, max_position, "
     "price_band_bps; fix the name"),
    ('[limits.instruments]\nBTCUSDT = 5',
     'risk.toml: [limits.instruments."BTCUSDT"] must be a table of limits; fix the value'),
    ('[limits]\ninstruments = 5',
     "risk.toml: [limits] instruments must be a table of instrument ids; write "
     '[limits.instruments."BTCUSDT.BINANCE"]'),
    ('[limits.instruments."BTCUSDT"]\nmax_position = -1',
     'risk.toml: [limits.instruments."BTCUSDT"] max_position must be positive, got -1; '
     "fix the value"),
])
def test_bad_value_refused_naming_the_key(text: str, message: str, tmp_path: Path) -> None:
    _refused(text, message, tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ('[limits]\nmax_gross_exposure = 100\nmax_net_exposure = 200',
     "risk.toml: [limits] max_net_exposure 200 is above max_gross_exposure 100, but |net| "
     "never exceeds gross; lower max_net_exposure"),
    ('[limits]\nmax_order_quantity = 3\nmax_position = 1',
     "risk.toml: [limits] max_order_quantity 3 is above twice max_position 1, so no such "
     "order could pass; lower it"),
    ('[limits]\nmax_position = 1\n[limits.instruments."ETHUSDT"]\nmax_order_quantity = 3',
     'risk.toml: [limits.instruments."ETHUSDT"] max_order_quantity 3 is above twice '
     "max_position 1, so no such order could pass; lower it"),
    ('[limits]\nwhitelist = ["BTCUSDT"]\n[limits.instruments."ETHUSDT"]\nmax_position = 1',
     'risk.toml: [limits.instruments."ETHUSDT"] sets limits for an instrument the '
     "whitelist excludes; add it to the whitelist or remove the section"),
])
def test_contradictory_limits_refused(text: str, message: str, tmp_path: Path) -> None:
    _refused(text, message, tmp_path)


def test_whitelisted_symbol_matches_an_override_by_id(tmp_path: Path) -> None:
    limits = parse_limits({"limits": {"whitelist": ["BTCUSDT"], "instruments": {
        "BTCUSDT.BINANCE": {"max_position": 1}}}})

    assert limits.for_instrument("BTCUSDT.BINANCE", "BTCUSDT").max_position == 1


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.toml: risk limits file not found; "
                                         r"check the --risk path"):
        load_risk(tmp_path / "nope.toml")
    path = tmp_path / "risk.toml"
    path.write_text("[limits\n")
    with pytest.raises(InputError, match=r"^risk.toml: not valid TOML \(.*\); fix the syntax$"):
        load_risk(path)
