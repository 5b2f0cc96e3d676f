"""Where ``ml_signal`` keeps the model of each walk-forward fold: versioned files and a manifest.

One folder per run, ``MODEL_DIR/<strategy id>_<symbol>_<first bar>_<params hash>``, holds

* one file per fitted fold, ``fold0003_20220104T0000Z_20220105T0000Z_<hash>.joblib``
  (``.pt`` for PyTorch): the fold index, the first and last bar of its training window
  (UTC), and 12 hex digits of a SHA-256 over the parameters, the instrument, the window and
  the training rows themselves, so a name changes when anything that shaped the model does;
* ``manifest.json``: the parameters, the feature names, the library versions, and per fold
  its file, window, the bar it was fitted at, its row counts and the file's SHA-256.

Files are written whole or not at all (:mod:`heron.core.files`), the manifest after the
model file it names, so a reader never finds a manifest pointing at a missing model. Nothing
in them depends on the wall clock: the same run writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.core.files import write_bytes_atomic, write_text_atomic

MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class FoldRecord:
    """One fitted fold, as the manifest lists it."""

    fold: int
    file: str
    train_start: str
    train_end: str
    fitted_at: str
    rows: int
    positives: int
    sha256: str


def stamp(ts: int | None) -> str:
    """A bar time (ns) as a compact UTC name part; ``na`` where it is not known (bars of a
    live run's warm-up history reach no hook)."""
    if ts is None:
        return "na"
    return datetime.fromtimestamp(ts / 1e9, UTC).strftime("%Y%m%dT%H%MZ")


def params_hash(params: dict[str, Any]) -> str:
    """A short, stable hash of parameter values (their text, keys sorted)."""
    text = json.dumps({k: str(v) for k, v in sorted(params.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class ModelStore:
    """The model folder of one run; ``save`` adds a fold and rewrites the manifest."""

    def __init__(self, folder: Path, header: dict[str, Any]) -> None:
        self.folder = folder
        self.header = header
        self.folds: list[FoldRecord] = []

    @classmethod
    def for_run(cls, root: str, *, strategy_id: str, symbol: str, first_ts: int,
                params: dict[str, Any], header: dict[str, Any]) -> ModelStore:
        safe = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in f"{symbol}")
        name = f"{strategy_id}_{safe}_{stamp(first_ts)}_{params_hash(params)}"
        return cls(Path(root) / name, header)

    def save(self, fold: int, model_bytes: bytes, suffix: str, *, window: tuple[str, str],
             fitted_at: str, content: bytes, rows: int, positives: int) -> FoldRecord:
        """Write the fold's model file, then the manifest that lists it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(json.dumps(self.header["params"], sort_keys=True).encode())
        digest.update(content)
        name = f"fold{fold:04d}_{window[0]}_{window[1]}_{digest.hexdigest()[:12]}{suffix}"
        write_bytes_atomic(self.folder / name, model_bytes)
        record = FoldRecord(fold, name, window[0], window[1], fitted_at, rows, positives,
                            hashlib.sha256(model_bytes).hexdigest())
        self.folds.append(record)
        manifest = {**self.header, "folds": [asdict(f) for f in self.folds]}
        write_text_atomic(self.folder / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        return record


def training_content(instrument: str, window: tuple[str, str], x: NDArray[np.float64],
                     y: NDArray[np.float64]) -> bytes:
    """The bytes a fold's hash covers besides the parameters: the instrument, the window
    and the training rows (features and labels) exactly."""
    head = f"{instrument}|{window[0]}|{window[1]}|{x.shape}".encode()
    return head + np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()
