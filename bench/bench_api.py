"""SSE fan-out of ``heron serve``: events/s delivered to many clients, and the latency from
a journal commit to a client.

Workload, all real processes on 127.0.0.1:

* ``heron serve`` on a fresh home holding paper runs (created, not started: their
  journals are written by this benchmark, in the place and the format a paper run's
  process writes them);
* **live**: a writer process appends journal records (real records of an sma_cross
  backtest, re-stamped with the wall clock) at each of ``--rates`` records/s (one run
  per rate), committing every ``--commit-ms`` ms and noting when each commit returned
  (SQLite, rollback journal, as heron writes it); ``--clients`` SSE clients
  (aiohttp, spread over ``--procs`` processes) follow the run's stream (``?from=end``)
  and note when each record arrived: latency = arrival - the end of the commit that
  wrote it (the server's file check every 10 ms, the read, the one encoding per record,
  the fan-out, the socket and the client's parsing; not the writer's own fsync);
* **history**: the same clients read a prepared journal of ``--history`` records from
  seq 1 (the Last-Event-ID catch-up path: chunks read and encoded once, shared).

Events/s is records delivered to all clients together over the wall time from the
first write (live) or the first request (history) to the last client's last record;
``server CPU`` is the server process's CPU time over that wall time (100% = one core).
No peer is measured: freqtrade's API pushes over WebSocket, not SSE, and NautilusTrader
has no server.

    .venv/bin/python bench/bench_api.py [--clients 50] [--procs 2]
        [--rates 1000,2000,4000] [--seconds 10] [--history 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PAPER = ('strategy = "sma_cross"\nvenue = "binanceusdm"\nsymbol = "BTC/USDT:USDT"\n'
         "[params]\nfast = 2\nslow = 3\n")
EVENT = re.compile(rb'"seq":(\d+),')
GOAL_EVENTS = 20_000
GOAL_P99_MS = 50


# -- the journals ----------------------------------------------------------------------------
def source_records(folder: Path) -> tuple[dict[str, Any], list[Any]]:
    """Header and records of a real run: the sma_cross example backtested once."""
    from heron.core.journal_store import JournalReader

    journal = folder / "source.sqlite"
    subprocess.run([sys.executable, "-m", "heron", "backtest", "examples/sma_cross.toml",
                    "--journal", str(journal), "--json", str(folder / "s.json"),
                    "--report", str(folder / "s.html"), "--quiet"], cwd=ROOT, check=True)
    reader = JournalReader(journal)
    return reader.header, list(reader.records())


def write_history(target: Path, header: dict[str, Any], records: list[Any], n: int) -> None:
    from heron.core.journal import JournalWriter

    target.parent.mkdir(parents=True, exist_ok=True)
    writer = JournalWriter(target, header, in_place=True)
    for k in range(n):
        writer.append(records[k % len(records)])
    writer.close()


def writer_main(source: Path, target: Path, rate: int, seconds: float, commit_ms: float,
                commits: Path) -> None:
    """Append ``rate * seconds`` records at ``rate``/s; ``commits``: (last seq, ns when
    the commit returned) of every commit."""
    import msgspec

    from heron.core.journal import JournalWriter
    from heron.core.journal_store import JournalReader

    reader = JournalReader(source)
    records = list(reader.records())
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = JournalWriter(target, reader.header, in_place=True, batch_size=10**9)
    total = int(rate * seconds)
    start = time.perf_counter()
    done = 0
    log: list[tuple[int, int]] = []
    while done < total:
        due = min(total, int((time.perf_counter() - start) * rate) + 1)
        now = time.time_ns()
        for k in range(done, due):
            writer.append(msgspec.structs.replace(records[k % len(records)], ts_event=now,
                                                  ts_init=now))
        done = due
        writer.flush()
        log.append((done, time.time_ns()))
        time.sleep(commit_ms / 1000)
    writer.close()
    np.save(commits, np.asarray(log, dtype=np.int64))


# -- the clients -----------------------------------------------------------------------------
async def follow(session: Any, url: str, last: int, ready: asyncio.Event,
                 arrivals: list[tuple[int, int]]) -> tuple[int, float]:
    """Read one stream until seq ``last``; (records, monotonic time of the last one)."""
    count, tail, seen = 0, b"", 0
    async with session.get(url) as response:
        ready.set()
        async for chunk in response.content.iter_any():
            now = time.time_ns()
            tail += chunk
            cut = tail.rfind(b"\n\n")
            if cut < 0:
                continue
            whole, tail = tail[:cut], tail[cut + 2:]
            for seq in EVENT.findall(whole):
                count += 1
                seen = int(seq)
                arrivals.append((seen, now))
            if seen >= last:
                break
    return count, time.monotonic()


async def clients_main(url: str, n: int, last: int, out: Path) -> None:
    import aiohttp

    arrivals: list[tuple[int, int]] = []
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        readies = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.create_task(follow(session, url, last, r, arrivals))
                 for r in readies]
        await asyncio.gather(*(r.wait() for r in readies))
        print("ready", flush=True)
        results = await asyncio.gather(*tasks)
    np.save(out.with_suffix(".npy"), np.asarray(arrivals, dtype=np.int64).reshape(-1, 2))
    out.write_text(json.dumps({"records": sum(c for c, _ in results),
                               "end": max(t for _, t in results)}))


# -- the run ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "heron", "serve", "--home", str(home),
                             "--port", str(port)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("heron serve did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(url: str, args: argparse.Namespace, last: int, folder: Path,
                name: str) -> list[tuple[subprocess.Popen[str], Path]]:
    procs = []
    per = [args.clients // args.procs + (k < args.clients % args.procs)
           for k in range(args.procs)]
    for k, n in enumerate(per):
        out = folder / f"{name}-{k}.json"
        proc = subprocess.Popen([sys.executable, __file__, "--client", url, str(n), str(last),
                                 str(out)], stdout=subprocess.PIPE, text=True)
        procs.append((proc, out))
    for proc, _ in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return procs


def collect(procs: list[tuple[subprocess.Popen[str], Path]]
            ) -> tuple[int, float, np.ndarray]:
    records, end, lats = 0, 0.0, []
    for proc, out in procs:
        if proc.wait(300) != 0:
            raise SystemExit("a client process failed")
        body = json.loads(out.read_text())
        records += body["records"]
        end = max(end, body["end"])
        lats.append(np.load(out.with_suffix(".npy")))
    return records, end, np.concatenate(lats)


def live(url: str, run_id: str, journal: Path, source: Path, rate: int,
         args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    total = int(rate * args.seconds)
    procs = run_clients(f"{url}/api/runs/{run_id}/stream?from=end", args, total, folder,
                        "live")
    start = time.monotonic()
    commits = folder / "commits.npy"
    subprocess.run([sys.executable, __file__, "--writer", str(source), str(journal),
                    str(rate), str(args.seconds), str(args.commit_ms), str(commits)],
                   check=True)
    records, end, arrivals = collect(procs)
    log = np.load(commits)
    done_at = log[np.searchsorted(log[:, 0], arrivals[:, 0]), 1]
    lat = (arrivals[:, 1] - done_at) / 1000  # us
    return {"scenario": f"live: {rate:,} records/s written", "records": records,
            "seconds": end - start, "lat": lat}


def history(url: str, run_id: str, n: int, args: argparse.Namespace,
            folder: Path) -> dict[str, Any]:
    start = time.monotonic()
    procs = run_clients(f"{url}/api/runs/{run_id}/stream", args, n, folder, "history")
    records, end, _ = collect(procs)
    return {"scenario": f"history: {n:,} records from seq 1", "records": records,
            "seconds": end - start, "lat": None}


def _verdict(row: dict[str, Any]) -> str:
    rate = row["records"] / row["seconds"]
    p99 = float(np.percentile(row["lat"], 99)) / 1000
    met = rate >= GOAL_EVENTS and p99 < GOAL_P99_MS
    return f"{row['scenario'].split(':')[1].strip()} {'met' if met else 'NOT met'}"


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = ["| scenario | clients | records delivered | seconds | events/s (all clients) "
             "| p50 ms | p99 ms | max ms | server CPU |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lat = row["lat"]
        p50, p99, top = (("-",) * 3 if lat is None else
                         tuple(f"{np.percentile(lat, q) / 1000:.1f}" for q in (50, 99, 100)))
        lines.append(f"| {row['scenario']} | {args.clients} | {row['records']:,} | "
                     f"{row['seconds']:.2f} | {row['records'] / row['seconds']:,.0f} | "
                     f"{p50} | {p99} | {top} | {row['cpu'] / row['seconds']:.0%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--rates", default="1000,2000,4000",
                        help="records/s written, one live run each (comma-separated)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--commit-ms", type=float, default=5.0)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    from heron.node.runs import RunManager

    with tempfile.TemporaryDirectory(prefix="heron-bench-api-") as tmp:
        folder = Path(tmp)
        header, records = source_records(folder)
        rates = [int(r) for r in args.rates.split(",")]
        manager = RunManager(folder / "home", root=ROOT)
        live_runs = [manager.create("paper", PAPER, name=f"live {r}").run_id for r in rates]
        past_run = manager.create("paper", PAPER, name="history").run_id
        journals = [Path(manager.journal_location(r)[0]) for r in live_runs]
        write_history(Path(manager.journal_location(past_run)[0]), header, records,
                      args.history)
        manager.close()
        server, url = start_server(folder / "home")
        try:
            rows = []
            for run, journal, rate in zip(live_runs, journals, rates, strict=True):
                before = cpu_seconds(server.pid)
                rows.append(live(url, run, journal, folder / "source.sqlite", rate, args,
                                 folder) | {"cpu": before})
            before = cpu_seconds(server.pid)
            rows.append(history(url, past_run, args.history, args, folder) | {"cpu": before})
            for row, after in zip(rows, [r["cpu"] for r in rows[1:]]
                                  + [cpu_seconds(server.pid)], strict=True):
                row["cpu"] = after - row["cpu"]
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(30)
    print(f"\nSSE fan-out, {args.clients} clients in {args.procs} processes, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print(table(rows, args))
    print(f"\ngoal: >= {GOAL_EVENTS:,} events/s with p99 < {GOAL_P99_MS} ms: "
          + ", ".join(_verdict(row) for row in rows if row["lat"] is not None))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer_main(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]),
                    float(sys.argv[5]), float(sys.argv[6]), Path(sys.argv[7]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--client":
        asyncio.run(clients_main(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
                                 Path(sys.argv[5])))
    else:
        main()
