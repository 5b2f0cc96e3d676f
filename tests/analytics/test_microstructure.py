"""Microstructure features on real Binance trades and quotes and Tardis book snapshots.

Each feature is checked against a plain Python loop written from the paper's
definition (in a different form from the vectorised code where one exists), and
against a few numbers worked out by hand from the first rows of the data.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import polars as pl
import pytest
from numpy.typing import NDArray

from heron.analytics import microstructure as ms
from heron.analytics.inputs import InvalidParameter

DATA = Path(__file__).resolve().parents[2] / "data"
TRADES = DATA / "binance_spot_BTCUSDT_trades_2021-01-08.parquet"
QUOTES = DATA / "binance_spot_BTCUSDT_quotes_2021-01-08.parquet"
BOOKS = DATA / "tardis_binance-futures_BTCUSDT_book_snapshot_5_2020-09-01.csv"

Floats = NDArray[np.float64]


@pytest.fixture(scope="module")
def quotes() -> dict[str, Floats]:
    frame = pl.read_parquet(QUOTES)
    return {name: frame[name].to_numpy() for name in ("bid", "bid_size", "ask", "ask_size")}


@pytest.fixture(scope="module")
def trades() -> dict[str, Floats]:
    frame = pl.read_parquet(TRADES)
    aggressor = np.where(frame["buyer_maker"].to_numpy() == "True", -1.0, 1.0)
    ts = frame["timestamp"].dt.epoch("ns").to_numpy()
    return {
        "ts": ts,
        "price": frame["price"].to_numpy(),
        "size": frame["quantity"].to_numpy(),
        "aggressor": aggressor,
    }


@pytest.fixture(scope="module")
def books() -> dict[str, Floats]:
    frame = pl.read_csv(BOOKS)
    out = {}
    for side, name in (("bids", "bid"), ("asks", "ask")):
        out[f"{name}_prices"] = frame.select(f"{side}[{i}].price" for i in range(5)).to_numpy()
        out[f"{name}_sizes"] = frame.select(f"{side}[{i}].amount" for i in range(5)).to_numpy()
    return out


# -- order-flow imbalance ------------------------------------------------------------------


def _ofi_loop(pb: list[float], qb: list[float], pa: list[float], qa: list[float]) -> list[float]:
    """CKS (2014) by cases: what the bid side added minus what the ask side added."""
    out = [math.nan]
    for n in range(1, len(pb)):
        if pb[n] > pb[n - 1]:
            bid = qb[n]
        elif pb[n] == pb[n - 1]:
            bid = qb[n] - qb[n - 1]
        else:
            bid = -qb[n - 1]
        if pa[n] < pa[n - 1]:
            ask = qa[n]
        elif pa[n] == pa[n - 1]:
            ask = qa[n] - qa[n - 1]
        else:
            ask = -qa[n - 1]
        out.append(bid - ask)
    return out


def test_ofi_real_quotes_equals_case_by_case_loop(quotes: dict[str, Floats]) -> None:
    args = (quotes["bid"], quotes["bid_size"], quotes["ask"], quotes["ask_size"])
    ours = ms.order_flow_imbalance(*args)
    ref = _ofi_loop(*(a.tolist() for a in args))
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)
    assert np.count_nonzero(ours[1:] > 0) > 50 and np.count_nonzero(ours[1:] < 0) > 50


def test_ofi_first_updates_by_hand(quotes: dict[str, Floats]) -> None:
    ours = ms.order_flow_imbalance(
        quotes["bid"], quotes["bid_size"], quotes["ask"], quotes["ask_size"]
    )
    assert math.isnan(ours[0])
    # 1: bid 39432.99 -> 39432.33 (down: -0.0031), ask 39433.62 -> 39433.60 (down: -0.018027)
    assert ours[1] == pytest.approx(-0.0031 - 0.018027, abs=1e-12)
    # 2: bid down again (-2.0), ask unchanged in price and size (0)
    assert ours[2] == pytest.approx(-2.0, abs=1e-12)
    # 3: bid up to 39430.71 (+0.031035), ask up to 39444.95 (+ old ask size 0.018027)
    assert ours[3] == pytest.approx(0.031035 + 0.018027, abs=1e-12)


def test_ofi_window_sums_the_last_updates(quotes: dict[str, Floats]) -> None:
    args = (quotes["bid"], quotes["bid_size"], quotes["ask"], quotes["ask_size"])
    per_update = ms.order_flow_imbalance(*args)
    summed = ms.order_flow_imbalance(*args, window=20)
    assert np.isnan(summed[:20]).all()
    for n in (20, 21, 200, len(per_update) - 1):
        assert summed[n] == pytest.approx(sum(per_update[n - 19 : n + 1]), rel=1e-9, abs=1e-12)


# -- microprice and VAMP ---------------------------------------------------------------------


def test_microprice_real_quotes_equals_loop_and_hand_value(quotes: dict[str, Floats]) -> None:
    ours = ms.microprice(quotes["bid"], quotes["bid_size"], quotes["ask"], quotes["ask_size"])
    ref = [
        (pb * qa + pa * qb) / (qb + qa)
        for pb, qb, pa, qa in zip(
            quotes["bid"], quotes["bid_size"], quotes["ask"], quotes["ask_size"], strict=True
        )
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-15)
    # 39432.99 + 0.63 * 0.0031 / (0.0031 + 0.066851): the thin bid pulls it to the bid.
    assert ours[0] == pytest.approx(39433.01792, abs=1e-5)
    assert np.all((ours >= quotes["bid"]) & (ours <= quotes["ask"]))


def test_microprice_without_size_is_nan() -> None:
    assert math.isnan(ms.microprice([10.0], [0.0], [11.0], [0.0])[0])


def _vamp_loop(book: dict[str, Floats], levels: int) -> list[float]:
    out = []
    for row in range(book["bid_prices"].shape[0]):
        num = den = 0.0
        for i in range(levels):
            pb, qb = book["bid_prices"][row, i], book["bid_sizes"][row, i]
            pa, qa = book["ask_prices"][row, i], book["ask_sizes"][row, i]
            num += pb * qa + pa * qb
            den += qb + qa
        out.append(num / den)
    return out


@pytest.mark.parametrize("levels", [1, 2, 5])
def test_vamp_real_book_equals_loop(books: dict[str, Floats], levels: int) -> None:
    ours = ms.vamp(
        books["bid_prices"], books["bid_sizes"], books["ask_prices"], books["ask_sizes"], levels
    )
    np.testing.assert_allclose(ours, _vamp_loop(books, levels), rtol=1e-14)


def test_vamp_first_snapshot_by_hand(books: dict[str, Floats]) -> None:
    args = (books["bid_prices"], books["bid_sizes"], books["ask_prices"], books["ask_sizes"])
    # Level 1: 11657 + (0.07 * 1.714 + 0.08 * 10.896) / (10.896 + 1.714)
    assert ms.vamp(*args, 1)[0] == pytest.approx(11657.078641, abs=1e-6)
    # Level 2 adds 11656.97 x 5.4 (ask size) and 11657.54 x 0.2 (bid size): / 18.21
    assert ms.vamp(*args, 2)[0] == pytest.approx(11657.051492, abs=1e-6)
    # levels=None uses all five
    np.testing.assert_array_equal(ms.vamp(*args), ms.vamp(*args, 5))


def test_vamp_one_level_is_the_microprice(quotes: dict[str, Floats]) -> None:
    column = {k: v[:, None] for k, v in quotes.items()}
    ours = ms.vamp(column["bid"], column["bid_size"], column["ask"], column["ask_size"])
    ref = ms.microprice(quotes["bid"], quotes["bid_size"], quotes["ask"], quotes["ask_size"])
    np.testing.assert_allclose(ours, ref, rtol=1e-15)


def test_vamp_level_missing_on_one_side_is_left_out() -> None:
    nan = math.nan
    out = ms.vamp([[10.0, nan]], [[1.0, nan]], [[11.0, 12.0]], [[3.0, 2.0]])
    # bid level 2 missing, so ask level 2 has no partner: level 1 alone,
    # (10 * 3 + 11 * 1) / (1 + 3), the microprice
    assert out[0] == pytest.approx(41.0 / 4.0)
    assert out[0] == pytest.approx(ms.microprice([10.0], [1.0], [11.0], [3.0])[0])


# -- trades: signed volume, CVD ---------------------------------------------------------------


def test_cvd_real_trades_equals_loop_and_hand_value(trades: dict[str, Floats]) -> None:
    ours = ms.cumulative_volume_delta(trades["size"], trades["aggressor"])
    total, ref = 0.0, []
    for size, side in zip(trades["size"], trades["aggressor"], strict=True):
        total += size if side > 0 else -size
        ref.append(total)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    # First five trades: sell 0.000263, buy 0.004376, 0.000311, 0.004376, sell 0.006329
    assert ours[4] == pytest.approx(0.002471, abs=1e-12)


def test_cvd_restarts_each_session(trades: dict[str, Floats]) -> None:
    seconds = trades["ts"] // 10_000_000_000  # 10-second sessions
    ours = ms.cumulative_volume_delta(trades["size"], trades["aggressor"], sessions=seconds)
    signed = trades["size"] * trades["aggressor"]
    for label in np.unique(seconds):
        rows = np.flatnonzero(seconds == label)
        np.testing.assert_allclose(ours[rows], np.cumsum(signed[rows]), rtol=1e-12, atol=1e-12)
    assert len(np.unique(seconds)) >= 4


def test_signed_volume_refuses_other_sides() -> None:
    with pytest.raises(InvalidParameter, match="aggressor must be"):
        ms.signed_volume([1.0, 2.0], [1, 2])


# -- VPIN -----------------------------------------------------------------------------------------


def _vpin_loop(
    price: list[float], volume: list[float], bucket: float, window: int, sigma: float
) -> tuple[list[float], list[int]]:
    """Bucket k covers cumulative volume [k V, (k + 1) V); each row adds its overlap."""
    phi = NormalDist().cdf
    buys: dict[int, float] = {}
    sells: dict[int, float] = {}
    ends: list[int] = []
    done = 0.0
    for i in range(1, len(price)):
        share = phi((price[i] - price[i - 1]) / sigma)
        start, stop = done, done + volume[i]
        k = int(start // bucket)
        while k * bucket < stop:
            overlap = min(stop, (k + 1) * bucket) - max(start, k * bucket)
            buys[k] = buys.get(k, 0.0) + overlap * share
            sells[k] = sells.get(k, 0.0) + overlap * (1.0 - share)
            if stop >= (k + 1) * bucket:
                ends.append(i)
            k += 1
        done = stop
    full = len(ends)
    imbalance = [abs(buys[k] - sells[k]) for k in range(full)]
    out = [math.nan] * full
    for k in range(window - 1, full):
        out[k] = sum(imbalance[k - window + 1 : k + 1]) / (window * bucket)
    return out, ends


def test_vpin_real_trades_equals_interval_loop(trades: dict[str, Floats]) -> None:
    price, size = trades["price"], trades["size"]
    sigma = float(np.std(np.diff(price), ddof=1))
    bucket = 1.7  # BTC: ~50 buckets over the 86 BTC traded
    ours = ms.vpin(price, size, bucket, 10)
    ref, ends = _vpin_loop(price.tolist(), size.tolist(), bucket, 10, sigma)
    assert 40 <= len(ref) <= 80
    np.testing.assert_array_equal(ours.end, ends)
    np.testing.assert_allclose(ours.vpin, ref, rtol=1e-9)
    np.testing.assert_allclose(ours.buy_volume + ours.sell_volume, bucket, rtol=1e-9)
    assert np.all((ours.vpin[9:] > 0.0) & (ours.vpin[9:] < 1.0))
    # sigma given explicitly: the same as the sample's own
    np.testing.assert_array_equal(ms.vpin(price, size, bucket, 10, sigma=sigma).vpin, ours.vpin)


def test_vpin_hand_example() -> None:
    # Changes +1, -1, 0 with sigma 1: buy shares Phi(1), Phi(-1), 1/2; buckets of 3.
    out = ms.vpin([100.0, 101.0, 100.0, 100.0], [0.0, 2.0, 2.0, 2.0], 3.0, 2, sigma=1.0)
    phi1 = 0.8413447460685429
    assert out.end.tolist() == [2, 3]
    assert out.buy_volume.tolist() == pytest.approx([2 * phi1 + (1 - phi1), (1 - phi1) + 1.0])
    # |B - S| is 2 Phi(1) - 1 = 0.682689 in both buckets: VPIN = 2 x 0.682689 / (2 x 3)
    assert out.vpin[1] == pytest.approx(0.2275632, abs=1e-7)
    assert math.isnan(out.vpin[0])


def test_vpin_bad_bucket_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="bucket_volume must be positive"):
        ms.vpin([1.0, 2.0], [1.0, 1.0], 0.0)


# -- Kyle's lambda, Amihud ----------------------------------------------------------------------


def test_kyle_lambda_real_trades_equals_polyfit_per_window(trades: dict[str, Floats]) -> None:
    price = trades["price"][:600]
    signed = ms.signed_volume(trades["size"][:600], trades["aggressor"][:600])
    window = 100
    ours = ms.kyle_lambda(price, signed, window)
    assert np.isnan(ours[:window]).all()
    change = np.diff(price)
    for t in range(window, len(price)):
        rows = slice(t - window, t)  # price changes 1..t are change[0..t-1]
        slope = np.polyfit(signed[1:][rows], change[rows], 1)[0]
        assert ours[t] == pytest.approx(slope, rel=1e-8)
    assert np.nanmedian(ours) > 0.0  # buying pushes the price up, on average


def test_kyle_lambda_exact_line_recovers_slope() -> None:
    q = np.array([0.0, 1.0, -2.0, 3.0, 0.5, -1.0])
    price = np.concatenate(([100.0], 100.0 + np.cumsum(0.25 + 0.5 * q[1:])))
    out = ms.kyle_lambda(price, q, 3)
    np.testing.assert_allclose(out[3:], 0.5, rtol=1e-12)


def test_kyle_lambda_constant_signed_volume_is_nan() -> None:
    out = ms.kyle_lambda([1.0, 2.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0], 2)
    assert np.isnan(out).all()


def test_amihud_real_trades_equals_loop(trades: dict[str, Floats]) -> None:
    price, size = trades["price"], trades["size"]
    value = price * size
    ours = ms.amihud_illiquidity(price, value, 50)
    for t in range(50, len(price), 97):
        ratios = [abs(price[s] / price[s - 1] - 1.0) / value[s] for s in range(t - 49, t + 1)]
        assert ours[t] == pytest.approx(sum(ratios) / 50, rel=1e-12)
    assert np.isnan(ours[:50]).all()


def test_amihud_hand_example_skips_untraded_rows() -> None:
    out = ms.amihud_illiquidity([100.0, 101.0, 99.99, 99.99], [0.0, 1000.0, 0.0, 500.0], 2)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(0.01 / 1000.0)  # row 2 traded nothing: left out
    assert out[3] == 0.0  # only row 3 counts, and its return is 0
