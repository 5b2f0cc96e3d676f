"""The models ``ml_signal`` fits in each walk-forward fold: scikit-learn or a small RNN.

A model answers one question per row: the probability that the return over the next
``horizon`` bars is up (label 1). Two families behind one interface (:class:`FoldModel`):

* scikit-learn (a core dependency): ``logistic`` (standardised features, L2 logistic
  regression, lbfgs), ``gbm`` (gradient-boosted trees) and ``forest`` (a random forest,
  one process). Each takes ``seed`` as its ``random_state``, so a fit is a pure function of
  the rows: two runs write byte-identical model files.
* PyTorch (the ``ml`` extra, CPU): ``lstm`` or ``gru`` over the last ``sequence`` feature
  rows, then a linear head. Features are standardised with the training window's mean and
  std (kept in the saved state). Training is full-batch Adam for ``epochs`` epochs with
  ``torch.manual_seed(seed)`` inside :func:`torch.random.fork_rng` (the caller's random
  state is left as it was) on one thread: CPU kernels on one thread sum in one order, so
  the weights are the same on every run.

Imports of scikit-learn and PyTorch happen at the first fit: listing strategies or running
another one never pays for them. Statistics in float64 (float32 inside PyTorch).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

SKLEARN_MODELS = ("logistic", "gbm", "forest")
TORCH_MODELS = ("lstm", "gru")
TORCH_HINT = "pip install 'heron[ml]' (PyTorch, CPU)"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What to fit: the family and its few knobs (see ``MlSignal``'s parameters)."""

    kind: str = "logistic"
    seed: int = 0
    c: float = 1.0          # logistic: inverse regularisation strength
    trees: int = 100        # gbm, forest
    depth: int = 3          # gbm, forest
    sequence: int = 16      # lstm, gru: rows per input sequence
    hidden: int = 16        # lstm, gru: hidden units
    epochs: int = 20        # lstm, gru
    learning_rate: float = 0.01

    @property
    def lookback(self) -> int:
        """Rows before a row that its prediction reads (the sequence, for an RNN)."""
        return self.sequence - 1 if self.kind in TORCH_MODELS else 0


class FoldModel(Protocol):
    """A fitted model: probabilities of "up" for rows, and its bytes for the model file."""

    suffix: str

    def predict_up(self, features: FloatArray, rows: IntArray) -> FloatArray:
        """P(up) for each of ``rows`` of ``features``; NaN where its input has a gap."""
        ...

    def to_bytes(self) -> bytes: ...


def fit_model(spec: ModelSpec, features: FloatArray, labels: FloatArray,
              rows: IntArray) -> FoldModel:
    """Fit ``spec`` on ``rows`` (each with full features, for an RNN its whole sequence,
    and a 0/1 label)."""
    if spec.kind in TORCH_MODELS:
        return TorchModel.fit(spec, features, labels, rows)
    return SklearnModel.fit(spec, features, labels, rows)


def sequence_rows(features: FloatArray, rows: IntArray, length: int) -> NDArray[np.bool_]:
    """Which of ``rows`` have ``length`` rows of full features ending at them."""
    finite = np.isfinite(features).all(axis=1).astype(np.int64)
    ok = np.concatenate(([0], np.cumsum(finite)))
    start = rows - length + 1
    full = np.zeros(len(rows), dtype=bool)
    inside = start >= 0
    full[inside] = ok[rows[inside] + 1] - ok[start[inside]] == length
    return full


class SklearnModel:
    """A scikit-learn classifier (``logistic``, ``gbm``, ``forest``) on one feature row."""

    suffix = ".joblib"

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    @classmethod
    def fit(cls, spec: ModelSpec, features: FloatArray, labels: FloatArray,
            rows: IntArray) -> SklearnModel:
        estimator = sklearn_estimator(spec)
        estimator.fit(features[rows], labels[rows].astype(np.int64))
        return cls(estimator)

    def predict_up(self, features: FloatArray, rows: IntArray) -> FloatArray:
        out = np.full(len(rows), np.nan)
        ok = np.isfinite(features[rows]).all(axis=1)
        if ok.any():
            proba = self.estimator.predict_proba(features[rows[ok]])
            up = list(self.estimator.classes_).index(1)
            out[ok] = proba[:, up]
        return out

    def to_bytes(self) -> bytes:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(self.estimator, buffer)
        return buffer.getvalue()


