"""pairs on real bars: its entries and exits are the ones a NumPy/statsmodels reference
predicts, and its legs are sized in the reference's hedge ratio.

The bars are freqtrade's ETH/BTC and LTC/BTC 5-minute candles (GPL-3.0, so not bundled
in data/): read from the shared data set, skipped where it is absent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from statsmodels.tsa.stattools import coint

import heron
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "data" / "bars"
ETH = SHARED / "freqtrade_ETH_BTC_5m_2018-01.feather"
LTC = SHARED / "freqtrade_LTC_BTC_5m_2018-01.feather"
BASE = {"formation": 576, "refit": 48, "lookback": 96, "entry": 2.0, "exit": 0.5,
        "pvalue": 0.05, "coint_lags": 1}


@pytest.fixture(scope="module")
def aligned() -> pl.DataFrame:
    for path in (ETH, LTC):
        if not path.exists():
            pytest.skip(f"shared test data {path} not present")
    y = read_bars(ETH).frame.select("ts", pl.col("close").alias("y"))
    x = read_bars(LTC).frame.select("ts", pl.col("close").alias("x"))
    return y.join(x, on="ts", how="inner").sort("ts")


def reference(frame: pl.DataFrame, p: dict[str, Any]) -> tuple[list[tuple[int, str, str]],
                                                                dict[int, float]]:
    """``[(ts, "long"|"short", "entry"|"exit"|"stop")]`` and the beta in force at each ts."""
    ts, y, x = (frame[c].to_numpy() for c in ("ts", "y", "x"))
    form, lb = p["formation"], p["lookback"]
    beta, pval, side, blocked = np.nan, 1.0, 0, 0
    events: list[tuple[int, str, str]] = []
    betas: dict[int, float] = {}
    for t in range(len(ts)):
        if t + 1 >= form and (t + 1 - form) % p["refit"] == 0:
            ys, xs = y[t + 1 - form:t + 1], x[t + 1 - form:t + 1]
            beta = sm.OLS(ys, sm.add_constant(xs)).fit().params[1]
            pval = coint(ys, xs, trend="c", maxlag=p["coint_lags"], autolag=None)[1]
        if np.isnan(beta) or t + 1 < lb:
            continue
        s = y[t + 1 - lb:t + 1] - beta * x[t + 1 - lb:t + 1]
        z = (s[-1] - s.mean()) / s.std()
        betas[int(ts[t])] = float(beta)
        stop = p.get("stop", 0.0)
        if blocked and blocked * z >= -p["exit"]:
            blocked = 0
        if side > 0 and (z >= -p["exit"] or (stop and z <= -stop)):
            kind = "stop" if stop and z <= -stop else "exit"
            blocked = side if kind == "stop" else blocked
            events.append((int(ts[t]), "long", kind))
            side = 0
        elif side < 0 and (z <= p["exit"] or (stop and z >= stop)):
            kind = "stop" if stop and z >= stop else "exit"
            blocked = side if kind == "stop" else blocked
            events.append((int(ts[t]), "short", kind))
            side = 0
        elif side == 0 and pval < p["pvalue"] and abs(z) > p["entry"]:
            want = 1 if z < 0 else -1
            if want != blocked:
                side = want
                events.append((int(ts[t]), "long" if want > 0 else "short", "entry"))
    return events, betas


def run(params: dict[str, Any]) -> heron.node.result.BacktestResult:
    return heron.backtest({"ETHBTC": ETH, "LTCBTC": LTC}, strategy="pairs", params=params,
                          cash="10", kind="perp", leverage="2", fee_bps="4", fill="close")


def observed(result: Any) -> list[tuple[int, str, str]]:
    """The run's decisions, read back from its fills: (ts, spread side, what)."""
    out = []
    fills = result.fills.filter(pl.col("instrument") == "ETHBTC.SIM")
    tags = {o.client_order_id: o.tag for o in result.engine.om.orders.values()}
    for ts, side, coid in fills.select("ts", "side", "client_order_id").iter_rows():
        tag = tags[coid]
        if tag in ("pairs-long", "pairs-short"):
            out.append((ts, tag.removeprefix("pairs-"), "entry"))
        else:  # a close: selling y closes a long spread
            out.append((ts, "long" if side == "sell" else "short", tag.removeprefix("pairs-")))
    return out


@pytest.mark.parametrize("extra", [{}, {"stop": 3.0, "pvalue": 0.1}],
                         ids=["no-stop", "stop-3"])
def test_pairs_signals_match_the_reference(aligned: pl.DataFrame,
                                           extra: dict[str, Any]) -> None:
    params = {**BASE, **extra}
    expected, betas = reference(aligned, params)
    result = run(params)
    got = observed(result)
    assert len(expected) > 40
    assert got == expected
    if extra:
        assert any(kind == "stop" for _, _, kind in expected)
    # every order filled on its decision bar, both legs, no leg left open
    assert result.fills.height == 2 * len(expected) and not result.rejections
    # the legs are in the hedge ratio in force on the entry bar (to one lot of rounding)
    fills = result.fills
    for ts, side, kind in expected:
        if kind != "entry":
            continue
        legs = {row["instrument"]: row for row in fills.filter(pl.col("ts") == ts)
                .iter_rows(named=True)}
        qy, qx = float(legs["ETHBTC.SIM"]["qty"]), float(legs["LTCBTC.SIM"]["qty"])
        assert qx / qy == pytest.approx(abs(betas[ts]), rel=1e-6, abs=2e-8 / qy)
        beta_sign = np.sign(betas[ts])
        y_buy = legs["ETHBTC.SIM"]["side"] == "buy"
        assert y_buy == (side == "long")
        assert (legs["LTCBTC.SIM"]["side"] == "buy") == (y_buy != (beta_sign > 0))


def test_pairs_no_entry_while_not_cointegrated(aligned: pl.DataFrame) -> None:
    # a threshold no fit passes: the z-score leaves the band, but nothing trades
    expected, _ = reference(aligned, {**BASE, "pvalue": 1e-12})
    assert expected == []
    assert run({**BASE, "pvalue": 1e-12}).fills.height == 0


def test_pairs_refuses_one_instrument() -> None:
    with pytest.raises(InvalidConfiguration, match="exactly two instruments"):
        heron.backtest(ROOT / "data" / "ADABTC-1m-2021-11-27.csv", strategy="pairs")


@pytest.mark.parametrize(("params", "message"), [
    ({"exit": 2.5}, "exit"), ({"stop": 1.5}, "stop"), ({"formation": 5}, "formation")])
def test_pairs_refuses_impossible_parameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfiguration, match=message):
        heron.backtest(ROOT / "data" / "ADABTC-1m-2021-11-27.csv", strategy="pairs",
                       params=params)


def test_pairs_example_config_runs(aligned: pl.DataFrame, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "heron", "backtest",
                           str(ROOT / "examples" / "pairs.toml"), "--quiet",
                           "--json", str(tmp_path / "r.json"),
                           "--report", str(tmp_path / "r.html")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["bars"] == 2 * aligned.height
    assert doc["trades"] >= 40 and doc["trades"] % 2 == 0  # round trips come in leg pairs
    assert {f["instrument"] for f in doc["fills_list"]} == {"ETHBTC.SIM", "LTCBTC.SIM"}
