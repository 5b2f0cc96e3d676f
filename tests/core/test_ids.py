"""Deterministic identifiers: same run, same ids; venue-safe client order ids."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.core.ids import IdGenerator

VENUE_SAFE = re.compile(r"[A-Za-z0-9-]+")


def test_ids_fresh_generator_counts_from_one() -> None:
    ids = IdGenerator("RUN")
    assert ids.client_order_id("sma") == "RUN-sma-1"
    assert ids.client_order_id("sma") == "RUN-sma-2"
    assert ids.venue_order_id() == "V1"
    assert ids.trade_id() == "T1"
    assert ids.trade_id() == "T2"


def test_ids_two_generators_give_identical_sequences() -> None:
    def sequence(ids: IdGenerator) -> list[str]:
        return [ids.client_order_id("a"), ids.venue_order_id(), ids.trade_id(),
                ids.client_order_id("b"), ids.trade_id(), ids.venue_order_id()]

    assert sequence(IdGenerator("x")) == sequence(IdGenerator("x"))


def test_ids_counters_are_independent() -> None:
    ids = IdGenerator()
    ids.trade_id()
    ids.trade_id()
    assert ids.venue_order_id() == "V1"
    assert ids.client_order_id("s").endswith("-1")
    assert ids.state() == (1, 1, 2)


def test_ids_client_counter_shared_across_strategies_keeps_ids_unique() -> None:
    ids = IdGenerator()
    made = [ids.client_order_id(tag) for tag in ("a_b", "ab", "a b", "ab")]
    assert len(set(made)) == len(made)


def test_ids_run_tag_unsafe_characters_are_removed_and_truncated() -> None:
    ids = IdGenerator("my run/2024:ÉTÉ long")
    assert ids.client_order_id("s") == "myrun202-s-1"


def test_ids_empty_run_tag_falls_back_to_h() -> None:
    assert IdGenerator("!!!").client_order_id("s") == "H-s-1"
    assert IdGenerator("").client_order_id("s") == "H-s-1"


def test_ids_strategy_tag_is_sanitised_and_truncated_to_twelve() -> None:
    cid = IdGenerator("H").client_order_id("mean_reversion.v2/BTC")
    assert cid == "H-meanreversio-1"


def test_ids_restore_continues_where_state_left_off() -> None:
    first = IdGenerator("R")
    for _ in range(3):
        first.client_order_id("s")
    first.venue_order_id()
    for _ in range(5):
        first.trade_id()
    resumed = IdGenerator("R")
    resumed.restore(first.state())
    assert resumed.state() == (3, 1, 5)
    assert resumed.client_order_id("s") == first.client_order_id("s") == "R-s-4"
    assert resumed.venue_order_id() == first.venue_order_id() == "V2"
    assert resumed.trade_id() == first.trade_id() == "T6"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.integers(min_value=0, max_value=10**12))
def test_ids_client_order_id_is_venue_safe_and_short(
    run_tag: str, strategy_tag: str, issued: int
) -> None:
    ids = IdGenerator(run_tag)
    ids.restore((issued, 0, 0))
    cid = ids.client_order_id(strategy_tag)
    assert VENUE_SAFE.fullmatch(cid)
    assert len(cid) < 36
    assert cid.endswith(f"-{issued + 1}")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=15), min_size=1, max_size=50))
def test_ids_client_order_ids_never_repeat_in_one_run(tags: list[str]) -> None:
    ids = IdGenerator("H")
    made = [ids.client_order_id(tag) for tag in tags]
    assert len(set(made)) == len(made)
