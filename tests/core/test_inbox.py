"""The command inbox (``heron.core.inbox``): every command posted is taken once, in the
order posted, and its answer reaches the sender once."""

from __future__ import annotations

import os
import time
from pathlib import Path

from heron.core import inbox


def test_commands_posted_back_to_back_are_all_taken_in_order(tmp_path: Path) -> None:
    box = tmp_path / "control"
    ids = [inbox.post(box, f"command {k}".encode()) for k in range(50)]
    assert inbox.waiting(box) == ids  # names sort in the order posted
    taken = [inbox.take(box, entry) for entry in inbox.waiting(box)]
    assert taken == [f"command {k}".encode() for k in range(50)]
    assert inbox.waiting(box) == [] and inbox.take(box, ids[0]) is None


def test_an_answer_is_collected_once_and_a_missing_one_times_out(tmp_path: Path) -> None:
    box = tmp_path / "control"
    entry = inbox.post(box, b"{}")
    assert inbox.collect(box, entry, timeout_s=0.0) is None
    inbox.answer(box, entry, b'{"ok": true}')
    assert inbox.waiting(box) == [entry]  # an answer is not a command
    assert inbox.collect(box, entry, timeout_s=5.0) == b'{"ok": true}'
    assert inbox.collect(box, entry, timeout_s=0.0) is None


def test_answers_nobody_collected_are_pruned(tmp_path: Path) -> None:
    box = tmp_path / "control"
    old, new = inbox.post(box, b"a"), inbox.post(box, b"b")
    inbox.answer(box, old, b"1")
    inbox.answer(box, new, b"2")
    hour_ago = time.time() - 3600
    os.utime(box / f"{old}{inbox.REPLY_SUFFIX}", (hour_ago, hour_ago))
    assert inbox.prune_answers(box, older_than_s=600) == 1
    assert inbox.collect(box, new, timeout_s=0.0) == b"2"
    assert inbox.prune_answers(tmp_path / "absent", older_than_s=0) == 0
    assert inbox.entry_ns(old) <= inbox.entry_ns(new) <= time.time_ns()