def sklearn_estimator(spec: ModelSpec) -> Any:
    """The unfitted estimator for ``spec.kind`` (also what a test fits by hand)."""
    if spec.kind == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(
            C=spec.c, max_iter=1000, random_state=spec.seed))
    if spec.kind == "gbm":
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(n_estimators=spec.trees, max_depth=spec.depth,
                                          random_state=spec.seed)
    if spec.kind == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=spec.trees, max_depth=spec.depth,
                                      min_samples_leaf=5, n_jobs=1, random_state=spec.seed)
    raise ValueError(f"not a scikit-learn model: {spec.kind!r}")


class TorchModel:
    """An LSTM or GRU over the last ``sequence`` feature rows, then a linear head."""

    suffix = ".pt"

    def __init__(self, net: Any, spec: ModelSpec) -> None:
        self.net = net
        self.spec = spec

    @classmethod
    def fit(cls, spec: ModelSpec, features: FloatArray, labels: FloatArray,
            rows: IntArray) -> TorchModel:
        import torch

        mean = features[rows].mean(axis=0)
        std = features[rows].std(axis=0)
        std[std == 0] = 1.0
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(spec.seed)
                net = _build_net(spec, features.shape[1], mean, std)
                x = torch.from_numpy(_sequences(features, rows, spec.sequence))
                y = torch.from_numpy(labels[rows].astype(np.float32))
                optimiser = torch.optim.Adam(net.parameters(), lr=spec.learning_rate)
                loss_fn = torch.nn.BCEWithLogitsLoss()
                net.train()
                for _ in range(spec.epochs):
                    optimiser.zero_grad()
                    loss = loss_fn(net(x), y)
                    loss.backward()
                    optimiser.step()
                net.eval()
        finally:
            torch.set_num_threads(threads)
        return cls(net, spec)

    def predict_up(self, features: FloatArray, rows: IntArray) -> FloatArray:
        import torch

        out = np.full(len(rows), np.nan)
        ok = sequence_rows(features, rows, self.spec.sequence)
        if ok.any():
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.no_grad():
                    x = torch.from_numpy(_sequences(features, rows[ok], self.spec.sequence))
                    out[ok] = torch.sigmoid(self.net(x)).double().numpy()
            finally:
                torch.set_num_threads(threads)
        return out

    def to_bytes(self) -> bytes:
        import torch

        buffer = io.BytesIO()
        torch.save(self.net.state_dict(), buffer)
        return buffer.getvalue()


def _sequences(features: FloatArray, rows: IntArray, length: int) -> NDArray[np.float32]:
    """``(len(rows), length, n_features)``: the ``length`` rows ending at each row."""
    offsets = np.arange(-length + 1, 1)
    return np.ascontiguousarray(features[rows[:, None] + offsets[None, :]], dtype=np.float32)


def _build_net(spec: ModelSpec, n_features: int, mean: FloatArray, std: FloatArray) -> Any:
    """The network, with the standardisation as buffers so the state dict carries it."""
    import torch
    from torch import nn

    class SequenceNet(nn.Module):  # type: ignore[misc, unused-ignore]  # Any without torch
        mean: torch.Tensor
        std: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            cell = nn.LSTM if spec.kind == "lstm" else nn.GRU
            self.rnn = cell(n_features, spec.hidden, batch_first=True)
            self.head = nn.Linear(spec.hidden, 1)
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            hidden, _ = self.rnn((x - self.mean) / self.std)
            out: torch.Tensor = self.head(hidden[:, -1, :]).squeeze(-1)
            return out

    return SequenceNet()
