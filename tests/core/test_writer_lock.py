"""One writer per account and journal: the second holder is refused, naming the first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from heron.core.writer_lock import WriterLock, lock_key
from heron.errors import InputError
from journal_backend import Backend


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "journal.sqlite")
    return Backend("postgresql", tmp_path, request.getfixturevalue("pg_url")).location("lock")


def test_writer_lock_second_holder_is_refused_naming_the_first(location: str) -> None:
    with WriterLock(location, "binanceusdm:live:abc"):
        with pytest.raises(InputError) as refused:
            WriterLock(location, "binanceusdm:live:abc").acquire()
        message = str(refused.value)
        assert "another live run already writes account binanceusdm:live:abc" in message
        assert f"pid={os.getpid()}" in message and socket.gethostname() in message
        assert "stop it first" in message and "\n" not in message
        with WriterLock(location, "binanceusdm:live:other"):  # another account: free
            pass
    with WriterLock(location, "binanceusdm:live:abc"):  # released: free again
        pass


def test_writer_lock_is_held_across_processes_until_the_holder_exits(location: str) -> None:
    code = ("import sys, time; from heron.core.writer_lock import WriterLock; "
            f"lock = WriterLock({location!r}, 'okx:live:k').acquire(); "
            "print('held', flush=True); sys.stdin.readline()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(InputError, match=f"pid={child.pid}"):
            WriterLock(location, "okx:live:k").acquire()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
        if child.stdout is not None:
            child.stdout.close()
    with WriterLock(location, "okx:live:k"):  # the holder exited: the lock went with it
        pass


def test_writer_lock_key_is_a_signed_64_bit_integer() -> None:
    keys = {lock_key(f"venue:{i}") for i in range(1000)}
    assert len(keys) == 1000
    assert all(-(1 << 63) <= k < (1 << 63) for k in keys)
