"""The vectorized path's shortcuts give the bars its definitions give: cross bars taken from the
two lines equal the strategy's `signals()`, and the fills found without a loop equal the state
machine's walk, on integer prices (exact SMA ties) and on signals that do not alternate."""

from __future__ import annotations

import numpy as np
import pytest

from tradecore import indicators as ind
from tradecore.backtest.data import CandleArrays
from tradecore.backtest.vectorized import (
    _fills_walk,
    cross_bars,
    positions_from_signals,
    signal_bars,
    signal_fills,
)
from tradecore.strategies import REGISTRY


def _integer_walk(n: int, seed: int) -> CandleArrays:
    rng = np.random.default_rng(seed)
    close = (20_000 + np.cumsum(rng.integers(-3, 4, n))).astype(float)
    return CandleArrays(np.arange(n, dtype=np.int64) * 60_000, close, close + 1, close - 1, close,
                        np.ones(n))  # fmt: skip


def test_cross_bars_are_the_bars_of_crossed_above_and_below_through_exact_ties():
    close = _integer_walk(20_000, 3).close
    fast, slow = ind.sma(close, 10), ind.sma(close, 30)
    ties = int(np.count_nonzero(fast == slow))
    assert ties > 10  # integer prices: the two averages are exactly equal on some bars
    ups, downs = cross_bars(fast, slow)
    assert np.array_equal(ups, np.flatnonzero(ind.crossed_above(fast, slow)))
    assert np.array_equal(downs, np.flatnonzero(ind.crossed_below(fast, slow)))


@pytest.mark.parametrize("name", ["sma_cross", "ema_cross", "rsi_mean_reversion", "macd"])
def test_signal_bars_are_the_strategys_signals(name):
    candles = _integer_walk(5_000, 5)
    cls = REGISTRY[name]
    strategy = cls(cls.config_class())
    entries, exits = strategy.signals(candles.open, candles.high, candles.low, candles.close,
                                      candles.volume)  # fmt: skip
    for last, stop in ((False, len(candles) - 1), (True, len(candles))):
        got = signal_bars(strategy, candles, last=last)
        assert np.array_equal(got[0], np.flatnonzero(entries[:stop]))
        assert np.array_equal(got[1], np.flatnonzero(exits[:stop]))


def test_fills_without_a_loop_equal_the_state_machines_walk():
    rng = np.random.default_rng(11)
    alternating = 0
    for _ in range(500):
        entries, exits = rng.random(300) < 0.04, rng.random(300) < 0.04
        if rng.random() < 0.5:  # crossover-like: entries and exits alternate
            bars = np.sort(rng.choice(299, 20, replace=False))
            entries, exits = np.zeros(300, bool), np.zeros(300, bool)
            entries[bars[0::2]], exits[bars[1::2]] = True, True
            alternating += 1
        e, x = np.flatnonzero(entries[:299]), np.flatnonzero(exits[:299])
        walk = _fills_walk(e.tolist(), x.tolist())
        fast = signal_fills(e, x)
        assert np.array_equal(fast[0], walk[0]) and np.array_equal(fast[1], walk[1])
        assert positions_from_signals(entries, exits) == (walk[0].tolist(), walk[1].tolist())
    assert alternating > 100
