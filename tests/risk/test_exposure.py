"""ExposureMarks: the running gross/net sums always equal a recomputation from scratch,
whatever order marks, positions and dictionary operations come in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from heron.risk.exposure import ExposureMarks

IDS = ("A", "B", "C", "D")


def _brute(marks: ExposureMarks) -> tuple[int, int]:
    long = sum(qu * marks[i] for i, qu in marks.held.items() if qu > 0 and i in marks)
    short = sum(-qu * marks[i] for i, qu in marks.held.items() if qu < 0 and i in marks)
    return long + short, long - short


_step = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(IDS), st.integers(1, 10**9)),
    st.tuples(st.just("hold"), st.sampled_from(IDS), st.integers(-10**6, 10**6)),
    st.tuples(st.just("del"), st.sampled_from(IDS), st.just(0)),
    st.tuples(st.just("update"), st.sampled_from(IDS), st.integers(1, 10**9)),
    st.tuples(st.just("ior"), st.sampled_from(IDS), st.integers(1, 10**9)),
    st.tuples(st.just("setdefault"), st.sampled_from(IDS), st.integers(1, 10**9)),
    st.tuples(st.just("read"), st.sampled_from(IDS), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, max_size=60))
def test_sums_match_a_recomputation_after_any_sequence(steps: list[tuple[str, str, int]]) -> None:
    marks = ExposureMarks({"A": 100})
    for op, iid, value in steps:
        if op == "set":
            marks[iid] = value
        elif op == "hold":
            marks.hold(iid, value)
        elif op == "del":
            marks.pop(iid, None)
        elif op == "update":
            marks.update({iid: value})
        elif op == "ior":
            marks |= {iid: value}
        elif op == "setdefault":
            marks.setdefault(iid, value)
        else:
            assert marks.exposures() == _brute(marks)
    assert marks.exposures() == _brute(marks)


def test_a_mark_move_of_a_held_position_changes_the_sums_exactly() -> None:
    marks = ExposureMarks({"L": 1_000, "S": 2_000})
    marks.hold("L", 3)
    marks.hold("S", -5)
    assert marks.exposures() == (3 * 1_000 + 5 * 2_000, 3 * 1_000 - 5 * 2_000)
    marks["L"] = 1_001  # the fast path: no recomputation, one multiplication
    marks["S"] = 1_999
    assert marks.exposures() == (3 * 1_001 + 5 * 1_999, 3 * 1_001 - 5 * 1_999)
    del marks["L"]  # an unpriced position counts from its next mark
    assert marks.exposures() == (5 * 1_999, -5 * 1_999)
    marks["L"] = 7
    assert marks.exposures() == (21 + 5 * 1_999, 21 - 5 * 1_999)
    assert dict(marks) == {"S": 1_999, "L": 7}  # still the portfolio's plain mapping
