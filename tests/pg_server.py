"""A throwaway PostgreSQL server for the tests: initdb into a temp dir, postmaster on
127.0.0.1 and a unix socket in that dir, stopped by its own PID.

Debian ships PostgreSQL under ``/usr/lib/postgresql/<major>/bin``, outside ``PATH``. The
postmaster refuses to run as root, so when the tests run as root the data directory is
handed to the ``postgres`` OS user and the server is started through ``runuser``. Where
no server can be started (no binaries, no ``postgres`` user, no ``runuser``), :func:`start`
raises :class:`PgUnavailable` with the reason, and the PostgreSQL variants of the tests
skip with that message. ``HERON_PG_URL`` names an existing server to use instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

DB_NAME = "heron_test"
_START_TIMEOUT_S = 60.0


class PgUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


@dataclass
class PgServer:
    url: str
    pid: int | None  # None: a server given by HERON_PG_URL, not ours to stop
    data_dir: Path | None
    proc: subprocess.Popen[bytes] | None = None
    log: BinaryIO | None = None


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise PgUnavailable("no PostgreSQL binaries (/usr/lib/postgresql/*/bin or PATH); "
                        "install postgresql or set HERON_PG_URL")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _as_user() -> tuple[list[str], str]:
    """The prefix that runs a command as a user the postmaster accepts, and that user."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PgUnavailable("running as root and there is no 'postgres' OS user to run "
                            "the server; set HERON_PG_URL") from None
    # a minimal PATH (cron, CI, env -i) often lacks the sbin directories runuser lives in
    runuser = shutil.which("runuser") or next(
        (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None)
    if runuser is None:
        raise PgUnavailable("running as root without runuser; set HERON_PG_URL")
    return [runuser, "-u", "postgres", "--"], "postgres"


def _run(what: str, cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PgUnavailable(f"{what} failed ({done.returncode}): {tail[0]}")


def start() -> PgServer:
    """A fresh server with an empty database ``heron_test``; raises PgUnavailable."""
    given = os.environ.get("HERON_PG_URL")
    if given:
        return PgServer(given, None, None)
    bindir = _bin_dir()
    prefix, user = _as_user()
    root = Path(tempfile.mkdtemp(prefix="heron-pg-"))
    data = root / "data"
    if prefix:
        pw = pwd.getpwnam(user)
        os.chown(root, pw.pw_uid, pw.pw_gid)
    _run("initdb", [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
          "--no-sync", "-E", "UTF8", "--locale=C"])
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(
        [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
         "-h", "127.0.0.1", "-k", str(root), "-c", "fsync=off",
         "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = PgServer(f"postgresql://{user}@127.0.0.1:{port}/{DB_NAME}", proc.pid, root,
                      proc, log)
    try:
        _wait_ready(proc, port, root)
        _run("createdb", [*prefix, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
              "-U", user, DB_NAME])
    except BaseException:
        stop(server)
        raise
    return server


def _wait_ready(proc: subprocess.Popen[bytes], port: int, root: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = (root / "server.log").read_text(errors="replace").strip().splitlines()
            raise PgUnavailable(f"postgres exited ({proc.returncode}): "
                                f"{text[-1] if text else 'no output'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise PgUnavailable(f"postgres did not listen on 127.0.0.1:{port} within "
                        f"{_START_TIMEOUT_S:.0f} s")


def stop(server: PgServer) -> None:
    """Stop our server (fast shutdown by its PID) and remove its files."""
    if server.pid is None:
        return
    # the postmaster is runuser's child in the session started for it: signal the group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGINT)  # fast shutdown
    if server.proc is not None:
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.proc.wait()
    if server.log is not None:
        server.log.close()
    if server.data_dir is not None:
        shutil.rmtree(server.data_dir, ignore_errors=True)


@contextlib.contextmanager
def running() -> Iterator[PgServer]:
    server = start()
    try:
        yield server
    finally:
        stop(server)
