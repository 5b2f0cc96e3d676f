"""``ml_signal``: a classifier of the next ``horizon`` bars' direction, refitted walk-forward.

Features (:mod:`.ml_features`): returns over 1, 5 and ``window`` bars, RSI, the close's
z-score, realised volatility, ATR over the close, the volume's z-score, the bar's range and
the gap to an EMA, all computed from :mod:`heron.analytics.indicators` on bars up to the row's
own. Label of row ``t``: 1 when ``close[t + horizon] / close[t] - 1 > threshold``, 0 when it is
below ``-threshold``; rows in between are left out of training.

Walk-forward inside the run, one instrument:

* the first model is fitted at bar ``train + horizon - 1`` (the first bar with ``train``
  labelled rows behind it), then every ``retrain`` bars;
* a model fitted at bar ``t`` learns from rows ``t - horizon - train + 1 .. t - horizon``,
  with labels computed from the closes up to ``t`` only: the last label window ends at the
  fit bar (the purge: no training label overlaps a bar the model then predicts), and the
  model predicts the bars from ``t`` until the next fit;
* before the first fit the strategy is flat; a window with a single class (or fewer than
  20 usable rows) keeps the previous model.

Rules on each bar, with ``p`` the model's probability that the next ``horizon`` bars go up:

* flat: long when ``p > entry``; short when ``p < 1 - entry`` (``mode = "long-short"``);
* long: close when ``p <= exit``; short: close when ``p >= 1 - exit`` (``exit`` below
  ``entry``; 0.5 closes once the model no longer leans the position's way);
* a close and an opposite entry may fall on one bar; no prediction (a feature gap, no
  model yet) changes nothing. Entries are market orders for ``fraction`` of free equity
  (fees included) or a fixed ``quantity``; exits reduce-only; one order at a time.

Models (:mod:`.ml_models`): ``logistic`` (default), ``gbm`` and ``forest`` from
scikit-learn, seeded by ``seed``; ``lstm`` and ``gru`` from PyTorch (the ``ml`` extra, CPU)
over the last ``sequence`` rows. Each fitted fold is saved under ``model_dir`` with a
versioned name and a ``manifest.json`` (:mod:`.ml_store`); ``model_dir = ""`` keeps models
in memory only (parameter sweeps). A relative ``model_dir`` lies in the run's folder
(:attr:`Strategy.run_dir`: paper/live's ``--state``, a ``heron serve`` run's folder), so the
models stay with the run that fitted them; a plain backtest has no folder and uses ``out/``.

``predictions`` holds ``p`` for every bar handled (NaN where none): what was decided on.
"""

from __future__ import annotations

import importlib.util
import math
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.strategy.base import EquityFraction, Strategy
from heron.strategy.library.ml_features import (
    FEATURE_NAMES,
    feature_matrix,
    forward_labels,
    training_rows,
)
from heron.strategy.library.ml_models import (
    SKLEARN_MODELS,
    TORCH_HINT,
    TORCH_MODELS,
    FoldModel,
    ModelSpec,
    fit_model,
    sequence_rows,
)
from heron.strategy.library.ml_store import ModelStore, stamp, training_content
from heron.strategy.params import Param

MIN_ROWS = 20  # fewer usable rows than this in a window: keep the previous model


