"""API credentials for the live venues, and keeping them out of every line heron writes.

Where keys come from: environment variables, or a key file (TOML or JSON) that only its
owner can read. Nothing else: no command-line flag (it would sit in the shell history
and in ``ps``), no config file that may be committed. Environment variables per venue
(the ``--venue`` id upper-cased)::

    HERON_<VENUE>_API_KEY, HERON_<VENUE>_API_SECRET    every venue but Hyperliquid
    HERON_OKX_PASSPHRASE                               OKX's third part
    HERON_HYPERLIQUID_WALLET, HERON_HYPERLIQUID_PRIVATE_KEY
    APCA_API_KEY_ID, APCA_API_SECRET_KEY               Alpaca's own names, read when the
                                                       HERON_ALPACA_* ones are unset

A key file holds ``api_key``, ``api_secret``, ``passphrase``, ``wallet``, ``private_key``
at its top level, or in a table named after the venue (one file for several venues).
It must be a regular file (no symlink), owned by the user, with no group or other
permission bits (``chmod 600``), else it is refused before it is read. When a key file
is given and variables for the venue are set too, the key file wins (it was asked for
explicitly) and a warning names the ignored variables.

Redaction: every secret loaded here -- and, once :func:`install_redaction` has run, every
secret found in the environment -- is registered; :class:`RedactSecrets` replaces it
(raw and URL-encoded) and any HMAC ``signature=`` query value with ``***`` in log
records, and :func:`scrub` does the same for an error's text before the CLI prints it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from heron.errors import InputError, InvalidConfiguration

__all__ = ["MASK", "SECRETS", "Credentials", "RedactSecrets", "SecretRegistry",
           "install_redaction", "load_credentials", "scrub"]

MASK = "***"
LIVE_VENUES = ("binanceusdm", "okx", "bybit", "hyperliquid", "mexc", "alpaca")
_FIELDS = ("api_key", "api_secret", "passphrase", "wallet", "private_key")
_SECRET_FIELDS = ("api_key", "api_secret", "passphrase", "private_key")  # wallet is public
_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "okx": ("api_key", "api_secret", "passphrase"),
    "hyperliquid": ("wallet", "private_key"),
}
_ALPACA_NAMES = {"api_key": "APCA_API_KEY_ID", "api_secret": "APCA_API_SECRET_KEY"}
_SECRET_VARIABLE = re.compile(r"^(HERON_[A-Z0-9_]+_(API_KEY|API_SECRET|SECRET|PASSPHRASE|"
                              r"PRIVATE_KEY)|APCA_API_KEY_ID|APCA_API_SECRET_KEY)$")
_SIGNATURE = re.compile(r"(?i)(signature=)[^&\s'\"#]+")
_MIN_SECRET = 4  # shorter values would blank ordinary words; no venue issues such keys

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Credentials:
    """One venue's keys; ``repr``/``str`` show which parts are present, never their values."""

    venue: str
    source: str  # "environment (NAME, ...)" or "key file PATH": says where to fix them
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    wallet: str | None = None  # an address, public by nature
    private_key: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        parts = [f"venue={self.venue!r}", f"source={self.source!r}"]
        parts += [f"{name}={MASK}" for name in _SECRET_FIELDS if getattr(self, name)]
        if self.wallet:
            parts.append(f"wallet={self.wallet!r}")
        return f"Credentials({', '.join(parts)})"

    __str__ = __repr__

    def ccxt_config(self) -> dict[str, str]:
        """The keys under ccxt's names, for ``getattr(ccxt, venue)(config)``."""
        names = {"api_key": "apiKey", "api_secret": "secret", "passphrase": "password",
                 "wallet": "walletAddress", "private_key": "privateKey"}
        return {names[k]: v for k in _FIELDS if (v := getattr(self, k))}


class SecretRegistry:
    """The values to redact, and one compiled pattern over all of their spellings."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        """Redact ``value`` from now on (raw and URL-encoded); short or empty ones are skipped."""
        if not value or len(value) < _MIN_SECRET:
            return
        with self._lock:
            self._values |= {value, quote(value, safe=""), quote_plus(value)}
            longest_first = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(map(re.escape, longest_first)))

    def scrub(self, text: str) -> str:
        """``text`` with every registered value and ``signature=`` query value masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return _SIGNATURE.sub(rf"\g<1>{MASK}", text)


SECRETS = SecretRegistry()
"""The process-wide registry: what :func:`load_credentials` loads is added here."""


