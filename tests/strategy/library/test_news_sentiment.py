"""news_sentiment on real headlines and real bars.

The headlines are real Bitcoin headlines of 20-26 January 2022 (CoinTelegraph,
CryptoNews, CryptoPotato; see data/README.md), the bars the bundled BTC-PERP minutes of
the same month. The reference scores each headline with VADER directly, sums the
decayed scores by hand at every bar and walks the band rules; the strategy's round
trips must be exactly those.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import heron
from band_trades import heron_trades, reference_trades
from heron.data.bars import read_bars
from heron.errors import InvalidConfiguration
from heron.strategy.library.headlines import HeadlineFile, parse_time

ROOT = Path(__file__).resolve().parents[3]
BARS = ROOT / "data" / "btc-perp-20211231-20220201_1m.csv.gz"
NEWS = ROOT / "data" / "cryptonews_BTC_headlines_2022-01-20_2022-01-26.csv"
PARAMS = {"headlines": str(NEWS), "topic": "BTC", "half_life": 7200.0, "entry": 0.5,
          "exit": 0.1}
HOUR = 3_600_000_000_000


def rows(path: Path = NEWS) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, chosen: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["timestamp", "symbol", "source", "headline"])
        writer.writeheader()
        writer.writerows(chosen)
    return path


@pytest.fixture(scope="module")
def bar_times() -> np.ndarray:
    return read_bars(BARS).frame["ts"].to_numpy()  # open times, ns UTC


def reference_score(bar_times: np.ndarray, half_life: float) -> np.ndarray:
    """S at each bar's open time: the sum over headlines published at or before it of
    VADER's compound score times 2^(-age / half_life), computed from scratch per bar."""
    vader = SentimentIntensityAnalyzer()
    score = np.zeros(len(bar_times))
    for row in rows():
        compound = vader.polarity_scores(row["headline"])["compound"]
        seen = bar_times >= parse_time(row["timestamp"])
        age_s = (bar_times[seen] - parse_time(row["timestamp"])) / 1e9
        score[seen] += compound * 2.0 ** (-age_s / half_life)
    return score


def run(**params: object) -> heron.BacktestResult:
    return heron.backtest(BARS, strategy="news_sentiment", params={**PARAMS, **params},
                          fill="close", kind="perp")


def test_the_bundled_headlines_are_real_dated_bitcoin_news_inside_the_bars() -> None:
    news = rows()
    assert len(news) == 111
    assert {r["symbol"] for r in news} == {"BTC"}
    assert {r["source"] for r in news} == {"CoinTelegraph", "CryptoNews", "CryptoPotato"}
    stamps = [parse_time(r["timestamp"]) for r in news]
    assert stamps == sorted(stamps)
    assert parse_time("2022-01-20 00:00:00") <= stamps[0] < stamps[-1] < parse_time(
        "2022-01-27 00:00:00")


def test_long_short_round_trips_match_the_hand_computed_reference(bar_times) -> None:
    expected = reference_trades(reference_score(bar_times, 7200.0), 0.5, 0.1, shorts=True)
    assert {d for d, _, _ in expected} == {"long", "short"} and len(expected) >= 6
    assert heron_trades(run(mode="long-short")) == expected


def test_long_only_with_a_slower_decay_matches_the_reference(bar_times) -> None:
    expected = reference_trades(reference_score(bar_times, 21600.0), 0.8, 0.2, shorts=False)
    assert len(expected) >= 2
    assert heron_trades(run(half_life=21600.0, entry=0.8, exit=0.2)) == expected


def test_a_headline_is_acted_on_at_the_first_bar_opening_at_or_after_it(
        tmp_path: Path, bar_times) -> None:
    # one real headline (VADER compound +0.7579), published at 19:35:20
    relief = [r for r in rows() if r["headline"].startswith("Altcoins book 40% gain")]
    news = write_rows(tmp_path / "one.csv", relief)
    trades = heron_trades(run(headlines=str(news)))
    first = int(np.searchsorted(bar_times, parse_time(relief[0]["timestamp"])))
    assert bar_times[first - 1] < parse_time(relief[0]["timestamp"]) <= bar_times[first]
    assert trades[0][:2] == ("long", first)


def test_later_headlines_never_change_earlier_decisions(tmp_path: Path) -> None:
    cut = parse_time("2022-01-23 00:00:00")
    early = write_rows(tmp_path / "early.csv",
                       [r for r in rows() if parse_time(r["timestamp"]) < cut])
    full = run(mode="long-short").fills
    truncated = heron.backtest(BARS, strategy="news_sentiment", fill="close", kind="perp",
                               params={**PARAMS, "headlines": str(early),
                                       "mode": "long-short"}).fills
    before = full.filter(full["ts"] < cut)
    assert before.height >= 4
    assert truncated.filter(truncated["ts"] < cut).equals(before)
    assert not truncated.equals(full)  # the headlines after the cut do move later trades