class MlSignal(Strategy):
    """Long (or short) when a walk-forward-fitted classifier is confident of the direction
    of the next ``horizon`` bars."""

    name = "ml_signal"
    model = Param("logistic", choices=SKLEARN_MODELS + TORCH_MODELS,
                  doc="logistic, gbm, forest (scikit-learn); lstm, gru (PyTorch, heron[ml])")
    horizon = Param(30, ge=1, le=100_000, doc="bars ahead the label's return looks")
    threshold = Param(0.0, ge=0.0, le=1.0, doc="label only returns beyond +-threshold; "
                      "smaller moves are left out of training")
    train = Param(2000, ge=50, le=1_000_000, doc="labelled bars each model learns from")
    retrain = Param(1440, ge=1, le=1_000_000, doc="bars between fits")
    window = Param(30, ge=5, le=100_000, doc="bars in the slower features (return, "
                   "z-scores, volatility, EMA)")
    entry = Param(0.55, gt=0.5, lt=1.0, doc="go long above this probability of up (short "
                  "below 1 - entry)")
    exit = Param(0.5, ge=0.0, lt=1.0, doc="close a long at or below this probability (a "
                 "short at or above 1 - exit); below entry")
    mode = Param("long-only", choices=("long-only", "long-short"), doc="which sides to trade")
    fraction = Param(Decimal("1"), gt=Decimal(0), le=Decimal(1),
                     doc="share of free equity per entry (fees included)")
    quantity = Param(Decimal(0), ge=Decimal(0),
                     doc="fixed size per entry instead of a fraction (0 = use fraction)")
    seed = Param(0, ge=0, le=2**32 - 1, doc="random state of every fit")
    c = Param(1.0, gt=0.0, le=1e6, doc="logistic: inverse L2 regularisation strength")
    trees = Param(100, ge=1, le=10_000, doc="gbm, forest: trees per model")
    depth = Param(3, ge=1, le=64, doc="gbm, forest: depth of each tree")
    sequence = Param(16, ge=1, le=1000, doc="lstm, gru: bars in each input sequence")
    hidden = Param(16, ge=1, le=1024, doc="lstm, gru: hidden units")
    epochs = Param(20, ge=1, le=10_000, doc="lstm, gru: full-batch training epochs")
    model_dir = Param("models", doc="folder of the versioned model files, relative to the "
                      "run's folder (a backtest: out/); empty: do not save")

    def validate(self) -> None:
        if self.exit >= self.entry:
            raise InvalidConfiguration(
                f"ml_signal: exit ({self.exit}) must be below entry ({self.entry}); pass a "
                "smaller exit or a larger entry")
        if self.model in TORCH_MODELS and importlib.util.find_spec("torch") is None:
            raise InvalidConfiguration(
                f"ml_signal: model={self.model} needs PyTorch, which is not installed; "
                f"{TORCH_HINT}, or pick one of {', '.join(SKLEARN_MODELS)}")
        if self.model in TORCH_MODELS and self.sequence > self.train:
            raise InvalidConfiguration(
                f"ml_signal: sequence ({self.sequence}) is longer than train ({self.train}); "
                "pass a shorter sequence")

    def on_start(self) -> None:
        if len(self.instruments) != 1:
            raise InvalidConfiguration(
                f"ml_signal trades one instrument (got {len(self.instruments)}); run one "
                "strategy per bar file")
        bars = len(self.ctx.series[0]["close"])
        needed = self.train + self.horizon + 1
        if 0 < bars < needed:  # a backtest knows its bars; paper and live start empty
            raise InvalidConfiguration(
                f"ml_signal: train ({self.train}) + horizon ({self.horizon}) bars leave "
                f"nothing to trade in {bars} bars of data; pass a smaller train or more data")
        self.spec = ModelSpec(self.model, self.seed, self.c, self.trees, self.depth,
                              self.sequence, self.hidden, self.epochs)
        self.fitted: FoldModel | None = None
        self.folds = 0
        self.skipped: list[tuple[int, str]] = []  # (bar ts, why) of fits that kept the old
        self.count = 0                            # bars handled
        self.next_fit = self.train + self.horizon
        self.times: list[int] = []
        self.predictions: list[float] = []
        self._block: NDArray[np.float64] = np.empty(0)
        self._block_at = 0
        self._source: Any = None
        self._features: NDArray[np.float64] = np.empty((0, len(FEATURE_NAMES)))
        self.store: ModelStore | None = None
        self.short_ok = self.mode == "long-short"
        self.short_entry, self.short_exit = 1.0 - self.entry, 1.0 - self.exit
        self.entry_size: Decimal | EquityFraction = (
            self.quantity if self.quantity else self.equity_fraction(self.fraction))
        self.working = self.ctx.om.open_orders  # live view: empty on most bars

    def on_bar(self, bar: Bar) -> None:
        self.count += 1
        self.times.append(bar.ts)
        index = self.ctx.index
        if self.count >= self.next_fit:
            self.fit(index)
            self.next_fit = self.count + self.retrain
        p = self.predict(index)
        self.predictions.append(p)
        if math.isnan(p) or (self.working and self.has_open_orders()):
            return
        qty = self.position.qty
        if (qty > 0 and p <= self.exit) or (qty < 0 and p >= self.short_exit):
            self.close_position()
        elif qty != 0:
            return
        if p > self.entry:
            self.buy(size=self.entry_size)
        elif p < self.short_entry and self.short_ok:
            self.sell(size=self.entry_size)

    # -- the model ------------------------------------------------------------------------------
    def features(self) -> NDArray[np.float64]:
        """The feature matrix of the current series, recomputed when the series changes
        (once in a backtest; on every bar in paper and live, whose series grow)."""
        series = self.ctx.series[self.ctx.slot]
        if series["close"] is not self._source:
            self._features = feature_matrix(series, self.window)
            self._source = series["close"]
        return self._features

    def fit(self, index: int) -> None:
        """Fit a model on the rows behind bar ``index`` (see the module doc); keep the old
        one when the window cannot train a classifier."""
        features = self.features()[: index + 1]
        close = self.ctx.series[self.ctx.slot]["close"][: index + 1]
        labels = forward_labels(close, self.horizon, self.threshold)
        start, stop = training_rows(index, self.train, self.horizon)
        rows = np.arange(start, stop, dtype=np.int64)
        ok = np.isfinite(labels[rows]) & sequence_rows(features, rows, self.spec.lookback + 1)
        rows = rows[ok]
        positives = int(labels[rows].sum())
        if len(rows) < MIN_ROWS or positives in (0, len(rows)):
            self.skipped.append((self.times[-1], f"{len(rows)} usable rows, {positives} up"))
            return
        self.fitted = fit_model(self.spec, features, labels, rows)
        self._block = np.empty(0)  # predictions of the old model are void
        if self.model_dir:
            self._save(self.fitted, index, rows, features, labels, positives)
        self.folds += 1

    def predict(self, index: int) -> float:
        """P(up) at bar ``index``. In a backtest the rows up to the next fit are predicted
        in one call (each row's features use bars up to that row only); in paper and live
        the series ends at ``index``, so one row at a time."""
        if self.fitted is None:
            return math.nan
        offset = self.count - self._block_at
        if offset >= len(self._block):
            n = len(self.features())
            stop = max(index + 1, min(n, index + self.next_fit - self.count))
            self._block = self.fitted.predict_up(self.features(),
                                                 np.arange(index, stop, dtype=np.int64))
            self._block_at, offset = self.count, 0
        return float(self._block[offset])

    # -- model files ----------------------------------------------------------------------------
    def _time_of(self, index: int, row: int) -> int | None:
        """The bar time of series row ``row`` while bar ``index`` is handled (None for rows
        of a live run's warm-up history, which reach no hook)."""
        k = self.count - 1 - (index - row)
        return self.times[k] if k >= 0 else None

    def _save(self, model: FoldModel, index: int, rows: NDArray[np.int64],
              features: NDArray[np.float64], labels: NDArray[np.float64],
              positives: int) -> None:
        if self.store is None:
            params = {k: v for k, v in self.param_values.items() if k != "model_dir"}
            self.store = ModelStore.for_run(
                str((self.run_dir or Path("out")) / self.model_dir),
                strategy_id=self.strategy_id, symbol=self.instrument.symbol,
                first_ts=self.times[0], params=params, header=self._header(params))
        window = (stamp(self._time_of(index, int(rows[0]))),
                  stamp(self._time_of(index, int(rows[-1]))))
        content = training_content(self.instrument.id, window, features[rows], labels[rows])
        self.store.save(self.folds, model.to_bytes(), model.suffix, window=window,
                        fitted_at=stamp(self.times[-1]), content=content, rows=len(rows),
                        positives=positives)

    def _header(self, params: dict[str, Any]) -> dict[str, Any]:
        library = "torch" if self.model in TORCH_MODELS else "scikit-learn"
        return {"strategy": self.name, "strategy_id": self.strategy_id,
                "instrument": self.instrument.id, "model": self.model,
                "params": {k: str(v) for k, v in params.items()},
                "features": list(FEATURE_NAMES),
                "versions": {name: _version(name) for name in ("heron", library)}}


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
