"""Market-microstructure features on trades and order-book arrays.

Pure functions on NumPy arrays, one value per event (a quote update, a trade, a
bar or a book snapshot), NaN where a feature is not yet defined. Conventions:

- An *aggressor* array holds +1 where the buyer took liquidity, -1 where the seller
  did and 0 where unknown (Binance's ``is_buyer_maker=True`` is a seller-initiated
  trade: ``aggressor = np.where(buyer_maker, -1, 1)``).
- *Signed volume* is ``size * aggressor``.
- Book arrays for :func:`vamp` are 2-D, one row per snapshot and one column per
  level, best level first.

References, each with its formula in the function's docstring:

- Cont, Kukanov, Stoikov (2014), "The Price Impact of Order Book Events",
  Journal of Financial Econometrics 12(1): order-flow imbalance.
- Easley, López de Prado, O'Hara (2012), "Flow Toxicity and Liquidity in a
  High-frequency World", Review of Financial Studies 25(5): VPIN with bulk-volume
  classification.
- Kyle (1985), "Continuous Auctions and Insider Trading", Econometrica 53(6), and
  Hasbrouck (2009), "Trading Costs and Returns for U.S. Equities", Journal of
  Finance 64(3): Kyle's lambda as a regression slope.
- Amihud (2002), "Illiquidity and stock returns", Journal of Financial Markets 5(1).
- Stoikov (2018), "The micro-price", Quantitative Finance 18(12).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from heron.analytics.inputs import (
    FloatArray,
    InvalidParameter,
    aligned,
    check_number,
    check_period,
    nan_array,
)
from heron.analytics.jit import kernel


def order_flow_imbalance(
    bid_price: ArrayLike,
    bid_size: ArrayLike,
    ask_price: ArrayLike,
    ask_size: ArrayLike,
    *,
    window: int | None = None,
) -> FloatArray:
    """Order-flow imbalance of best bid/ask updates (Cont, Kukanov & Stoikov 2014).

    Each update ``n`` contributes::

        e_n = 1[Pb_n >= Pb_n-1] qb_n - 1[Pb_n <= Pb_n-1] qb_n-1
            - 1[Pa_n <= Pa_n-1] qa_n + 1[Pa_n >= Pa_n-1] qa_n-1

    (a higher or growing bid, or a higher or shrinking ask, is buying pressure). With
    ``window=None`` the result is ``e_n`` per update (NaN for the first, which has no
    previous quote); with ``window=k`` it is the OFI of the last ``k`` updates,
    ``sum(e_n-k+1 .. e_n)``, defined from update ``k``. The paper regresses mid-price
    changes on OFI summed over fixed time intervals: sum ``e_n`` per interval for that.
    """
    pb, qb, pa, qa = aligned(
        "order_flow_imbalance",
        bid_price=bid_price,
        bid_size=bid_size,
        ask_price=ask_price,
        ask_size=ask_size,
    )
    out = nan_array(len(pb))
    if len(pb) > 1:
        bid_flow = np.where(pb[1:] >= pb[:-1], qb[1:], 0.0) - np.where(
            pb[1:] <= pb[:-1], qb[:-1], 0.0
        )
        ask_flow = np.where(pa[1:] <= pa[:-1], qa[1:], 0.0) - np.where(
            pa[1:] >= pa[:-1], qa[:-1], 0.0
        )
        out[1:] = bid_flow - ask_flow
    if window is None:
        return out
    check_period("order_flow_imbalance", "window", window, 1, 100)
    summed = nan_array(len(out))
    if len(out) > window:
        summed[window:] = sliding_window_view(out[1:], window).sum(axis=1)
    return summed


class Vpin(NamedTuple):
    """VPIN per volume bucket, and where each bucket closed.

    ``end`` is the index of the input row that filled each bucket, so
    ``ts[end]`` gives the time at which each VPIN value became known.
    """

    vpin: FloatArray
    end: NDArray[np.int64]
    buy_volume: FloatArray
    sell_volume: FloatArray


def vpin(
    price: ArrayLike,
    volume: ArrayLike,
    bucket_volume: float,
    window: int = 50,
    *,
    sigma: float | None = None,
) -> Vpin:
    """Volume-synchronised probability of informed trading (Easley, López de Prado, O'Hara 2012).

    Rows (time bars or trades) are classified by bulk-volume classification: row ``i``
    with price change ``dP_i = P_i - P_i-1`` counts ``V_i * Phi(dP_i / sigma)`` as buys
    and the rest as sells (``Phi`` the standard normal CDF). Rows fill buckets of
    ``bucket_volume`` in order, a row spilling into the next bucket with its buy share;
    the first row only gives the first reference price, and a last, partly filled
    bucket is dropped. For bucket ``t``, once ``window`` buckets exist::

        VPIN_t = sum(|B_j - S_j| for the last `window` buckets) / (window * bucket_volume)

    ``sigma`` is the standard deviation of price changes. Left out, it is taken from
    all the price changes given (``ddof=1``, the paper's choice): that looks at the
    whole sample, so in a backtest pass a ``sigma`` measured before the data instead.
    """
    size = check_number("vpin", "bucket_volume", bucket_volume, minimum=0.0, example=1000.0)
    if size == 0.0:
        raise InvalidParameter("vpin bucket_volume must be positive, e.g. 1/50 of a day's volume")
    check_period("vpin", "window", window, 1, 50)
    p, v = aligned("vpin", price=price, volume=volume)
    if np.any(v < 0.0):
        raise InvalidParameter("vpin volume must be >= 0 everywhere; pass traded sizes")
    change = np.diff(p)
    scale = _price_change_sigma(change, sigma)
    # Room for every full bucket the volume can make, plus slack for rounding and
    # for the partly filled last one (the kernel does not bounds-check).
    capacity = int(float(v[1:].sum()) // size) + 2
    buys, sells = np.zeros(capacity), np.zeros(capacity)
    ends = np.zeros(capacity, dtype=np.int64)
    count = int(_bucket_kernel(v[1:], change, scale, size, buys, sells, ends))
    buys, sells, ends = buys[:count], sells[:count], ends[:count] + 1
    values = nan_array(count)
    if count >= window:
        imbalance = sliding_window_view(np.abs(buys - sells), window).sum(axis=1)
        values[window - 1 :] = imbalance / (window * size)
    return Vpin(values, ends, buys, sells)


def _price_change_sigma(change: FloatArray, sigma: float | None) -> float:
    if sigma is not None:
        return check_number("vpin", "sigma", sigma, minimum=0.0, example=5.0)
    if len(change) < 2:
        return 0.0
    return float(np.std(change, ddof=1))


@kernel
def _bucket_kernel(
    volume: FloatArray,
    change: FloatArray,
    sigma: float,
    size: float,
    buys: FloatArray,
    sells: FloatArray,
    ends: NDArray[np.int64],
) -> int:
    bucket = 0
    room = size
    for i in range(len(volume)):
        share = 0.5
        if sigma > 0.0:
            share = 0.5 * (1.0 + math.erf(change[i] / (sigma * math.sqrt(2.0))))
        left = volume[i]
        while left > 0.0 and left >= room:
            buys[bucket] += room * share
            sells[bucket] += room * (1.0 - share)
            ends[bucket] = i
            left -= room
            bucket += 1
            room = size
        if left > 0.0:
            buys[bucket] += left * share
            sells[bucket] += left * (1.0 - share)
            room -= left
    return bucket


def kyle_lambda(price: ArrayLike, signed_volume: ArrayLike, window: int) -> FloatArray:
    """Kyle's lambda: the price impact per unit of signed volume, by rolling OLS.

    Over the last ``window`` rows, regress price changes on signed volume with an
    intercept, ``dP_t = a + lambda * q_t + e_t`` (Kyle 1985; the estimator of
    Hasbrouck 2009), where ``dP_t = P_t - P_t-1`` and ``q_t`` is the signed volume of
    row ``t`` (a trade's signed size, or a bar's sum of them)::

        lambda = sum((q - mean q) * (dP - mean dP)) / sum((q - mean q)^2)

    Defined from row ``window`` (the first row has no price change); NaN where the
    window's signed volume does not vary.
    """
    check_period("kyle_lambda", "window", window, 2, 100)
    p, q = aligned("kyle_lambda", price=price, signed_volume=signed_volume)
    out = nan_array(len(p))
    if len(p) > window:
        _rolling_slope_kernel(q[1:], np.diff(p), window, out[1:])
    return out


@kernel
def _rolling_slope_kernel(x: FloatArray, y: FloatArray, window: int, out: FloatArray) -> None:
    for end in range(window - 1, len(x)):
        start = end - window + 1
        sum_x = 0.0
        sum_y = 0.0
        for i in range(start, end + 1):
            sum_x += x[i]
            sum_y += y[i]
        mean_x = sum_x / window
        mean_y = sum_y / window
        sxy = 0.0
        sxx = 0.0
        for i in range(start, end + 1):
            dx = x[i] - mean_x
            sxy += dx * (y[i] - mean_y)
            sxx += dx * dx
        if sxx > 0.0:
            out[end] = sxy / sxx


def amihud_illiquidity(price: ArrayLike, dollar_volume: ArrayLike, window: int) -> FloatArray:
    """Amihud's illiquidity ratio: mean absolute return per unit of traded value (Amihud 2002).

    ``ILLIQ_t = mean(|r_s| / DV_s)`` over the last ``window`` rows ``s``, with simple
    returns ``r_s = P_s / P_s-1 - 1`` and ``DV_s`` the traded value (price x volume) of
    row ``s``. Rows without traded value have no ratio and are left out of the mean;
    NaN where a window has none, and before row ``window``. Amihud's daily figure is
    often quoted x 1e6; no scaling is applied here.
    """
    check_period("amihud_illiquidity", "window", window, 1, 20)
    p, dv = aligned("amihud_illiquidity", price=price, dollar_volume=dollar_volume)
    out = nan_array(len(p))
    if len(p) <= window:
        return out
    traded = dv[1:] > 0.0
    ratio = np.zeros(len(p) - 1)
    returns = p[1:] / p[:-1] - 1.0
    ratio[traded] = np.abs(returns[traded]) / dv[1:][traded]
    total = sliding_window_view(ratio, window).sum(axis=1)
    count = sliding_window_view(traded.astype(np.float64), window).sum(axis=1)
    has = count > 0.0
    out[window:][has] = total[has] / count[has]
    return out


def signed_volume(size: ArrayLike, aggressor: ArrayLike) -> FloatArray:
    """``size * aggressor``: positive for buyer-initiated trades, negative for sells, 0 unknown."""
    s, side = aligned("signed_volume", size=size, aggressor=aggressor)
    if not np.all(np.isin(side, (-1.0, 0.0, 1.0))):
        raise InvalidParameter(
            "signed_volume aggressor must be +1 (buyer took liquidity), -1 (seller did) or 0; "
            "for Binance trades use np.where(is_buyer_maker, -1, 1)"
        )
    out: FloatArray = s * side
    return out


def cumulative_volume_delta(
    size: ArrayLike, aggressor: ArrayLike, *, sessions: ArrayLike | None = None
) -> FloatArray:
    """Running sum of signed volume (buys minus sells), restarting with each session.

    ``sessions`` labels each trade with its session (e.g. ``ts // 86_400_000_000_000``
    for UTC days); without it the sum runs over the whole array.
    """
    delta = signed_volume(size, aggressor)
    starts = np.zeros(len(delta), dtype=np.bool_)
    if len(delta):
        starts[0] = True
    if sessions is not None:
        labels = np.asarray(sessions)
        if labels.shape != delta.shape:
            raise InvalidParameter(
                f"cumulative_volume_delta sessions must hold one label per trade "
                f"({delta.shape}), got shape {labels.shape}"
            )
        starts[1:] |= labels[1:] != labels[:-1]
    out = np.empty(len(delta))
    _segmented_cumsum_kernel(delta, starts, out)
    return out


@kernel
def _segmented_cumsum_kernel(x: FloatArray, starts: NDArray[np.bool_], out: FloatArray) -> None:
    total = 0.0
    for i in range(len(x)):
        if starts[i]:
            total = 0.0
        total += x[i]
        out[i] = total


def microprice(
    bid_price: ArrayLike, bid_size: ArrayLike, ask_price: ArrayLike, ask_size: ArrayLike
) -> FloatArray:
    """Size-weighted mid: ``(bid * ask_size + ask * bid_size) / (bid_size + ask_size)``.

    Leans toward the side with less size, where the price is likelier to move. This is
    the imbalance-weighted mid ``I * ask + (1 - I) * bid`` with ``I = qb / (qb + qa)``,
    the first-order form that Stoikov (2018) starts from; his micro-price proper adds
    a correction estimated from the data's imbalance and spread dynamics, which is not
    computed here. NaN where both sizes are 0.
    """
    pb, qb, pa, qa = aligned(
        "microprice", bid_price=bid_price, bid_size=bid_size, ask_price=ask_price, ask_size=ask_size
    )
    depth = qb + qa
    out = nan_array(len(pb))
    has = depth > 0.0
    out[has] = (pb[has] * qa[has] + pa[has] * qb[has]) / depth[has]
    return out


def vamp(
    bid_prices: ArrayLike,
    bid_sizes: ArrayLike,
    ask_prices: ArrayLike,
    ask_sizes: ArrayLike,
    levels: int | None = None,
) -> FloatArray:
    """Volume-adjusted mid price over the best ``levels`` levels of each book snapshot.

    Each level's prices are weighted by the opposite side's size, as in the
    microprice, and the levels pooled::

        VAMP = sum_i (Pb_i * Qa_i + Pa_i * Qb_i) / sum_i (Qb_i + Qa_i),  i = 1 .. levels

    so ``levels=1`` is :func:`microprice`, and deeper levels pull the price toward the
    thinner side of the visible book. Inputs are 2-D (snapshots x levels, best first);
    ``levels`` defaults to all columns. A level missing on either side (NaN price or
    size, as in a thin book) is left out for both. NaN for a snapshot without size.
    """
    arrays = [
        _book_side(name, a)
        for name, a in (
            ("bid_prices", bid_prices),
            ("bid_sizes", bid_sizes),
            ("ask_prices", ask_prices),
            ("ask_sizes", ask_sizes),
        )
    ]
    if len({a.shape for a in arrays}) > 1:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise InvalidParameter(
            f"vamp needs four arrays of one shape (snapshots x levels), got {shapes}"
        )
    depth = arrays[0].shape[1]
    n = depth if levels is None else check_period("vamp", "levels", levels, 1, 5)
    if n > depth:
        raise InvalidParameter(f"vamp levels={n} but the book arrays hold {depth}; pass <= {depth}")
    pb, qb, pa, qa = (a[:, :n] for a in arrays)
    # A level is used only where both sides have it: each side's price is weighted by
    # the other side's size, so a one-sided level has nothing to pair with.
    both = np.isfinite(pb) & np.isfinite(qb) & np.isfinite(pa) & np.isfinite(qa)
    pb, qb, pa, qa = (np.where(both, a, 0.0) for a in (pb, qb, pa, qa))
    weight = (qb + qa).sum(axis=1)
    value = (pb * qa + pa * qb).sum(axis=1)
    out = nan_array(len(weight))
    has = weight > 0.0
    out[has] = value[has] / weight[has]
    return out


def _book_side(name: str, values: ArrayLike) -> FloatArray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidParameter(
            f"vamp {name} must be 2-D (one row per snapshot, one column per level), "
            f"got shape {arr.shape}"
        )
    return arr


__all__ = [
    "Vpin",
    "amihud_illiquidity",
    "cumulative_volume_delta",
    "kyle_lambda",
    "microprice",
    "order_flow_imbalance",
    "signed_volume",
    "vamp",
    "vpin",
]
