"""Hand-built scenarios for the signal strategies: known series in, known signal bars out."""

from decimal import Decimal as D

import numpy as np

from tradecore.backtest import CandleArrays, run_candles
from tradecore.domain import Candle, Instrument, Side
from tradecore.strategies.signals import (
    BollingerConfig,
    BollingerStrategy,
    EmaCrossConfig,
    EmaCrossStrategy,
    MacdConfig,
    MacdStrategy,
    RsiMeanReversionConfig,
    RsiMeanReversionStrategy,
)

INST = Instrument("BTC-USDT", "BTC", "USDT", D("0.01"), D("0.0001"), D(0), D(0), D(0))


def arrays(closes):
    closes = np.asarray(closes, dtype=float)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    ts = np.arange(len(closes), dtype=np.int64) * 60_000
    return CandleArrays(ts, opens, np.maximum(opens, closes), np.minimum(opens, closes), closes,
                        np.ones(len(closes)))  # fmt: skip


def signal_bars(strategy, closes):
    steps = [strategy.step(Candle(i * 60_000, c, c, c, c, 1.0)) for i, c in enumerate(closes)]
    return [i for i, (e, _) in enumerate(steps) if e], [i for i, (_, x) in enumerate(steps) if x]


V = [10.0] * 6 + [9, 8, 7, 6, 5] + [6, 7, 8, 9, 10, 11, 12] + [11, 10, 9, 8, 7]


def test_ema_cross_enters_on_the_rebound_and_exits_on_the_roll_over():
    entries, exits = signal_bars(EmaCrossStrategy(EmaCrossConfig(fast=2, slow=4)), V)
    # bar 12: EMA2 6.61 > EMA4 6.54 after 5.83 < 6.23; bar 19: EMA2 drops back below EMA4.
    # The first dip (bar 6) starts from EMA2 == EMA4, which is not a cross.
    assert entries == [12] and exits == [19]
    result = run_candles(EmaCrossStrategy(EmaCrossConfig(fast=2, slow=4)), arrays(V), INST)
    assert [(f.side, f.price) for f in result.fills] == [(Side.BUY, D("7")), (Side.SELL, D("10"))]


def test_rsi_buys_the_oversold_dip_and_sells_the_overbought_rally():
    closes = [100, 101, 100, 101, 100, 95, 90, 86, 84, 85, 88, 92, 97, 103, 110, 115]
    config = RsiMeanReversionConfig(period=3, oversold=20, overbought=80)
    entries, exits = signal_bars(RsiMeanReversionStrategy(config), closes)
    # RSI(3): 44.4 -> 12.7 at bar 5 (crosses under 20); 71.7 -> 84.5 at bar 12 (over 80)
    assert entries == [5] and exits == [12]
    result = run_candles(RsiMeanReversionStrategy(config), arrays(closes), INST)
    buy, sell = result.fills
    assert (buy.price, sell.price) == (D("95"), D("97"))  # the next bars' opens
    assert result.final_equity > 0


def test_macd_follows_the_turns_of_a_wave():
    closes = list(100 + 10 * np.sin(np.arange(120) / 8.0))
    entries, exits = signal_bars(MacdStrategy(MacdConfig(fast=3, slow=6, signal=3)), closes)
    assert len(entries) >= 2 and len(exits) >= 2
    for bar in entries:  # the line crosses up shortly after each trough of the wave
        phase = (bar / 8.0) % (2 * np.pi)
        assert 3 * np.pi / 2 - 1 < phase or phase < 1.2


def test_bollinger_buys_below_the_lower_band_and_sells_above_the_middle():
    closes = [100, 101, 99, 100, 101, 99, 100, 101, 99, 100, 90, 92, 96, 101, 102]
    config = BollingerConfig(period=5, k=1.5)
    entries, exits = signal_bars(BollingerStrategy(config), closes)
    assert entries[0] == 10  # the drop to 90 pierces the lower band (91.93)
    assert [x for x in exits if x > 10][0] == 12  # 96 is back above the middle band (95.4)
    result = run_candles(BollingerStrategy(config), arrays(closes), INST)
    assert [f.side for f in result.fills] == [Side.BUY, Side.SELL]
    assert result.fills[1].price > result.fills[0].price
