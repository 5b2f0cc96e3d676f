"""The catalog's files: where a series lives, how a partition is replaced, how it is read.

A partition (one UTC day of one kind of one instrument) is one Parquet file named
``part-<sha256 of its bytes>.parquet``, its rows deduplicated and in one total order,
so the same rows always make the same file. Replacing it is two-phase, so that an exception
anywhere in an import leaves the catalog as it was:

1. *stage*: merge the new rows with the partition, and write the result to a hidden
   ``.part-<hash>.parquet.staged`` file beside it (atomic and fsynced, so a crash
   leaves at most a hidden file that no reader lists);
2. *commit*, once every partition of the import is staged: rename each staged file to
   its final name, then delete the file it supersedes.

A crash (not an exception) between those two steps of one partition leaves two part
files in it. Rows are only ever added, so the newer file holds every row of the older
one and has more rows: readers take the part file with the most rows, and the next
write to the partition folds all of them into one. A crash within the commit phase can
leave some days of an import committed and others not; importing the same data again
completes it, because writes are idempotent. Hidden staged files left by a crash are
never read, and the next commit in their partition deletes them.

The readers here work a file at a time and use the footers' ``ts_event`` statistics to
skip row groups, so listing, batching and the gap scan stay within one file's memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, unquote

import polars as pl
import pyarrow.parquet as pq

from heron.core.files import fsync_directory, write_bytes_atomic
from heron.data.schemas import KindSchema
from heron.errors import DataError, InvalidConfiguration

NS_PER_DAY = 86_400 * 10**9
ROW_GROUP_ROWS = 131_072  # bounds what iter_batches decodes at once (a few MB)
DAY_PREFIX = "date="
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"
STAGED_SUFFIX = ".staged"
_EPOCH = date(1970, 1, 1)


# -- names -------------------------------------------------------------------------------
def dir_name(text: str, *, what: str) -> str:
    """``text`` as one safe path component, reversibly (percent-encoding).

    Letters, digits and ``_.-~`` are kept, so common symbols read as themselves; ``/``,
    ``:``, spaces and the like become ``%XX``. A leading dot is encoded too, so no name
    is hidden, ``.`` or ``..``.
    """
    if not text:
        raise InvalidConfiguration(f"empty {what}; give the instrument a {what}")
    name = quote(text, safe="")
    return "%2E" + name[1:] if name.startswith(".") else name


def from_dir_name(name: str) -> str:
    """The venue or symbol that :func:`dir_name` encoded as ``name``."""
    return unquote(name)


def day_of(ts_ns: int) -> date:
    """The UTC date of a nanosecond timestamp."""
    return _EPOCH + timedelta(days=ts_ns // NS_PER_DAY)


def day_dir_name(day: date) -> str:
    return f"{DAY_PREFIX}{day.isoformat()}"


def _parse_day(name: str) -> date | None:
    if not name.startswith(DAY_PREFIX):
        return None
    try:
        return date.fromisoformat(name.removeprefix(DAY_PREFIX))
    except ValueError:
        return None


# -- listing -----------------------------------------------------------------------------
def partition_dirs(kind_dir: Path, first: date | None = None,
                   last: date | None = None) -> list[tuple[date, Path]]:
    """The day partitions of a series between ``first`` and ``last`` (inclusive), by date.

    Decided from directory names alone: no file of a day outside the range is opened.
    """
    if not kind_dir.is_dir():
        return []
    days = []
    for entry in kind_dir.iterdir():
        day = _parse_day(entry.name)
        if day is None or not entry.is_dir():
            continue
        if (first is None or day >= first) and (last is None or day <= last):
            days.append((day, entry))
    return sorted(days)


def part_files(partition: Path) -> list[Path]:
    """Every visible part file of a partition: one, or more after an interrupted write."""
    return sorted(partition.glob(f"{PART_PREFIX}*{PART_SUFFIX}"))


def current_file(partition: Path) -> Path | None:
    """The part file that holds the partition: the one with the most rows (see module)."""
    files = part_files(partition)
    if len(files) <= 1:
        return files[0] if files else None
    return max(files, key=row_count)


def row_count(path: Path) -> int:
    """Rows in a Parquet file, from its footer."""
    return int(pq.read_metadata(path).num_rows)


def ts_bounds(path: Path) -> tuple[int, int]:
    """Smallest and largest ``ts_event`` in a file, from the footer's statistics.

    Reads the column only if a row group lacks statistics (heron always writes them).
    """
    meta = pq.read_metadata(path)
    index = meta.schema.to_arrow_schema().get_field_index("ts_event")
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            column = pl.read_parquet(path, columns=["ts_event"])["ts_event"]
            return int(column.min()), int(column.max())  # type: ignore[arg-type]
        lows.append(int(stats.min))
        highs.append(int(stats.max))
    return min(lows), max(highs)


def read_partition(spec: KindSchema, files: list[Path]) -> pl.DataFrame:
    """All rows of a partition's part files, in the kind's schema (empty if none)."""
    if not files:
        return pl.DataFrame(schema=spec.schema)
    frames = []
    for path in files:
        try:
            frame = pl.read_parquet(path, hive_partitioning=False)
        except (OSError, pl.exceptions.PolarsError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"{path}: cannot read this partition ({reason}); restore it "
                            "from a backup, or delete it and import that day again") from None
        if frame.schema != spec.schema:
            raise DataError(f"{path}: columns {dict(frame.schema)} are not the {spec.kind} "
                            "schema of this heron version; re-import the data into a new "
                            "catalog")
        frames.append(frame)
    return frames[0] if len(frames) == 1 else pl.concat(frames).unique()


# -- writing -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StagedPartition:
    """A partition ready to commit: ``staged`` becomes ``final``, ``obsolete`` go.

    ``staged`` is ``None`` when the content is already on disk as ``final``.
    """

    final: Path
    staged: Path | None
    obsolete: tuple[Path, ...]
    rows_added: int
    rows_skipped: int


def split_days(data: pl.DataFrame) -> Iterator[tuple[date, pl.DataFrame]]:
    """The rows of each UTC day of ``ts_event``, days in order."""
    day = (pl.col("ts_event") // NS_PER_DAY).alias("__day")
    parts = data.with_columns(day).partition_by("__day", as_dict=True, include_key=False)
    by_day = {cast(int, key[0]): rows for key, rows in parts.items()}
    for number in sorted(by_day):
        yield _EPOCH + timedelta(days=number), by_day[number]


def encode(frame: pl.DataFrame) -> bytes:
    """Parquet bytes of a frame: zstd, statistics for pruning, bounded row groups."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True,
                        row_group_size=ROW_GROUP_ROWS)
    return buffer.getvalue()


