"""Errors grouped by what the operator has to do about them.

The tree is small on purpose; every error carries a one-line message that names
the problem *and* the fix, because that line is all a CLI user sees::

    HeronError                      base of everything heron raises on purpose
    ├── RetryableError              a venue or the network failed for now -> retry later (exit 1)
    │   ├── VenueUnavailable        still failing after heron's own bounded retries
    │   └── ResponseLost            a request's reply never came: its outcome is unknown
    ├── InputError                  the user gave us something we cannot use -> fix input (exit 2)
    │   ├── VenueRejected           the venue refused a request (bad key, balance, size ...)
    │   ├── DataError               a data file is missing, malformed, unsorted, has NaNs ...
    │   ├── InvalidConfiguration    unknown / impossible parameters, bad TOML, bad flag values
    │   ├── JournalError            a journal is corrupt, truncated, foreign or too new
    │   ├── RunNotFound             no managed run (``heron serve``) has that id
    │   └── RunConflict             the run's status does not allow that (started twice ...)
    └── EngineError                 heron itself broke an invariant -> a bug, report it (exit 3)
        └── InvalidStateTransition  an order event arrived that its state does not allow

Order rejections are *not* exceptions: inside the event loop a bad order becomes an
``OrderRejected`` event with a reason, so one bad order never stops a run.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3


class HeronError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_FAILURE


class RetryableError(HeronError):
    """Something outside heron failed and may succeed later; nothing is wrong with the input."""

    exit_code = EXIT_FAILURE


class VenueUnavailable(RetryableError):
    """A venue kept failing (network, rate limit, maintenance) after every retry; work done
    so far is kept (a download's rows are in the catalog), so rerunning continues."""


class ResponseLost(RetryableError):
    """A request reached (or may have reached) the venue but its reply was lost: a
    timeout or a cut connection. For an order placement the order may exist, so the
    caller must look it up by client order id before any retry."""


class InputError(HeronError):
    """Bad input from the user: the message says what is wrong and how to fix it."""

    exit_code = EXIT_INPUT


class VenueRejected(InputError):
    """The venue refused a request. ``code`` is the venue's own error code (``""`` when
    it gives none), ``kind`` heron's class of it (:class:`heron.venues.errors.Refusal`)."""

    def __init__(self, message: str, *, venue: str, code: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.venue = venue
        self.code = code
        self.kind = kind


class DataError(InputError):
    """A market-data file cannot be used as it is."""


class InvalidConfiguration(InputError):
    """A strategy, parameter, flag or config-file value is unknown or impossible."""


class JournalError(InputError):
    """A journal file is corrupt, truncated, not a heron journal, or of an unknown schema."""


class RunNotFound(InputError):
    """No run in the server's registry has the given id (the API answers 404)."""


class RunConflict(InputError):
    """A managed run cannot do that in its current status: started twice, stopped when
    not running (the API answers 409)."""


class EngineError(HeronError):
    """An internal invariant failed: a bug in heron, never the user's fault."""

    exit_code = EXIT_INTERNAL


class InvalidStateTransition(EngineError):
    """An order event is not allowed from the order's current status."""
