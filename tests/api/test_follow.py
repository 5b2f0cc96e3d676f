"""Following journals another process writes: every record once, in order, through a
paper-style rebuild of the file; history in cached chunks; slow clients dropped; the
PostgreSQL journal announcing new rows with NOTIFY."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from api.conftest import Home
from heron.api.follow import CHUNK, Advanced, Batch, StreamHub, Subscriber
from heron.api.journal_rows import SqliteRows
from heron.core.journal import JournalWriter
from heron.core.journal_store import JournalReader
from heron.model.events import TradingStateChanged
from heron.node.replay import replay_journal

pytestmark = pytest.mark.anyio
WRITER = Path(__file__).with_name("journal_writer.py")


def _source(home: Home) -> tuple[str, int]:
    location, _ = home.manager.journal_location(home.month)
    return location, JournalReader(location).record_count


def _writer(src: str, dst: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WRITER), src, dst, *extra])


class _Client:
    """What a stream client does with its queue: every seq in order, what the queue
    skips read from the history (again, while a rebuilt journal is short)."""

    def __init__(self, hub: StreamHub, run_id: str) -> None:
        self.follower = hub.followers[run_id]
        self.seen: list[int] = []

    def extend(self, batch: Batch) -> None:
        if batch.first <= len(self.seen) + 1:
            self.seen.extend(s for s, _ in batch.records_after(len(self.seen)))

    async def fill(self, upto: int) -> None:
        while len(self.seen) < upto:
            before = len(self.seen)
            async for batch in self.follower.history(len(self.seen), upto):
                self.extend(batch)
            if len(self.seen) == before:
                await asyncio.sleep(0.05)

    async def take(self, sub: Subscriber, count: int) -> None:
        await self.fill(self.follower.last_seq)
        while len(self.seen) < count:
            for item in await sub.take():
                if isinstance(item, Advanced):
                    await self.fill(item.seq)
                elif isinstance(item, Batch):
                    await self.fill(item.first - 1)
                    self.extend(item)


async def _collect(sub: Subscriber, hub: StreamHub, run_id: str, count: int,
                   limit_s: float = 60.0) -> list[int]:
    client = _Client(hub, run_id)
    await asyncio.wait_for(client.take(sub, count), limit_s)
    return client.seen


def test_sqlite_probe_sees_commits_and_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    rows = SqliteRows(path)
    assert not rows.probe() and rows.read(0, 10) == [] and rows.header() is None
    writer = JournalWriter(path, {"kind": "paper"}, in_place=True, batch_size=10**9)
    record = TradingStateChanged(1, 1, "INIT", "READY", "start", "ready")
    writer.append(record)
    writer.flush()
    assert rows.probe() and not rows.probe()
    assert [r[0] for r in rows.read(0, 10)] == [1] and rows.last_seq() == 1
    writer.append(record)
    writer.flush()
    assert rows.probe() and [r[0] for r in rows.read(1, 10)] == [2]
    assert not rows.sealed()
    writer.close()
    assert rows.sealed()
    path.rename(tmp_path / "journal.prev.sqlite")
    again = JournalWriter(path, {"kind": "paper"}, in_place=True)
    again.append(record)
    again.flush()
    assert rows.probe() and rows.last_seq() == 1 and not rows.sealed()
    again.close()
    rows.close()


async def test_follower_hands_out_each_record_once_while_a_process_writes(
        home: Home, tmp_path: Path) -> None:
    src, count = _source(home)
    dst = tmp_path / "state" / "journal.sqlite"
    hub = StreamHub(lambda _run: (str(dst), None))
    try:
        follower = await hub.follower("live")
        assert follower.last_seq == 0
        sub = hub.subscribe({"live"})
        writer = _writer(src, str(dst), "--per", "40", "--pause", "0.005")
        seen = await _collect(sub, hub, "live", count)
        assert writer.wait(60) == 0
        assert seen == list(range(1, count + 1))
        view = await follower.get_view()
        assert view is not None
        assert view.portfolio.snapshot() == replay_journal(src).portfolio.snapshot()
    finally:
        await hub.close()


async def test_follower_reads_on_by_sequence_through_a_rebuilt_journal(
        home: Home, tmp_path: Path) -> None:
    src, count = _source(home)
    dst = tmp_path / "state" / "journal.sqlite"
    hub = StreamHub(lambda _run: (str(dst), None))
    try:
        follower = await hub.follower("rebuilt")
        view = await follower.get_view()
        assert view is None  # no journal yet
        sub = hub.subscribe({"rebuilt"})
        writer = _writer(src, str(dst), "--per", "100", "--pause", "0.01",
                         "--rebuild-at", "1500")
        seen = await _collect(sub, hub, "rebuilt", count)
        assert writer.wait(60) == 0
        assert seen == list(range(1, count + 1))
        assert (dst.parent / "journal.prev.sqlite").exists()
        view = await follower.get_view()
        assert view is not None and view.last_seq == count
        assert view.portfolio.snapshot() == replay_journal(src).portfolio.snapshot()
    finally:
        await hub.close()


async def test_history_comes_in_cached_chunks_with_the_live_frames(home: Home) -> None:
    src, count = _source(home)
    assert count > 2 * CHUNK
    hub = StreamHub(lambda _run: (src, None))
    try:
        follower = await hub.follower("done")
        assert follower.last_seq == count and follower.sealed
        batches = [b async for b in follower.history(1000, 1500)]
        assert [b.first for b in batches] == [1, CHUNK + 1]  # the chunks around it
        seqs = [s for b in batches for s, _ in b.records_after(1000) if s <= 1500]
        assert seqs == list(range(1001, 1501))
        assert batches[-1].last == 1500  # clipped at upto
        again = [b async for b in follower.history(0, count)]
        assert again[0] is batches[0]  # the complete chunk was cached
        frames = b"".join(b.frames for b in again)
        assert frames.count(b"event: record\n") == count
        assert frames.startswith(b"event: record\nid: 1\ndata: {")
        tail = again[-1]
        assert tail.frames_after(count - 1).startswith(b"event: record\nid: %d\n" % count)
        assert tail.frames_after(count) == b""
    finally:
        await hub.close()


def _batch(first: int, n: int) -> Batch:
    frames = [b"event: record\nid: %d\ndata: {}\n\n" % s for s in range(first, first + n)]
    offsets = [0]
    for frame in frames:
        offsets.append(offsets[-1] + len(frame))
    return Batch("r", first, b"".join(frames), tuple(offsets))


async def test_a_client_past_its_bound_is_dropped_and_the_others_go_on() -> None:
    slow, fast = Subscriber(10, {"r"}), Subscriber(10, {"r"})
    for first in (1, 6, 11):
        slow.push(_batch(first, 5))
        fast.push(_batch(first, 5))
        if first < 11:
            got = await fast.take()
            assert [b.first for b in got if isinstance(b, Batch)] == [first]
    assert slow.dropped and await slow.take() == []
    assert not fast.dropped
    assert [b.first for b in await fast.take() if isinstance(b, Batch)] == [11]
    slow.push(_batch(16, 1))  # nothing more reaches a dropped client
    assert await slow.take() == []


async def test_postgres_journal_notifies_and_is_followed(home: Home, pg_url: str) -> None:
    import psycopg

    src, count = _source(home)
    run_id = f"api-follow-{id(home) % 10_000}"
    hub = StreamHub(lambda _run: (pg_url, run_id))
    listener = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    try:
        await listener.execute("LISTEN heron_journal")
        sub_hub_ready = asyncio.Event()

        async def follow() -> list[int]:
            await sub_hub_ready.wait()
            follower = await hub.follower(run_id)
            sub = hub.subscribe({run_id})
            assert follower.source.kind == "postgresql"
            return await _collect(sub, hub, run_id, count)

        task = asyncio.get_running_loop().create_task(follow())
        writer = _writer(src, pg_url, "--run", run_id, "--per", "200", "--pause", "0.02")
        note = await asyncio.wait_for(anext(aiter(listener.notifies())), 30)
        assert note.channel == "heron_journal" and note.payload == run_id
        sub_hub_ready.set()
        assert await task == list(range(1, count + 1))
        assert writer.wait(60) == 0
    finally:
        await listener.close()
        await hub.close()


async def test_clients_arriving_together_share_one_follower(home: Home) -> None:
    src, count = _source(home)
    hub = StreamHub(lambda _run: (src, None))
    try:
        followers = await asyncio.gather(*(hub.follower("same") for _ in range(8)))
        assert all(f is followers[0] for f in followers)
        assert list(hub.followers) == ["same"] and followers[0].last_seq == count
    finally:
        await hub.close()