def scrub(text: str) -> str:
    """``text`` without any secret registered in :data:`SECRETS` (for error messages)."""
    return SECRETS.scrub(text)


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's formatted message, exception and stack text.

    The message is formatted here (``msg % args``) and the result stored with the args
    cleared, so a secret passed as an argument is caught as well as one in the text.
    """

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.registry.scrub(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # a formatter uses exc_text as it is when it is set
            record.exc_text = self.registry.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.registry.scrub(record.stack_info)
        return True


_installed: list[RedactSecrets] = []


def install_redaction(environ: Mapping[str, str] | None = None) -> RedactSecrets:
    """Register the secrets found in the environment and redact every log record.

    A filter on the root logger would not see records propagated from other loggers
    (Python runs only the emitting logger's filters), and a filter on its handlers
    would miss handlers added later; so the filter runs in the log-record factory,
    which every record of every logger passes through. Idempotent.
    """
    env = os.environ if environ is None else environ
    for name, value in env.items():
        if _SECRET_VARIABLE.match(name):
            SECRETS.add(value)
    if _installed:
        return _installed[0]
    redact = RedactSecrets(SECRETS)
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redact.filter(record)
        return record

    logging.setLogRecordFactory(redacted_record)
    _installed.append(redact)
    return redact


def load_credentials(venue: str, *, key_file: Path | None,
                     environ: Mapping[str, str] | None = None) -> Credentials:
    """The venue's keys from ``key_file`` when given, else from the environment.

    Every secret part is registered for redaction before this returns. Missing parts,
    an unreadable or too-open key file, are an :class:`~heron.errors.InputError` naming
    what to set or the ``chmod`` to run; no message ever quotes a value.
    """
    if venue not in LIVE_VENUES:
        raise InvalidConfiguration(f"unknown venue {venue!r}; use one of "
                                   f"{', '.join(LIVE_VENUES)}")
    env = os.environ if environ is None else environ
    from_env = {f: (n, env[n]) for f in _FIELDS if (n := _variable(venue, f, env)) in env}
    for _, value in from_env.values():
        SECRETS.add(value)
    if key_file is not None:
        values, source = _read_key_file(key_file, venue), f"key file {key_file}"
        if from_env:
            log.warning("%s: the key file %s wins; ignoring %s", venue, key_file,
                        ", ".join(n for n, _ in from_env.values()))
    else:
        values = {f: v for f, (_, v) in from_env.items()}
        source = f"environment ({', '.join(n for n, _ in from_env.values())})"
    for name in _SECRET_FIELDS:
        SECRETS.add(values.get(name))
    missing = [f for f in _REQUIRED.get(venue, ("api_key", "api_secret")) if not values.get(f)]
    if missing:
        where = (f"add {', '.join(missing)} to {key_file}" if key_file is not None else
                 f"set {' and '.join(_variable(venue, f, {}) for f in missing)} "
                 "or pass --key-file")
        raise InputError(f"no {venue} {' / '.join(missing)}: {where}")
    return Credentials(venue=venue, source=source, **values)


def _variable(venue: str, name: str, env: Mapping[str, str]) -> str:
    """The variable that holds ``name`` for ``venue``: Alpaca's own when heron's is unset."""
    heron_name = f"HERON_{venue.upper()}_{name.upper()}"
    if venue == "alpaca" and name in _ALPACA_NAMES and heron_name not in env:
        return _ALPACA_NAMES[name]
    return heron_name


def _read_key_file(path: Path, venue: str) -> dict[str, str]:
    """The key file's fields for ``venue``, after checking who may read the file."""
    if path.suffix not in (".toml", ".json"):
        raise InputError(f"key file {path}: name it .toml or .json so heron knows its format")
    try:  # open first, then check the open file: no window to swap the file in between
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise InputError(f"key file {path} does not exist; create it (chmod 600) or set "
                         f"the HERON_{venue.upper()}_* variables") from None
    except OSError as exc:
        raise InputError(f"cannot open key file {path} ({exc.strerror}); it must be a "
                         "regular file, not a symlink, readable by you") from None
    with os.fdopen(fd, "rb") as handle:
        _check_private(path, os.fstat(handle.fileno()))
        raw = handle.read()
    try:
        text = raw.decode()
        doc = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError):
        # the parser's message may quote the line, and the line may hold a secret
        raise InputError(f"key file {path} is not valid {path.suffix[1:].upper()}") from None
    return _fields(doc, path, venue)


def _check_private(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"key file {path} is not a regular file; point --key-file at one")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise InputError(f"key file {path} belongs to another user; copy it to a file of "
                         f"your own and run chmod 600 on it")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise InputError(f"key file {path} can be read by others (mode {mode:04o}); run "
                         f"chmod 600 {path}")


def _fields(doc: Any, path: Path, venue: str) -> dict[str, str]:
    if isinstance(doc, dict) and isinstance(doc.get(venue), dict):
        doc = doc[venue]
    if not isinstance(doc, dict):
        raise InputError(f"key file {path} must hold a table of {', '.join(_FIELDS)}")
    other = sorted(k for k, v in doc.items() if k not in _FIELDS and not isinstance(v, dict))
    if other:  # key names only: the values are not quoted
        raise InputError(f"key file {path} has unknown keys {', '.join(other)}; use "
                         f"{', '.join(_FIELDS)}")
    values = {k: v for k, v in doc.items() if k in _FIELDS}
    if not all(isinstance(v, str) for v in values.values()):
        raise InputError(f"key file {path}: every key must be a string")
    return values
