"""A paper run's state directory: what it is, what it consumed, what it decided.

::

    STATE/run.json        the run: strategy, parameters, venue, symbols, streams, cash,
                          bar, fees, and the instruments as the venue defined them at start
    STATE/inputs.bin      every market event the run consumed (heron.node.input_log)
    STATE/journal.sqlite  every command and event (rebuilt from the inputs at each start,
                          then appended; sealed on a clean stop)
    STATE/lock            held while a process runs the state: one run per directory

Restarting with the same directory resumes the run; the options given must match the
ones it started with (or be left out: they are read back).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar, cast

import msgspec

from heron.core.files import write_bytes_atomic
from heron.errors import InputError
from heron.model.instrument import Instrument


class PaperConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a paper run is; two starts of one state must agree on all of it."""

    strategy: str
    venue: str
    symbols: list[str]
    streams: list[str] = msgspec.field(default_factory=lambda: ["trades"])
    params: dict[str, str] = msgspec.field(default_factory=dict)
    cash: str = "10000"
    bar: str = "1m"
    fee_bps: str | None = None
    slippage_bps: str = "0"
    warmup: int = 0   # closed bars fetched from the venue's history at the first start
    risk: str | None = None  # the --risk file's text (heron.risk.config), kept for restarts


C = TypeVar("C", bound=PaperConfig)


class _Stored(msgspec.Struct, Generic[C], frozen=True):
    config: C
    instruments: list[dict[str, Any]]


class PaperState:
    """The files of one paper run; holds its lock while open."""

    #: what ``run.json`` holds (a live run's state stores a :class:`LiveConfig`)
    config_type: type[PaperConfig] = PaperConfig
    kind = "paper"

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create state directory {directory}: {exc.strerror}; "
                             "pass a writable --state") from None
        self._lock: BinaryIO = open(directory / "lock", "a+b")  # noqa: SIM115
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise InputError(f"{directory} is in use by another heron paper run; stop it "
                             "first or pass another --state") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()).encode())
        self._lock.flush()

    @property
    def inputs(self) -> Path:
        return self.dir / "inputs.bin"

    @property
    def journal(self) -> Path:
        return self.dir / "journal.sqlite"

    def stored(self) -> tuple[PaperConfig, list[Instrument]] | None:
        path = self.dir / "run.json"
        if not path.exists():
            return None
        try:
            kind = cast(Any, _Stored)[self.config_type]  # a runtime type argument
            stored = msgspec.json.decode(path.read_bytes(), type=kind)
        except msgspec.DecodeError as exc:
            raise InputError(f"{path} is not a heron {self.kind} run ({exc}); pass another "
                             "--state") from None
        return stored.config, [Instrument.from_dict(d) for d in stored.instruments]

    def save(self, config: PaperConfig, instruments: list[Instrument]) -> None:
        body = _Stored(config, [i.to_dict() for i in instruments])
        write_bytes_atomic(self.dir / "run.json", msgspec.json.format(msgspec.json.encode(body)))

    def close(self) -> None:
        if not self._lock.closed:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()


def resolve_config(given: dict[str, Any], stored: PaperConfig | None) -> PaperConfig:
    """The run's config from the options ``given`` (``None`` = not given) and the stored.

    A new state needs strategy, venue and symbols; a stored one fills what was left
    out and refuses what differs, naming the option.
    """
    chosen = {k: v for k, v in given.items() if v is not None}
    if stored is None:
        missing = [k for k in ("strategy", "venue", "symbols") if k not in chosen]
        if missing:
            raise InputError(f"a new paper run needs --{missing[0].rstrip('s')}; pass "
                             "--strategy, --venue and --symbol")
        return PaperConfig(**chosen)
    for key, given_value in chosen.items():
        old = getattr(stored, key)
        value = {**stored.params, **given_value} if key == "params" else given_value
        if value != old:
            raise InputError(f"this state was started with {key}={old!r}, not {value!r}; "
                             "leave the option out to resume, or pass another --state")
    return stored