def stage_partition(spec: KindSchema, partition: Path, rows: pl.DataFrame) -> StagedPartition:
    """Merge ``rows`` into a partition's content and write it, hidden, beside the partition.

    Deduplicates on the whole row; the merged rows are sorted in the kind's total
    order so that the same set of rows always gives the same bytes and file name.
    Nothing visible changes until :func:`commit`.
    """
    existing_files = part_files(partition)
    existing = read_partition(spec, existing_files)
    merged = pl.concat([existing, rows]).unique().sort(spec.order)
    added = merged.height - existing.height
    skipped = rows.height - added
    if added == 0 and len(existing_files) == 1:
        return StagedPartition(existing_files[0], None, (), 0, skipped)
    data = encode(merged)
    final = partition / f"{PART_PREFIX}{hashlib.sha256(data).hexdigest()[:32]}{PART_SUFFIX}"
    obsolete = tuple(path for path in existing_files if path != final)
    if final.exists():
        return StagedPartition(final, None, obsolete, added, skipped)
    staged = final.with_name(f".{final.name}{STAGED_SUFFIX}")
    write_bytes_atomic(staged, data)
    return StagedPartition(final, staged, obsolete, added, skipped)


def commit(staged: StagedPartition) -> None:
    """Make a staged partition the partition: rename it in, then drop what it replaces."""
    if staged.staged is not None:
        os.replace(staged.staged, staged.final)
    for path in staged.obsolete:
        path.unlink(missing_ok=True)
    for leftover in staged.final.parent.glob(f".{PART_PREFIX}*{STAGED_SUFFIX}"):
        leftover.unlink(missing_ok=True)  # from an import killed before its commit
    fsync_directory(staged.final.parent)