def test_line_order_and_json_lines_give_the_same_trades(tmp_path: Path) -> None:
    shuffled = write_rows(tmp_path / "reversed.csv", rows()[::-1])
    jsonl = tmp_path / "news.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows()), encoding="utf-8")
    expected = heron_trades(run(mode="long-short"))
    assert heron_trades(run(mode="long-short", headlines=str(shuffled))) == expected
    assert heron_trades(run(mode="long-short", headlines=str(jsonl))) == expected


def test_a_growing_file_is_a_feed_released_by_time(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text("", encoding="utf-8")
    source = HeadlineFile(feed)
    first, second = rows()[0], rows()[1]
    t1, t2 = parse_time(first["timestamp"]), parse_time(second["timestamp"])
    with feed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(second) + "\n" + json.dumps(first) + "\n")
        handle.write('{"timestamp": "2022-01-20 05:00:00", "headl')  # being written
    assert source.poll(t1 - 1) == []
    assert [h.text for h in source.poll(t1)] == [first["headline"]]
    assert [h.text for h in source.poll(t2 + HOUR)] == [second["headline"]]
    with feed.open("a", encoding="utf-8") as handle:
        handle.write('ine": "x"}\nnot json\n')  # the rest of the line, then a bad one
    assert [h.ts for h in source.poll(t2 + 2 * HOUR)] == [parse_time("2022-01-20 05:00:00")]


@pytest.mark.parametrize(("text", "needle"), [
    ("time,headline\n2022-01-20 01:00:00,x\n", "line 1: header 'time,headline' has no "
     "timestamp column"),
    ("timestamp,headline\n2022-01-20 01:00:00,up\nyesterday,down\n",
     "line 3: timestamp 'yesterday' is not a time; write ISO 8601"),
    ("timestamp,headline\n2022-01-20 01:00:00,  \n", "line 2: has an empty headline"),
    ("timestamp,headline\n2022-01-20 01:00:00,Bitcoin up, again\n",
     "line 2: has 3 fields, the header 2; quote a headline that holds a comma"),
])
def test_bad_csv_lines_are_refused_with_the_line_and_the_fix(tmp_path: Path, text: str,
                                                             needle: str) -> None:
    news = tmp_path / "bad.csv"
    news.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidConfiguration) as caught:
        run(headlines=str(news))
    assert needle in str(caught.value) and str(news) in str(caught.value)


@pytest.mark.parametrize(("text", "needle"), [
    ('{"timestamp": "2022-01-20 01:00:00", "headline": "up"}\n{oops\n',
     "line 2: is not JSON"),
    ('["2022-01-20 01:00:00", "up"]\n', "line 1: is not a JSON object"),
    ('{"timestamp": "2022-01-20 01:00:00"}\n', "line 1: has no 'headline' key"),
    ('{"timestamp": 1642640400, "headline": "up"}\n', "timestamp 1642640400 is not text"),
])
def test_bad_json_lines_are_refused_with_the_line_and_the_fix(tmp_path: Path, text: str,
                                                              needle: str) -> None:
    news = tmp_path / "bad.jsonl"
    news.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidConfiguration) as caught:
        HeadlineFile(news)
    assert needle in str(caught.value)


@pytest.mark.parametrize(("params", "needle"), [
    ({"headlines": ""}, "no headlines given; set headlines"),
    ({"headlines": "no/such/news.csv"}, "headlines file no/such/news.csv not found"),
    ({"entry": 0.3, "exit": 0.3}, "exit (0.3) must be below entry (0.3)"),
    ({"half_life": 0.0}, "half_life=0.0 is out of range"),
    ({"mode": "short-only"}, "one of long-only, long-short"),
])
def test_bad_parameters_are_refused_with_the_rule(params: dict[str, object],
                                                  needle: str) -> None:
    with pytest.raises(InvalidConfiguration) as caught:
        run(**params)
    assert needle in str(caught.value)


def test_the_example_config_runs_as_written(tmp_path: Path) -> None:
    config = ROOT / "examples" / "news_sentiment.toml"
    proc = subprocess.run([sys.executable, "-m", "heron", "backtest", str(config), "--quiet",
                           "--json", str(tmp_path / "r.json"), "--report",
                           str(tmp_path / "r.html")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["bars"] == 45031 and doc["trades"] >= 6
