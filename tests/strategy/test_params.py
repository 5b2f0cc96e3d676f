"""Strategy parameters: coercion, bounds, unknown names, cross-checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from heron.errors import InvalidConfiguration
from heron.strategy.base import Strategy
from heron.strategy.library.sma_cross import SmaCross
from heron.strategy.params import Param


class Demo(Strategy):
    name = "demo"
    window = Param(5, ge=2, le=100)
    ratio = Param(0.5, gt=0.0, lt=1.0)
    size = Param(Decimal("1.5"), ge=Decimal(0))
    side = Param("long", choices=("long", "short"))
    enabled = Param(True)


def test_params_defaults_applied_when_not_given() -> None:
    s = Demo()
    assert (s.window, s.ratio, s.size, s.side, s.enabled) == (5, 0.5, Decimal("1.5"), "long",
                                                              True)


def test_params_strings_from_cli_are_coerced_to_declared_types() -> None:
    s = Demo(window="7", ratio="0.25", size="2.125", side="short", enabled="false")
    assert s.window == 7 and isinstance(s.window, int)
    assert s.ratio == 0.25
    assert s.size == Decimal("2.125")
    assert s.enabled is False


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"window": 1}, "must be >= 2"),
    ({"window": 101}, "must be <= 100"),
    ({"ratio": 1.0}, "must be < 1.0"),
    ({"side": "sideways"}, "one of long, short"),
    ({"window": "seven"}, "not a valid int"),
    ({"window": 2.5}, "not a valid int"),
    ({"size": 0.1}, "not a valid Decimal"),
    ({"size": "nan"}, "not a valid Decimal"),
    ({"enabled": "maybe"}, "not a valid bool"),
])
def test_params_bad_values_are_refused_with_the_rule(kwargs: dict[str, object],
                                                     needle: str) -> None:
    with pytest.raises(InvalidConfiguration, match=needle):
        Demo(**kwargs)


def test_params_unknown_name_suggests_the_close_one() -> None:
    with pytest.raises(InvalidConfiguration, match="did you mean 'window'"):
        Demo(windw=3)


def test_sma_cross_fast_not_below_slow_is_refused() -> None:
    with pytest.raises(InvalidConfiguration, match="fast \\(20\\) must be below slow \\(20\\)"):
        SmaCross(fast=20, slow=20)


def test_sma_cross_describes_its_params() -> None:
    described = {p.name: p.describe() for p in SmaCross.params.values()}
    assert described["fast"]["default"] == 10
    assert described["slow"]["bounds"] == {"ge": 2}
    assert described["mode"]["choices"] == ("long-only", "long-short")
