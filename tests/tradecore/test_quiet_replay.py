"""The event-driven backtester hands a crossover strategy the closes of quiet bars (nothing
resting at the venue) in one call; the run must be the one `on_candle` per bar gives, exactly."""

import dataclasses

import numpy as np
import pytest

from tradecore import testing
from tradecore.backtest import CandleArrays, load_candles, run_candles
from tradecore.exchange import FixedLatency
from tradecore.strategies.signals import (
    EmaCrossConfig,
    EmaCrossStrategy,
    SmaCrossConfig,
    SmaCrossStrategy,
)


class SmaPerBar(SmaCrossStrategy):
    def on_candle(self, symbol, candle):  # same behaviour, but the runner cannot batch it
        return super().on_candle(symbol, candle)


class EmaPerBar(EmaCrossStrategy):
    def on_candle(self, symbol, candle):
        return super().on_candle(symbol, candle)


class SmaSeesTheWorld(SmaCrossStrategy):
    """Reads the clock and the last price where it acts, as a strategy may."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list = []

    def _act(self, entry, exit_):
        self.seen.append((self.ctx.now_ms(), self.ctx.last_price(self.symbol), entry, exit_))
        return super()._act(entry, exit_)


class SmaSeesTheWorldPerBar(SmaSeesTheWorld):
    def on_candle(self, symbol, candle):
        return super().on_candle(symbol, candle)


def _walk(n: int, seed: int, integer: bool) -> CandleArrays:
    """A random walk; with integer prices the two averages tie exactly now and then."""
    rng = np.random.default_rng(seed)
    close = 20_000 + np.cumsum(rng.normal(0, 15, n))
    if integer:
        close = np.round(close)
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) + 3
    low = np.minimum(open_, close) - 3
    ts = 1_600_000_000_000 + np.arange(n, dtype=np.int64) * 60_000
    return CandleArrays(ts, open_, high, low, close, rng.uniform(0.5, 5, n))


def _same(a, b) -> None:
    assert np.array_equal(a.equity, b.equity)
    assert [dataclasses.astuple(f) for f in a.fills] == [dataclasses.astuple(f) for f in b.fills]
    assert [repr(e) for e in a.events] == [repr(e) for e in b.events]
    assert a.metrics == b.metrics
    assert a.engine.strategy.snapshot() == b.engine.strategy.snapshot()


CASES = [
    (SmaCrossStrategy, SmaPerBar, SmaCrossConfig(fast=10, slow=30)),
    (SmaCrossStrategy, SmaPerBar, SmaCrossConfig(fast=3, slow=7, allocation=0.4)),
    (EmaCrossStrategy, EmaPerBar, EmaCrossConfig(fast=12, slow=26)),
]


@pytest.mark.parametrize(("fast_cls", "slow_cls", "config"), CASES)
@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"progress_every": 97, "progress": lambda done, total: None},  # chunk edges
        {"latency_model": FixedLatency(150_000)},  # orders rest over several bars
    ],
)
def test_quiet_bars_replay_exactly_as_one_call_per_bar(
    fast_cls, slow_cls, config, integer, options
):
    candles = _walk(6_000, seed=7, integer=integer)
    inst = testing.instrument()
    batched = run_candles(fast_cls(config, symbol=inst.symbol), candles, inst, **options)
    per_bar = run_candles(slow_cls(config, symbol=inst.symbol), candles, inst, **options)
    assert fast_cls(config).quiet_replay() is not None and slow_cls(config).quiet_replay() is None
    assert len(batched.fills) > 50
    _same(batched, per_bar)


def test_real_file_replays_exactly_as_one_call_per_bar(data_file):
    candles = load_candles(data_file("binance_BTC-USDT_1m.csv.gz"))
    inst = testing.instrument()
    config = SmaCrossConfig(fast=10, slow=30)
    batched = run_candles(SmaCrossStrategy(config, symbol=inst.symbol), candles, inst)
    per_bar = run_candles(SmaPerBar(config, symbol=inst.symbol), candles, inst)
    assert len(batched.fills) > 1_000
    _same(batched, per_bar)


def test_the_strategy_acts_with_the_clock_and_price_of_its_bar():
    candles = _walk(4_000, seed=3, integer=True)
    inst = testing.instrument()
    config = SmaCrossConfig(fast=5, slow=20)
    batched = run_candles(SmaSeesTheWorld(config, symbol=inst.symbol), candles, inst)
    per_bar = run_candles(SmaSeesTheWorldPerBar(config, symbol=inst.symbol), candles, inst)
    assert len(batched.engine.strategy.seen) > 100
    assert batched.engine.strategy.seen == per_bar.engine.strategy.seen
    _same(batched, per_bar)


class Forwarding:
    """A wrapper that forwards attributes and sees every bar (as the runtime's recorder)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.bars = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def on_start(self, ctx):
        return self.inner.on_start(ctx)

    def on_candle(self, symbol, candle):
        self.bars += 1
        return self.inner.on_candle(symbol, candle)


def test_a_forwarding_wrapper_still_sees_every_bar():
    candles = _walk(2_000, seed=5, integer=False)
    inst = testing.instrument()
    wrapper = Forwarding(SmaCrossStrategy(SmaCrossConfig(fast=5, slow=20), symbol=inst.symbol))
    run_candles(wrapper, candles, inst)
    assert wrapper.bars == len(candles)
