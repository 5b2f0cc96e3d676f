"""Funding-rate history for perpetual backtests: ``(ts ns, rate as Decimal)`` pairs.

Accepted, detected by content like bar files: CSV with a header (Binance's archive
``calc_time,funding_interval_hours,last_funding_rate``, or any file with a time and a
rate column), and freqtrade's funding-rate feather, where the rate is stored in the
``open`` column. Rates read from text keep their exact decimal digits; rates stored as
binary floats are taken at their shortest round-trip representation.
"""

from __future__ import annotations

import io
import itertools
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from heron.data.bar_columns import BarSource, to_ns
from heron.data.bar_formats import read_file_bytes, unpack
from heron.errors import DataError

TIME_NAMES = ("calc_time", "fundingtime", "funding_time", "timestamp", "datetime", "date",
              "time", "ts")
RATE_NAMES = ("last_funding_rate", "funding_rate", "fundingrate", "rate", "open")


def read_funding(path: str | Path) -> list[tuple[int, Decimal]]:
    """Funding events of one instrument, sorted by time, each rate an exact Decimal."""
    source = Path(path)
    data = unpack(read_file_bytes(source), str(source))
    frame = _table(data, str(source))
    src = BarSource(str(source), "row", 1)
    time_col = _pick(frame.columns, TIME_NAMES, "time", src)
    rate_col = _pick(frame.columns, RATE_NAMES, "rate", src)
    ts = to_ns(frame[time_col], src).to_list()
    rates = [_rate(value, k, src) for k, value in enumerate(frame[rate_col].to_list())]
    events = sorted(zip(ts, rates, strict=True))
    for (a, _), (b, _) in itertools.pairwise(events):
        if a == b:
            raise src.error(f"two funding rates at the same time ({a} ns)",
                            "keep one rate per funding time")
    return events


def _table(data: bytes, name: str) -> pl.DataFrame:
    try:
        if data.startswith(b"ARROW1"):
            return pl.read_ipc(io.BytesIO(data))
        if data.startswith(b"PAR1"):
            return pl.read_parquet(io.BytesIO(data))
        return pl.read_csv(data, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DataError(f"{name}: cannot read funding rates ({str(exc).splitlines()[0]}); "
                        "pass a CSV, Parquet or Feather file with time and rate columns"
                        ) from None


def _pick(columns: list[str], accepted: tuple[str, ...], role: str, src: BarSource) -> str:
    by_name = {c.strip().lower(): c for c in columns}
    for name in accepted:
        if name in by_name:
            return by_name[name]
    raise src.error(f"no {role} column among {columns}",
                    f"name it one of {', '.join(accepted)}")


def _rate(value: object, index: int, src: BarSource) -> Decimal:
    try:
        rate = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        rate = Decimal("NaN")
    if value is None or not rate.is_finite():
        raise src.error(f"funding rate {value!r} at {src.at(index)} is not a number",
                        "fix or remove that row")
    return rate
