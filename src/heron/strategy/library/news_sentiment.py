"""``news_sentiment``: trade the decayed sentiment of the headlines about an instrument.

Headlines come from a file of timestamped headlines (:mod:`.headlines`; a file that a
collector appends to is a live feed) named by ``headlines``. Each is scored once by
VADER (``vaderSentiment``: a lexicon and rules shipped inside the package, no model to
download), whose *compound* score ``c`` lies in [-1, 1]. The score of an instrument at
time ``t`` is the sum of the compound scores of the headlines published at or before
``t``, each decayed by its age with the half-life ``half_life`` (seconds):

    S(t) = sum over headlines i with t_i <= t of  c_i * 2 ** (-(t - t_i) / half_life)

so a burst of bad news drives ``S`` down, and with no news ``S`` decays back toward 0.
It is kept incrementally (decay the running sum to ``t``, add the new headlines, each
decayed from its own time), in float64: a research signal, not money.

Which headlines count for an instrument: with ``topic`` empty, those whose ``symbol``
column is empty or the instrument's symbol (one file can drive several instruments, each
by its own headlines); with ``topic`` set, those whose ``symbol`` is ``topic`` (a file
about "BTC" for the "BTC-PERP" bars) or empty.

No look-ahead: on each bar the strategy reads the headlines stamped at or before the
clock. In a backtest the clock at a bar is the bar's open time, so a headline is first
acted on at the first bar opening at or after it was published (at worst one bar late,
never early); in paper and live the clock is the wall clock.

Rules on each bar, the band rules of ``momentum`` on ``S``:

* flat: long when ``S > entry``; short when ``S < -entry`` (``mode = "long-short"``);
* long: close when ``S <= exit`` (the good news has decayed, or turned bad); short:
  close when ``S >= -exit``; a close and an opposite entry may fall on one bar.

Entries are market orders for ``fraction`` of free equity (fees included) or a fixed
``quantity``; exits are reduce-only market orders; one order at a time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from heron.errors import InvalidConfiguration
from heron.model.data import Bar
from heron.strategy.base import EquityFraction, Strategy
from heron.strategy.library.headlines import Headline, HeadlineFile, HeadlineSource
from heron.strategy.params import Param

NS_PER_S = 1_000_000_000


class NewsSentiment(Strategy):
    """Long (or short) while the decayed VADER score of recent headlines is beyond entry."""

    name = "news_sentiment"
    headlines = Param("", doc="CSV or JSON Lines file of timestamped headlines, read as it "
                      "grows (relative to where heron is started)")
    topic = Param("", doc="count headlines whose symbol is this (empty: the instrument's "
                  "symbol); headlines with no symbol always count")
    half_life = Param(3600.0, gt=0.0, le=2_592_000.0, doc="seconds for a headline's weight "
                      "to halve")
    entry = Param(0.5, gt=0.0, le=100.0, doc="enter when the decayed score is beyond "
                  "+-entry")
    exit = Param(0.1, ge=0.0, le=100.0, doc="exit once the score is back at or inside "
                 "+-exit (below entry)")
    mode = Param("long-only", choices=("long-only", "long-short"), doc="which sides to trade")
    fraction = Param(Decimal("1"), gt=Decimal(0), le=Decimal(1),
                     doc="share of free equity per entry (fees included)")
    quantity = Param(Decimal(0), ge=Decimal(0),
                     doc="fixed size per entry instead of a fraction (0 = use fraction)")

    def validate(self) -> None:
        if not self.headlines:
            raise InvalidConfiguration(
                "news_sentiment: no headlines given; set headlines to a CSV or JSON Lines "
                "file with timestamp and headline columns")
        if self.exit >= self.entry:
            raise InvalidConfiguration(
                f"news_sentiment: exit ({self.exit}) must be below entry ({self.entry}); "
                "pass a smaller exit or a larger entry")

    def open_source(self) -> HeadlineSource:
        """Where headlines come from: the ``headlines`` file. Override to plug in another
        feed (anything with ``poll(now)`` and ``close()``, see :mod:`.headlines`)."""
        return HeadlineFile(self.headlines)

    def on_start(self) -> None:
        self.source = self.open_source()
        self.scorer = vader()
        self.rate = 1.0 / (self.half_life * NS_PER_S)  # half-lives per ns
        # per instrument id: the decayed score and the time it is decayed to
        self.scores: dict[str, list[float]] = {}
        self.short_ok = self.mode == "long-short"
        self.entry_size: Decimal | EquityFraction = (
            self.quantity if self.quantity else self.equity_fraction(self.fraction))
        self.working = self.ctx.om.open_orders  # live view: empty on most bars

    def on_stop(self) -> None:
        self.source.close()

    def on_bar(self, bar: Bar) -> None:
        score = self.update(self.now)[bar.instrument.id]
        if self.working and self.has_open_orders():
            return
        qty = self.position.qty
        if (qty > 0 and score <= self.exit) or (qty < 0 and score >= -self.exit):
            self.close_position()
        elif qty != 0:
            return
        if score > self.entry:
            self.buy(size=self.entry_size)
        elif score < -self.entry and self.short_ok:
            self.sell(size=self.entry_size)

    def update(self, now: int) -> dict[str, float]:
        """Every instrument's score decayed to ``now``, with the headlines due by then."""
        fresh = [(h.symbol, self.compound(h), h.ts) for h in self.source.poll(now)]
        out: dict[str, float] = {}
        for inst in self.instruments:
            value, at = self.scores.setdefault(inst.id, [0.0, now])
            value *= 2.0 ** (-(now - at) * self.rate)
            want = self.topic or inst.symbol
            for symbol, compound, ts in fresh:
                if symbol in ("", want):
                    value += compound * 2.0 ** (-(now - ts) * self.rate)
            self.scores[inst.id] = [value, now]
            out[inst.id] = value
        return out

    def compound(self, headline: Headline) -> float:
        """VADER's compound score of the headline's text, in [-1, 1]."""
        return float(self.scorer.polarity_scores(headline.text)["compound"])


def vader() -> Any:
    """VADER's analyser (imported here: listing strategies need not load its lexicon)."""
    from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
        SentimentIntensityAnalyzer,
    )

    return SentimentIntensityAnalyzer()
