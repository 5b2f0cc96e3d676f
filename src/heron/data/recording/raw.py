"""Every frame a live feed receives, kept as it came, one gzip file per venue per hour.

:class:`RawCapture` is a :data:`~heron.data.feeds.session.RawSink`: the session calls it
with ``(venue, url, ts_recv, text)`` for every WebSocket frame, control frames (acks,
pongs) included. Each becomes one line ``<ts_recv ns> <text>``, the hftbacktest capture
format, so ``heron data import`` reads a recorded Binance session back through the same
parser the live feed ran (venue from the folder name). Line breaks inside a frame are
written as spaces: JSON allows them only between tokens, where a space means the same.
The URL is not kept (the format has no place for it; venues' frames name their stream).
REST responses (book snapshots, markets) do not pass through the sink and are not kept.

Files, under ``DIR/<VENUE>/`` (heron's venue name: ``BINANCE_USDM``), named by the UTC
hour of ``ts_recv``::

    .2026-11-21T07.txt.gz.open        being written (hidden: no *.txt.gz glob sees it)
    2026-11-21T07.txt.gz              closed: the hour ended, or the recorder stopped
    2026-11-21T07.1.txt.gz            a second run within the same hour
    2026-11-21T07.partial.txt.gz      recovered from a run that was killed
    2026-11-21T07.damaged.gz          a killed run's file unreadable part-way (kept as is)

A file is written under its hidden name and renamed when its hour closes (on the first
frame of a later hour, or :meth:`RawCapture.tick`) or the capture is closed; the rename
comes after the gzip end marker is written and the file fsynced. The gzip stream is
sync-flushed every ``flush_every_s`` of receive time, so a killed recorder loses at most
that much, and leaves at most one hidden file per venue: a gzip stream without its end
marker whose last line may be cut. The next :class:`RawCapture` on the directory
*recovers* such files before writing anything: it copies every complete line into a new,
whole gzip file, then deletes the left file and publishes the copy as
``*.partial.txt.gz``, which any gzip reader and ``heron data import`` read like a
closed file. Copy first, delete second, publish last: a crash during recovery leaves
either the left file (recovered again) or a finished hidden copy (published next time),
never two copies of the same lines. A left file with no complete line is deleted; one
whose gzip data is corrupt part-way (a disk fault, not a kill) gives up the lines before
the damage as ``*.partial.txt.gz`` and is kept as ``*.damaged.gz``.

The directory is locked (``DIR/.lock``) while a capture is open: a second recorder on it
would recover the first one's open files.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from heron.core.files import fsync_directory
from heron.data.catalog_store import dir_name
from heron.errors import InputError

__all__ = ["OPEN_SUFFIX", "RawCapture", "Recovered", "recover"]

log = logging.getLogger("heron.record")

NS_PER_HOUR = 3_600 * 10**9
SUFFIX = ".txt.gz"
OPEN_SUFFIX = ".txt.gz.open"
_COPY_SUFFIX = ".txt.gz.recovering"
_LEVEL = 6  # zlib's default trade-off; 9 costs twice the CPU for a few percent
_LINE_BREAKS = str.maketrans("\r\n", "  ")


def hour_stem(hour: int) -> str:
    """``2026-11-21T07`` for an hour number (ns // NS_PER_HOUR)."""
    return datetime.fromtimestamp(hour * 3_600, UTC).strftime("%Y-%m-%dT%H")


def _free_name(folder: Path, stem: str, tag: str, suffix: str = SUFFIX) -> Path:
    """The first of ``stem{tag}{suffix}``, ``stem.1{tag}{suffix}``, ... not taken."""
    n = 0
    while True:
        path = folder / f"{stem}{f'.{n}' if n else ''}{tag}{suffix}"
        if not path.exists():
            return path
        n += 1


# -- recovery -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovery did with one leftover file: ``path`` holds its ``lines`` complete
    lines (``None``: it had none); ``damage`` says why reading stopped early, and the
    original is then kept as ``damaged``."""

    left: Path
    path: Path | None
    lines: int
    damage: str = ""
    damaged: Path | None = None


def _copy_lines(source: Path, target: Path) -> tuple[int, str]:
    """Copy the complete lines of gzip ``source`` into a new gzip ``target`` (fsynced);
    the lines copied, and the damage that stopped reading ("" if it read to its end or to
    where a killed writer stopped). ``target`` is removed when no line was copied."""
    lines, damage = 0, ""
    with open(target, "wb") as raw, gzip.GzipFile(filename=target.name, mode="wb",
                                                  fileobj=raw, compresslevel=_LEVEL,
                                                  mtime=0) as out:
        try:
            with gzip.open(source, "rb") as f:
                for line in f:
                    if line.endswith(b"\n"):  # a cut last line is left out
                        out.write(line)
                        lines += 1
        except EOFError:
            pass  # no end marker: the writer was killed, everything before it is good
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            damage = str(exc) or type(exc).__name__
        out.close()
        raw.flush()
        os.fsync(raw.fileno())
    if not lines:
        target.unlink()
    return lines, damage


def recover(directory: Path) -> list[Recovered]:
    """Turn every file a killed capture left open under ``directory`` into a closed
    ``*.partial.txt.gz`` (see the module docstring)."""
    for copy in directory.glob(f"*/.*{_COPY_SUFFIX}"):  # a recovery that was itself cut
        source = copy.with_name(copy.name[:-len(_COPY_SUFFIX)] + OPEN_SUFFIX)
        if source.exists():
            copy.unlink()  # maybe incomplete: made again from the source below
        else:
            _publish(copy)  # complete: the source goes only after the copy is whole
    return [_recover_one(left) for left in sorted(directory.glob(f"*/.*{OPEN_SUFFIX}"))]


def _recover_one(left: Path) -> Recovered:
    """Copy, then drop (or set aside) the source, then publish the copy: a crash at any
    step leaves what the next :func:`recover` finishes, never a duplicate."""
    stem = left.name[1:-len(OPEN_SUFFIX)]
    copy = left.with_name(f".{stem}{_COPY_SUFFIX}")
    lines, damage = _copy_lines(left, copy)
    damaged = None
    if damage:
        damaged = _free_name(left.parent, stem, ".damaged", ".gz")
        log.warning("%s: unreadable after %d lines (%s); kept as %s", left, lines, damage,
                    damaged.name)
        os.replace(left, damaged)
    else:
        left.unlink()
    fsync_directory(left.parent)
    path = _publish(copy) if lines else None
    return Recovered(left, path, lines, damage, damaged)


def _publish(copy: Path) -> Path:
    stem = copy.name[1:-len(_COPY_SUFFIX)]
    final = _free_name(copy.parent, stem, ".partial")
    os.replace(copy, final)
    fsync_directory(copy.parent)
    return final


# -- writing ------------------------------------------------------------------------------
class _HourFile:
    """One venue's file for one hour, open under its hidden name."""

    def __init__(self, folder: Path, hour: int) -> None:
        self.folder = folder
        self.hour = hour
        self.stem = hour_stem(hour)
        self.temp = folder / f".{self.stem}{OPEN_SUFFIX}"
        if self.temp.exists():  # left by a killed run after this capture's recovery pass
            _recover_one(self.temp)
        self._file: BinaryIO = open(self.temp, "xb")  # noqa: SIM115 (closed in close())
        self._gzip = gzip.GzipFile(filename=f"{self.stem}.txt", mode="wb",
                                   fileobj=self._file, compresslevel=_LEVEL, mtime=0)
        self.flushed_ns = 0
        self.lines = 0
        self._dirty = False

    def write(self, line: bytes, ts_recv: int, flush_ns: int) -> None:
        self._gzip.write(line)
        self.lines += 1
        self._dirty = True
        if ts_recv - self.flushed_ns >= flush_ns:
            self.flush(ts_recv)

    def flush(self, ts_recv: int) -> None:
        """Sync-flush the gzip stream to the OS: a kill now loses nothing written."""
        if self._dirty:
            self._gzip.flush()
            self._dirty = False
        self.flushed_ns = ts_recv

    def close(self) -> Path:
        """End the gzip stream, fsync, and rename the file to its closed name."""
        self._gzip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = _free_name(self.folder, self.stem, "")
        os.replace(self.temp, final)
        fsync_directory(self.folder)
        return final


class RawCapture:
    """Writes every frame to ``directory`` (see the module docstring); a ``RawSink``."""

    def __init__(self, directory: str | os.PathLike[str], *, flush_every_s: float = 1.0,
                 venue_names: Mapping[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.flush_ns = int(flush_every_s * 1e9)
        if venue_names is None:
            from heron.data.download_venues import VENUES  # ccxt loads with the feeds only
            venue_names = VENUES
        self._names = venue_names
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the raw capture folder {self.directory}: "
                             f"{exc.strerror}; pass a writable --raw") from None
        self._lock = _lock(self.directory)
        self.recovered = recover(self.directory)
        self.closed: list[Path] = []
        self.frames = 0
        self._open: dict[str, _HourFile] = {}
        self._folders: dict[str, Path] = {}

    def __call__(self, venue: str, url: str, ts_recv: int, text: str) -> None:
        """Write one frame (``url`` is not kept: see the module docstring)."""
        hour = ts_recv // NS_PER_HOUR
        file = self._open.get(venue)
        if file is None or hour > file.hour:
            if file is not None:
                self.closed.append(file.close())
            file = self._open[venue] = _HourFile(self._folder(venue), hour)
        if "\n" in text or "\r" in text:
            text = text.translate(_LINE_BREAKS)
        file.write(b"%d %s\n" % (ts_recv, text.encode()), ts_recv, self.flush_ns)
        self.frames += 1

    def _folder(self, venue: str) -> Path:
        folder = self._folders.get(venue)
        if folder is None:
            name = dir_name(self._names.get(venue, venue), what="venue")
            folder = self._folders[venue] = self.directory / name
            folder.mkdir(exist_ok=True)
        return folder

    @property
    def open_files(self) -> list[Path]:
        return [file.temp for file in self._open.values()]

    def tick(self, now_ns: int | None = None) -> None:
        """Flush every open file, and close those whose hour has passed."""
        now = time.time_ns() if now_ns is None else now_ns
        for venue, file in list(self._open.items()):
            if now // NS_PER_HOUR > file.hour:
                self.closed.append(file.close())
                del self._open[venue]
            else:
                file.flush(now)

    def close(self) -> None:
        """Close every file under its final name and release the directory."""
        try:
            for file in self._open.values():
                self.closed.append(file.close())
            self._open.clear()
        finally:
            with contextlib.suppress(OSError):
                self._lock.close()

    def __enter__(self) -> RawCapture:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _lock(directory: Path) -> BinaryIO:
    """Hold ``directory/.lock`` exclusively (POSIX; elsewhere nothing is locked)."""
    handle: BinaryIO = open(directory / ".lock", "a+b")  # noqa: SIM115 (held while open)
    try:
        import fcntl
    except ImportError:
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{directory} is in use by another heron record; stop it first or "
                         "pass another --raw") from None
    return handle
