"""Atomic writes leave either the old file or the whole new one, and no litter."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from heron.core.files import write_bytes_atomic, write_text_atomic


def test_write_bytes_atomic_new_file_has_exact_bytes_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    payload = bytes(range(256)) * 1000

    write_bytes_atomic(target, payload)

    assert target.read_bytes() == payload
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_write_bytes_atomic_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old content that is longer than the new one")

    write_bytes_atomic(str(target), b"{}")

    assert target.read_bytes() == b"{}"


def test_write_text_atomic_keeps_newlines_and_encoding(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"

    write_text_atomic(target, "ünïcode\nline\r\n")

    assert target.read_bytes() == "ünïcode\nline\r\n".encode()


def test_write_bytes_atomic_failure_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "journal.json"
    target.write_bytes(b"previous")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_bytes_atomic(target, b"new data that never lands")

    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]


def test_write_bytes_atomic_failure_on_new_path_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_replace(src: object, dst: object) -> None:
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_bytes_atomic(tmp_path / "new.html", b"<html></html>")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="umask semantics are POSIX")
def test_write_bytes_atomic_new_file_respects_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_bytes_atomic(tmp_path / "f", b"x")
    finally:
        os.umask(old)

    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o640


def test_write_bytes_atomic_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_bytes_atomic(tmp_path / "nope" / "f.json", b"{}")