def discard(staged: StagedPartition) -> None:
    """Forget a staged partition after a failed import; the partition stays as it was."""
    if staged.staged is not None:
        staged.staged.unlink(missing_ok=True)


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; return the ones created, outermost first."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
    return list(reversed(missing))


def remove_dirs(created: list[Path]) -> None:
    """Undo :func:`make_dirs` after a failed import (innermost first; only if empty)."""
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


# -- reading -----------------------------------------------------------------------------
def file_chunks(path: Path, start_ns: int | None, end_ns: int | None,
                 batch_rows: int) -> Iterator[pl.DataFrame]:
    """A file's rows in ``[start_ns, end_ns)``, read in record batches of ``batch_rows``."""
    parquet = pq.ParquetFile(path)
    groups = _row_groups(parquet.metadata, start_ns, end_ns)
    if not groups:
        return
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=groups):
        chunk = pl.DataFrame(pl.from_arrow(batch))
        if start_ns is not None:
            chunk = chunk.filter(pl.col("ts_event") >= start_ns)
        if end_ns is not None:
            chunk = chunk.filter(pl.col("ts_event") < end_ns)
        if chunk.height:
            yield chunk


def _row_groups(meta: Any, start_ns: int | None, end_ns: int | None) -> list[int]:
    """Row groups whose ``ts_event`` statistics overlap ``[start_ns, end_ns)``."""
    index = meta.schema.to_arrow_schema().get_field_index("ts_event")
    chosen = []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(index).statistics
        if stats is not None and stats.has_min_max and (
            (start_ns is not None and stats.max < start_ns)
            or (end_ns is not None and stats.min >= end_ns)
        ):
            continue
        chosen.append(group)
    return chosen


def bar_interval(files: list[Path]) -> int:
    """The one bar length of a series; several lengths need an explicit choice."""
    if not files:
        return 1  # no bars, no gaps: any positive interval will do
    lengths = pl.scan_parquet(files, hive_partitioning=False).select(
        pl.col("interval_ns").unique().sort()).collect()["interval_ns"].to_list()
    if len(lengths) > 1:
        raise InvalidConfiguration(f"bars of several lengths {lengths} (ns); pass "
                                   "expected_interval_ns to pick one")
    return int(lengths[0])


def find_gaps(files: list[Path], bars_of: int | None, interval: int,
              start_ns: int | None, end_ns: int | None) -> list[tuple[int, int]]:
    """``(last before, first after)`` of each step longer than ``interval`` between
    consecutive timestamps (of the bars of length ``bars_of`` if given), reading one
    file's ``ts_event`` column at a time."""
    gaps: list[tuple[int, int]] = []
    previous: int | None = None
    for path in files:
        ts = _timestamps(path, bars_of, start_ns, end_ns)
        if ts.is_empty():
            continue
        if previous is not None:
            ts = pl.concat([pl.Series("ts_event", [previous], dtype=pl.Int64), ts])
        holes = pl.DataFrame({"end": ts, "step": ts.diff()}).filter(pl.col("step") > interval)
        gaps.extend((end - step, end) for end, step in holes.iter_rows())
        previous = int(ts[-1])
    return gaps


def _timestamps(path: Path, bars_of: int | None, start_ns: int | None,
                end_ns: int | None) -> pl.Series:
    """``ts_event`` of one file in range (of the bars of one length), reading that column."""
    frame = pl.scan_parquet(path, hive_partitioning=False)
    if bars_of is not None:
        frame = frame.filter(pl.col("interval_ns") == bars_of)
    if start_ns is not None:
        frame = frame.filter(pl.col("ts_event") >= start_ns)
    if end_ns is not None:
        frame = frame.filter(pl.col("ts_event") < end_ns)
    return frame.select("ts_event").collect()["ts_event"]
