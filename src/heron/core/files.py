"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Reports, JSON results and journal snapshots are read by people and programs while
heron may crash or be killed. Writing in place would leave a truncated file behind
that looks valid until parsed. Instead the bytes go to a temporary file in the
*same directory* (so the final rename never crosses a filesystem), are flushed and
fsynced, and the temporary file is renamed over the target with ``os.replace``,
which is atomic on POSIX and Windows. The directory is fsynced afterwards where the
platform allows it, so the rename itself survives a power cut.

A new file gets the usual ``0o666 & ~umask`` permissions (the temporary file is
created with ``os.open``, which applies the umask), not the 0600 of ``mkstemp``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["fsync_directory", "write_bytes_atomic", "write_text_atomic"]

_NEW_FILE_MODE = 0o666  # the umask is applied by os.open
# O_BINARY (Windows only) stops the C runtime from turning "\n" into "\r\n".
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` so that no reader ever sees a partial file.

    On any error (disk full, a signal turned exception) the temporary file is
    removed, the target is left as it was, and the error propagates.
    """
    target = Path(path)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_directory(target.parent)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> None:
    """Atomically replace ``path`` with ``text`` encoded as ``encoding``.

    Newlines are written exactly as given (no platform translation), so the file
    has the same bytes on every OS.
    """
    write_bytes_atomic(path, text.encode(encoding))


def _create_temp(target: Path) -> tuple[int, Path]:
    """Create a hidden, uniquely named temporary file beside ``target``.

    ``O_EXCL`` makes the name ours alone; the dot prefix keeps it out of globs
    such as ``*.html`` while it exists.
    """
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, _OPEN_FLAGS, _NEW_FILE_MODE)
        except FileExistsError:
            continue
        return fd, tmp


def fsync_directory(directory: Path) -> None:
    """Persist renames in ``directory``; skipped where directories cannot be opened
    (Windows)."""
    flags = getattr(os, "O_DIRECTORY", None)
    if flags is None:
        return
    fd = os.open(directory, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
