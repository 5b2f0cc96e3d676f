"""A run's journal written by another process, as a paper run writes its own: the
records of a finished journal copied into ``DST`` (in place, committed ``--per`` records
at a time with ``--pause`` seconds between commits).

``--rebuild-at N``: after N records the writer stops without sealing, renames the file
aside (``journal.prev.sqlite``) and writes a new file from record 1 to the end, as a
paper run restarted from its inputs does. ``--db URL --run ID``: into a PostgreSQL
journal database instead (committed as it goes; the API hears NOTIFY).

    python tests/api/journal_writer.py SRC DST [--per 50] [--pause 0.01] [--rebuild-at N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from heron.core.journal import JournalWriter
from heron.core.journal_store import JournalReader
from heron.model.events import Record


def write(records: list[Record], header: dict[str, object], target: str, *, per: int,
          pause: float, stop_at: int | None, run_id: str | None) -> None:
    writer = JournalWriter(target, header, in_place=True, batch_size=10**9, run_id=run_id)
    for count, record in enumerate(records, 1):
        writer.append(record)
        if count % per == 0:
            writer.flush()
            time.sleep(pause)
        if count == stop_at:
            writer.abort()  # in place: keeps what it committed, unsealed
            return
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--per", type=int, default=50)
    parser.add_argument("--pause", type=float, default=0.01)
    parser.add_argument("--rebuild-at", type=int, default=None)
    parser.add_argument("--run", default=None)
    args = parser.parse_args()
    reader = JournalReader(args.src)
    records = list(reader.records())
    if "://" not in args.dst:
        Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    write(records, reader.header, args.dst, per=args.per, pause=args.pause,
          stop_at=args.rebuild_at, run_id=args.run)
    if args.rebuild_at is not None:
        os.replace(args.dst, Path(args.dst).with_name("journal.prev.sqlite"))
        write(records, reader.header, args.dst, per=args.per, pause=args.pause,
              stop_at=None, run_id=args.run)


if __name__ == "__main__":
    main()
