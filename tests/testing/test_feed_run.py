"""The feed-test harness itself (:mod:`heron.testing.feed_run`): what it waits for, what it
says when a wait runs out, and what it checks when the session stops. The venue is the
Binance USD-M loopback server on the first lines of the real capture."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_VENUES, need
from heron.data.feeds.adapter import adapter_for
from heron.data.feeds.streams import Stream
from heron.model.data import Trade
from heron.model.feed import FeedState
from heron.testing.feed_run import run_feed
from heron.testing.venues.binance import BinanceUsdmProfile

USDM = SHARED_VENUES / "binance_usdm"
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def profile() -> BinanceUsdmProfile:
    return BinanceUsdmProfile.recorded(need(USDM), lines=600)


def test_run_feed_holds_the_data_until_the_subscribes_and_ends_stopped(
        profile: BinanceUsdmProfile) -> None:
    first = next(f for f in profile.frames() if f.topic == "btcusdt@trade")
    run = run_feed(profile, adapter_for("binanceusdm"), [SYMBOL], [Stream.TRADES],
                   until=lambda r: len(r.of(Trade)) >= 3, subscribes=1, keep_frames=True)
    assert run.server.subscribes() == [
        {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}]
    assert run.of(Trade)[0].trade_id == str(json.loads(first.text)["t"])
    assert first.text in run.frames  # the recording from its start: nothing sent early
    assert run.states()[-1] == (FeedState.STOPPED, "stopped")
    assert run.instrument(SYMBOL).symbol == "BTCUSDT"


def test_run_feed_timeout_names_what_it_waited_for_and_the_health(
        profile: BinanceUsdmProfile) -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.5 s waiting for the expected "
                                             r"events; health: \[.*'data arriving'"):
        run_feed(profile, adapter_for("binanceusdm"), [SYMBOL], [Stream.TRADES],
                 until=lambda r: False, subscribes=1, timeout_s=0.5)


def test_run_feed_waits_for_as_many_subscribes_as_asked(profile: BinanceUsdmProfile) -> None:
    with pytest.raises(AssertionError, match="waiting for 2 subscribe requests"):
        run_feed(profile, adapter_for("binanceusdm"), [SYMBOL], [Stream.TRADES],
                 until=lambda r: True, subscribes=2, timeout_s=0.5)


def test_keep_frames_and_a_raw_sink_of_ones_own_are_refused(
        profile: BinanceUsdmProfile) -> None:
    with pytest.raises(TypeError, match="keep_frames collects the frames itself"):
        run_feed(profile, adapter_for("binanceusdm"), [SYMBOL], [Stream.TRADES],
                 until=lambda r: True, keep_frames=True, raw=lambda *frame: None)
