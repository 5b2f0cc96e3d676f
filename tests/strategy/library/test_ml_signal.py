"""ml_signal on real bars: its probabilities and trades are those of a hand-built walk-forward
reference (features from TA-Lib and NumPy, the same scikit-learn pipeline fitted fold by
fold), nothing it predicts before a fit depends on bars after it, two runs write the same
trades and the same model files, and the PyTorch models train and predict."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import polars as pl
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import heron
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.strategy.library.ml_signal import MlSignal

DATA = Path(__file__).resolve().parents[3] / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
BARS = 4000
BASE: dict[str, Any] = {"train": 1000, "horizon": 10, "retrain": 500, "window": 20,
                        "entry": 0.56, "exit": 0.5, "mode": "long-short", "c": 0.5}
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def month() -> pl.DataFrame:
    return read_bars(DATA).frame


@pytest.fixture(scope="module")
def bars(month: pl.DataFrame) -> pl.DataFrame:
    return month.head(BARS)


def run(frame: pl.DataFrame, model_dir: Path | str, **params: Any
        ) -> tuple[MlSignal, heron.BacktestResult]:
    strategy = MlSignal(**{**BASE, **params, "model_dir": str(model_dir)})
    result = heron.backtest(frame, strategy=strategy, symbol="BTC-PERP", fill="close",
                            kind="perp", fee_bps="4")
    return strategy, result


def round_trips(result: heron.BacktestResult) -> list[tuple[str, int, int]]:
    t = result.trades
    return list(zip(t["direction"].to_list(), t["entry_bar"].to_list(),
                    t["exit_bar"].to_list(), strict=True))


# -- the hand-built reference ---------------------------------------------------------------
def rolling_z(x: np.ndarray, w: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    win = sliding_window_view(x, w)
    mean, std = win.mean(axis=1), win.std(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[w - 1:] = np.where(std > 1e-12, (x[w - 1:] - mean) / std, np.nan)
    return out


def reference_features(frame: pl.DataFrame, w: int) -> np.ndarray:
    o, h, lo, c, v = (frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    del o

    def ret(k: int) -> np.ndarray:
        out = np.full(len(c), np.nan)
        out[k:] = np.log(c[k:] / c[:-k])
        return out

    r1 = ret(1)
    vol = np.full(len(c), np.nan)
    vol[w:] = sliding_window_view(r1[1:], w).std(axis=1)
    cols = [r1, ret(5), ret(w), talib.RSI(c, 14) / 100 - 0.5, rolling_z(c, w), vol,
            talib.ATR(h, lo, c, 14) / c, rolling_z(np.log1p(v), w), np.log(h / lo),
            c / talib.EMA(c, w) - 1]
    return np.column_stack(cols)


def reference_probabilities(frame: pl.DataFrame, p: dict[str, Any]) -> np.ndarray:
    """P(up) per bar: a StandardScaler + LogisticRegression fitted at bar
    train + horizon - 1 and every retrain bars after, on the train rows whose forward
    return is known at the fit bar, predicting the bars up to the next fit."""
    x = reference_features(frame, p["window"])
    close = frame["close"].to_numpy()
    h, n = p["horizon"], len(close)
    probs = np.full(n, np.nan)
    for fit in range(p["train"] + h - 1, n, p["retrain"]):
        rows = np.arange(fit - h - p["train"] + 1, fit - h + 1)
        fwd = close[rows + h] / close[rows] - 1  # rows + h <= fit: known at the fit bar
        keep = np.isfinite(x[rows]).all(axis=1) & (fwd != 0)
        model = make_pipeline(StandardScaler(), LogisticRegression(
            C=p["c"], max_iter=1000, random_state=0))
        model.fit(x[rows[keep]], (fwd[keep] > 0).astype(int))
        block = np.arange(fit, min(fit + p["retrain"], n))
        ok = np.isfinite(x[block]).all(axis=1)
        probs[block[ok]] = model.predict_proba(x[block[ok]])[:, 1]
    return probs


def reference_round_trips(probs: np.ndarray, entry: float, exit_: float
                          ) -> list[tuple[str, int, int]]:
    trades, side, opened = [], "", 0
    for i, p in enumerate(probs):
        if np.isnan(p):
            continue
        if (side == "long" and p <= exit_) or (side == "short" and p >= 1 - exit_):
            trades.append((side, opened, i))
            side = ""
        if not side and p > entry:
            side, opened = "long", i
        elif not side and p < 1 - entry:
            side, opened = "short", i
    return trades


def test_ml_signal_probabilities_and_trades_match_a_hand_built_walk_forward(
        bars: pl.DataFrame, tmp_path: Path) -> None:
    strategy, result = run(bars, tmp_path)
    ours = np.asarray(strategy.predictions)
    ref = reference_probabilities(bars, BASE)
    first_fit = BASE["train"] + BASE["horizon"] - 1
    assert np.isnan(ours[:first_fit]).all()  # flat before the first model
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
    assert strategy.folds == len(range(first_fit, BARS, BASE["retrain"])) == 6
    expected = reference_round_trips(ref, BASE["entry"], BASE["exit"])
    assert {d for d, _, _ in expected} == {"long", "short"} and len(expected) > 20
    assert round_trips(result) == expected
    assert min(entry for _, entry, _ in expected) >= first_fit


def test_ml_signal_predictions_before_a_fit_ignore_every_later_bar(
        month: pl.DataFrame, bars: pl.DataFrame, tmp_path: Path) -> None:
    cut = BASE["train"] + BASE["horizon"] - 1 + 2 * BASE["retrain"]  # the third fit's bar
    later = month.slice(20_000, BARS).select(pl.exclude("ts"))  # other real bars, same times
    changed = pl.concat([bars.head(cut + 1),
                         pl.concat([bars.select("ts").slice(cut + 1), later.head(BARS - cut - 1)],
                                   how="horizontal")])
    a, result_a = run(bars, tmp_path / "a")
    b, result_b = run(changed, tmp_path / "b")
    pa, pb = np.asarray(a.predictions), np.asarray(b.predictions)
    assert np.array_equal(pa[: cut + 1], pb[: cut + 1], equal_nan=True)
    assert not np.allclose(pa[cut + 1:], pb[cut + 1:], equal_nan=True)
    before = [t for t in round_trips(result_a) if t[2] <= cut]
    assert before and before == [t for t in round_trips(result_b) if t[2] <= cut]
    # the three models fitted up to the cut are the same files; the later ones are not
    files_a, files_b = (sorted(p.name for p in d.rglob("fold*")) for d in (tmp_path / "a",
                                                                          tmp_path / "b"))
    assert files_a[:3] == files_b[:3] and not set(files_a[3:]) & set(files_b[3:])


def test_ml_signal_two_runs_give_the_same_trades_and_model_files(
        bars: pl.DataFrame, tmp_path: Path) -> None:
    params = {"model": "forest", "trees": 10, "depth": 3}
    a, result_a = run(bars, tmp_path / "a", **params)
    b, result_b = run(bars, tmp_path / "b", **params)
    assert result_a.fills.equals(result_b.fills) and len(result_a.fills) > 10
    assert np.array_equal(a.predictions, b.predictions, equal_nan=True)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    assert sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*")) == files
    for rel in files:
        if (tmp_path / "a" / rel).is_file():
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    c, _ = run(bars, tmp_path / "c", **{**params, "seed": 7})
    assert not np.array_equal(a.predictions, c.predictions, equal_nan=True)


def test_ml_signal_writes_each_fold_and_a_manifest_under_the_model_dir(
        bars: pl.DataFrame, tmp_path: Path) -> None:
    strategy, _ = run(bars, tmp_path / "models")
    (folder,) = (tmp_path / "models").iterdir()
    assert folder.name.startswith("ml_signal_BTC-PERP_20211231T2301Z_")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["instrument"] == "BTC-PERP.SIM" and manifest["model"] == "logistic"
    assert manifest["params"]["train"] == "1000" and "model_dir" not in manifest["params"]
    folds = manifest["folds"]
    assert [f["fold"] for f in folds] == list(range(strategy.folds))
    assert sorted(p.name for p in folder.glob("fold*")) == [f["file"] for f in folds]
    assert folds[0]["train_start"] == "20211231T2321Z"  # bar 20: the first with every feature
    assert folds[0]["fitted_at"] == "20220101T1550Z"    # bar 1009
    preds = np.asarray(strategy.predictions)
    x = reference_features(bars, BASE["window"])
    for k, fold in enumerate(folds):
        data = (folder / fold["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == fold["sha256"]
        model = joblib.load(folder / fold["file"])
        at = BASE["train"] + BASE["horizon"] - 1 + k * BASE["retrain"]
        np.testing.assert_allclose(model.predict_proba(x[at:at + 5])[:, 1], preds[at:at + 5],
                                   rtol=1e-9)
    assert not list(folder.glob(".*.tmp"))


def test_ml_signal_without_a_model_dir_writes_nothing(bars: pl.DataFrame, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    strategy, _ = run(bars.head(1600), "")
    assert strategy.folds == 2 and not list(tmp_path.iterdir())


def test_ml_signal_puts_a_relative_model_dir_in_the_runs_folder(
        bars: pl.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(bars.head(1600), "models")  # a plain backtest has no folder: out/
    assert [p.name for p in (tmp_path / "out" / "models").iterdir()]
    monkeypatch.setenv("HERON_RUN_DIR", str(tmp_path / "run7"))  # as heron serve's runs get
    run(bars.head(1600), "models")
    (folder,) = (tmp_path / "run7" / "models").iterdir()
    assert (folder / "manifest.json").is_file() and sorted(tmp_path.iterdir()) == [
        tmp_path / "out", tmp_path / "run7"]


def test_ml_signal_stays_flat_while_no_window_can_train_a_model(bars: pl.DataFrame,
                                                                 tmp_path: Path) -> None:
    # no 10-minute move of 50%: every label is "in between", so no fit and no trade
    strategy, result = run(bars.head(2000), tmp_path, threshold=0.5)
    assert strategy.folds == 0 and len(strategy.skipped) == 2
    assert strategy.skipped[0][1] == "0 usable rows, 0 up"
    assert np.isnan(strategy.predictions).all() and len(result.fills) == 0
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # the first one imports PyTorch (seconds)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_ml_signal_recurrent_models_train_predict_and_repeat(
        cell: str, bars: pl.DataFrame, tmp_path: Path) -> None:
    if not HAS_TORCH:
        pytest.skip("PyTorch is not installed: pip install 'heron[ml]' (CPU wheel)")
    import torch

    params = {"model": cell, "train": 400, "horizon": 5, "retrain": 400, "sequence": 8,
              "hidden": 4, "epochs": 5, "entry": 0.51}
    frame = bars.head(1400)
    a, result = run(frame, tmp_path / "a", **params)
    preds = np.asarray(a.predictions)
    live = preds[~np.isnan(preds)]
    assert a.folds == 3 and np.isnan(preds[:404]).all() and len(live) > 900
    assert ((live > 0) & (live < 1)).all() and live.std() > 0
    assert len(result.fills) > 0
    (folder,) = (tmp_path / "a").iterdir()
    state = torch.load(next(folder.glob("fold0000_*.pt")), weights_only=True)
    assert {"rnn.weight_ih_l0", "head.weight", "mean", "std"} <= set(state)
    assert state["rnn.weight_ih_l0"].shape[0] == (4 if cell == "lstm" else 3) * 4
    b, _ = run(frame, tmp_path / "b", **params)
    assert np.array_equal(preds, np.asarray(b.predictions), equal_nan=True)
    for path in folder.iterdir():
        twin = tmp_path / "b" / folder.name / path.name
        assert twin.read_bytes() == path.read_bytes()


@pytest.mark.skipif(HAS_TORCH, reason="checks the message given when PyTorch is absent")
def test_ml_signal_recurrent_model_without_torch_names_the_extra() -> None:
    with pytest.raises(InvalidConfiguration, match=r"pip install 'heron\[ml\]'"):
        MlSignal(model="lstm")


@pytest.mark.parametrize(("params", "needle"), [
    ({"exit": 0.6, "entry": 0.6}, "exit (0.6) must be below entry (0.6)"),
    ({"entry": 0.5}, "entry=0.5 is out of range"),
    ({"model": "svm"}, "one of logistic, gbm, forest, lstm, gru"),
    ({"train": 10}, "train=10 is out of range"),
    ({"retrain": 0}, "retrain=0 is out of range"),
    ({"horizon": "soon"}, "horizon='soon' is not a valid int"),
    ({"sequence": 600, "model": "gru", "train": 500}, "sequence (600) is longer than train"),
    ({"depht": 3}, "did you mean 'depth'"),
])
def test_ml_signal_bad_parameters_are_refused_with_the_fix(params: dict[str, Any],
                                                           needle: str) -> None:
    if params.get("model") == "gru" and not HAS_TORCH:
        pytest.skip("PyTorch is not installed: pip install 'heron[ml]'")
    with pytest.raises(InvalidConfiguration) as caught:
        MlSignal(**params)
    assert needle in str(caught.value)


def test_ml_signal_windows_longer_than_the_data_are_refused(bars: pl.DataFrame) -> None:
    with pytest.raises(InvalidConfiguration, match=r"train \(1000\) \+ horizon \(10\) bars "
                       r"leave nothing to trade in 900 bars"):
        run(bars.head(900), "")


def test_ml_signal_refuses_two_instruments(bars: pl.DataFrame) -> None:
    with pytest.raises(InvalidConfiguration, match="ml_signal trades one instrument"):
        heron.backtest({"A": bars, "B": bars}, strategy="ml_signal", params={"model_dir": ""})


@pytest.mark.slow  # a month of bars, 29 fits
def test_ml_signal_example_config_runs_and_saves_its_folds(tmp_path: Path) -> None:
    config = DATA.parents[1] / "examples" / "ml_signal.toml"
    proc = subprocess.run([sys.executable, "-m", "heron", "backtest", str(config), "--quiet",
                           "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"),
                           "--param", f"model_dir={tmp_path / 'models'}"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["bars"] == 45031 and doc["trades"] > 20
    (folder,) = (tmp_path / "models").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["folds"]) == len(range(4320 + 30 - 1, 45031, 1440)) == 29
