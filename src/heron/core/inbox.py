"""A directory of commands for a running process, taken in the order they were posted.

Another process (``heron kill``, the API server) talks to a running paper or live run
through its state directory, because the run owns no socket and must never block on
one. One file per command, not one shared file: two commands posted back to back to
one file would lose the first. So a command is a file named
``<ns>-<8 hex>.json`` (wall-clock ns, zero-padded: names sort in arrival order; the
random part keeps two senders in the same ns apart), written atomically so the run
never reads half of one. The run takes every waiting file in name order, removes it,
acts on it, and writes the answer beside it as ``<id>.reply.json`` (atomically too),
which the sender polls for and removes. Answers nobody collected are pruned.

This module moves bytes; what a command means is the caller's (heron.node.control).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path

from heron.core.files import write_bytes_atomic

REPLY_SUFFIX = ".reply.json"
_ENTRY_SUFFIX = ".json"
_POLL_S = 0.005


def post(directory: Path, body: bytes) -> str:
    """Add ``body`` as the newest command in ``directory``; returns its id."""
    directory.mkdir(parents=True, exist_ok=True)
    entry_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
    write_bytes_atomic(directory / f"{entry_id}{_ENTRY_SUFFIX}", body)
    return entry_id


def entry_ns(entry_id: str) -> int:
    """When the command was posted (wall-clock ns), read from its id."""
    head = entry_id.partition("-")[0]
    return int(head) if head.isdigit() else 0


def waiting(directory: Path) -> list[str]:
    """Ids of the commands not yet taken, oldest first."""
    try:
        names = [p.name for p in directory.iterdir()]
    except FileNotFoundError:
        return []
    return sorted(n[:-len(_ENTRY_SUFFIX)] for n in names
                  if n.endswith(_ENTRY_SUFFIX) and not n.endswith(REPLY_SUFFIX)
                  and not n.startswith("."))


def take(directory: Path, entry_id: str) -> bytes | None:
    """Read and remove one command (None if another reader took it first)."""
    path = directory / f"{entry_id}{_ENTRY_SUFFIX}"
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    return body


def answer(directory: Path, entry_id: str, body: bytes) -> None:
    """Write the answer to command ``entry_id`` for its sender to collect."""
    write_bytes_atomic(directory / f"{entry_id}{REPLY_SUFFIX}", body)


def collect(directory: Path, entry_id: str, timeout_s: float) -> bytes | None:
    """The answer to ``entry_id`` (removed once read), waiting up to ``timeout_s``;
    None when it has not come by then (the command may still be carried out)."""
    path = directory / f"{entry_id}{REPLY_SUFFIX}"
    deadline = time.monotonic() + max(timeout_s, 0.0)
    while True:
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(_POLL_S)
            continue
        path.unlink(missing_ok=True)
        return body


def prune_answers(directory: Path, older_than_s: float) -> int:
    """Remove answers older than ``older_than_s`` that no sender collected."""
    cutoff = time.time() - older_than_s
    removed = 0
    for path in list(directory.glob(f"*{REPLY_SUFFIX}")):  # none when it does not exist
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


__all__ = ["REPLY_SUFFIX", "answer", "collect", "entry_ns", "post", "prune_answers", "take",
           "waiting"]
