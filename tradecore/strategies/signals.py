"""Trend-following and mean-reversion signal strategies (long-only spot)."""

from __future__ import annotations

import dataclasses

import numpy as np

from tradecore import indicators as ind
from tradecore.domain import Candle
from tradecore.strategies.base import (
    NO_INTENTS,
    ConfigError,
    SignalConfig,
    SignalStrategy,
    param,
)


def _sign_of(a: float | None, b: float | None) -> int:
    """The side of a checkpoint's last pair (older checkpoints kept only the pair)."""
    if a is None or b is None:  # JSON checkpoints store NaN as null
        return 0
    return 1 if a > b else -1 if a < b else 0


def _prev_and(values: np.ndarray, prev_ok: np.ndarray, now_ok: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    out[1:] = prev_ok[:-1] & now_ok[1:]
    return out


@dataclasses.dataclass(frozen=True)
class SmaCrossConfig(SignalConfig):
    """Long when the fast SMA crosses above the slow SMA; flat when it crosses below."""

    fast: int = param(10, "Fast SMA period in bars", minimum=1, maximum=10_000)
    slow: int = param(30, "Slow SMA period in bars", minimum=2, maximum=10_000)

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise ConfigError("fast", f"must be shorter than slow ({self.slow}), got {self.fast}")


class SmaCrossStrategy(SignalStrategy):
    """SMA crossover: a cross up is fast > slow after the last bar where they differed had
    fast < slow (and the mirror for down), so a cross through an exact tie counts once, at the
    bar where the sign changes; a tie that touches and turns back is no cross."""

    strategy_id = "sma_cross"
    config_class = SmaCrossConfig
    _average = ind.StreamingSMA
    _vector = staticmethod(ind.sma)

    @property
    def warmup_bars(self) -> int:
        return self.config.slow + 1  # a cross compares two bars of both averages

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._fast = self._average(self.config.fast)
        self._slow = self._average(self.config.slow)
        self._prev_fast = self._prev_slow = float("nan")
        self._sign = 0  # +1 fast above slow, -1 below, on the last bar where they differed

    def on_candle(self, symbol: str, candle: Candle):
        # Same rule as step(), unrolled: this runs once per bar in every backtest.
        close = candle[4]
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        self._prev_fast = fast
        self._prev_slow = slow
        if fast > slow:
            if self._sign < 0:
                self._sign = 1
                if symbol == self.symbol:
                    return self._act(True, False)
            self._sign = 1
        elif fast < slow:
            if self._sign > 0:
                self._sign = -1
                if symbol == self.symbol:
                    return self._act(False, True)
            self._sign = -1
        return NO_INTENTS

    def quiet_replay(self):
        """`replay_closes`, the batch form of `on_candle` for the event-driven backtester, or
        None when a subclass changed `on_candle` (then only `on_candle` knows what a bar does)."""
        if type(self).on_candle is not SmaCrossStrategy.on_candle:
            return None
        return self.replay_closes

    def replay_closes(self, symbol: str, closes: list[float], start: int, stop: int, at):
        """Feed closes[start:stop] as `on_candle` would, one bar at a time, and return
        (index after the last bar fed, intents) at the first bar whose `on_candle` would return
        intents, or (stop, NO_INTENTS). `at(k)` is called before acting on bar k: the caller
        sets the world (clock, last price) as it would be for that bar's `on_candle`."""
        fast_update, slow_update = self._fast.update, self._slow.update
        sign = self._sign
        mine = symbol == self.symbol
        fast, slow = self._prev_fast, self._prev_slow
        for k in range(start, stop):
            close = closes[k]
            fast = fast_update(close)
            slow = slow_update(close)
            if fast > slow:
                if sign < 0 and mine:
                    self._sign = 1
                    self._prev_fast, self._prev_slow = fast, slow
                    at(k)
                    intents = self._act(True, False)
                    if intents:
                        return k + 1, intents
                sign = 1
            elif fast < slow:
                if sign > 0 and mine:
                    self._sign = -1
                    self._prev_fast, self._prev_slow = fast, slow
                    at(k)
                    intents = self._act(False, True)
                    if intents:
                        return k + 1, intents
                sign = -1
        self._sign = sign
        self._prev_fast, self._prev_slow = fast, slow
        return stop, NO_INTENTS

    def step(self, candle: Candle) -> tuple[bool, bool]:
        close = candle.close
        fast = self._fast.update(close)
        slow = self._slow.update(close)
        self._prev_fast, self._prev_slow = fast, slow
        return self._crossed(fast, slow)

    def _crossed(self, fast: float, slow: float) -> tuple[bool, bool]:
        """(crossed up, crossed down) by the last non-zero sign rule; NaN and ties keep it."""
        sign = 1 if fast > slow else -1 if fast < slow else 0
        if not sign:
            return False, False
        before, self._sign = self._sign, sign
        return before < 0 < sign, sign < 0 < before

    def signals(self, open_, high, low, close, volume):
        fast = self._average_array(close, self.config.fast)
        slow = self._average_array(close, self.config.slow)
        return ind.crossed_above(fast, slow), ind.crossed_below(fast, slow)

    def _average_array(self, close, period: int):
        """The moving average, shared through `indicator_cache` when a sweep provides one."""
        cache = getattr(self, "indicator_cache", None)
        if cache is None:
            return self._vector(close, period)
        key = (self.strategy_id, period, id(close))
        if key not in cache:
            cache[key] = self._vector(close, period)
        return cache[key]

    def snapshot(self) -> dict:
        return {
            "fast": self._fast.snapshot(),
            "slow": self._slow.snapshot(),
            "prev": [self._prev_fast, self._prev_slow],
            "sign": self._sign,
        }

    def restore(self, state: dict) -> None:
        self._fast.restore(state["fast"])
        self._slow.restore(state["slow"])
        self._prev_fast, self._prev_slow = state["prev"]
        self._sign = state.get("sign", _sign_of(*state["prev"]))


@dataclasses.dataclass(frozen=True)
class EmaCrossConfig(SmaCrossConfig):
    """Long when the fast EMA crosses above the slow EMA; flat when it crosses below."""

    fast: int = param(12, "Fast EMA period in bars", minimum=1, maximum=10_000)
    slow: int = param(26, "Slow EMA period in bars", minimum=2, maximum=10_000)


class EmaCrossStrategy(SmaCrossStrategy):
    """EMA crossover, same cross rule as the SMA version."""

    strategy_id = "ema_cross"
    config_class = EmaCrossConfig
    _average = ind.StreamingEMA
    _vector = staticmethod(ind.ema)


@dataclasses.dataclass(frozen=True)
class RsiMeanReversionConfig(SignalConfig):
    """Buy when RSI crosses below `oversold`; sell when it crosses above `overbought`."""

    period: int = param(14, "RSI period in bars", minimum=2, maximum=1_000)
    oversold: float = param(30.0, "Entry threshold", minimum=0, maximum=100)
    overbought: float = param(70.0, "Exit threshold", minimum=0, maximum=100)

    def validate(self) -> None:
        if self.oversold >= self.overbought:
            raise ConfigError("oversold", "must be below overbought")


class RsiMeanReversionStrategy(SignalStrategy):
    """RSI mean reversion: buy oversold dips, sell overbought rallies (crossings only)."""

    strategy_id = "rsi_mean_reversion"
    config_class = RsiMeanReversionConfig

    @property
    def warmup_bars(self) -> int:
        return self.config.period + 1  # RSI needs `period` changes

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._rsi = ind.StreamingRSI(self.config.period)
        self._prev = float("nan")

    def step(self, candle: Candle) -> tuple[bool, bool]:
        value = self._rsi.update(candle.close)
        prev, self._prev = self._prev, value
        low, high = self.config.oversold, self.config.overbought
        return (prev >= low and value < low), (prev <= high and value > high)

    def signals(self, open_, high, low, close, volume):
        value = ind.rsi(close, self.config.period)
        lo, hi = self.config.oversold, self.config.overbought
        return _prev_and(value, value >= lo, value < lo), _prev_and(value, value <= hi, value > hi)

    def snapshot(self) -> dict:
        return {"rsi": self._rsi.snapshot(), "prev": self._prev}

    def restore(self, state: dict) -> None:
        self._rsi.restore(state["rsi"])
        self._prev = state["prev"]


@dataclasses.dataclass(frozen=True)
class MacdConfig(SignalConfig):
    """Long when the MACD line crosses above its signal line; flat when it crosses below."""

    fast: int = param(12, "Fast EMA period", minimum=1, maximum=1_000)
    slow: int = param(26, "Slow EMA period", minimum=2, maximum=1_000)
    signal: int = param(9, "Signal EMA period", minimum=1, maximum=1_000)

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise ConfigError("fast", "must be shorter than slow")


class MacdStrategy(SignalStrategy):
    """MACD: long while the MACD line is above its signal line, entered and left on crosses."""

    strategy_id = "macd"
    config_class = MacdConfig

    @property
    def warmup_bars(self) -> int:
        return self.config.slow + self.config.signal

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        c = self.config
        self._macd = ind.StreamingMACD(c.fast, c.slow, c.signal)
        self._prev = (float("nan"), float("nan"))
        self._sign = 0  # +1 line above signal, -1 below, on the last bar where they differed

    def step(self, candle: Candle) -> tuple[bool, bool]:
        line, sig, _ = self._macd.update(candle.close)
        self._prev = (line, sig)
        sign = 1 if line > sig else -1 if line < sig else 0
        if not sign:
            return False, False
        before, self._sign = self._sign, sign
        return before < 0 < sign, sign < 0 < before

    def signals(self, open_, high, low, close, volume):
        line, sig, _ = ind.macd(close, self.config.fast, self.config.slow, self.config.signal)
        return ind.crossed_above(line, sig), ind.crossed_below(line, sig)

    def snapshot(self) -> dict:
        return {"macd": self._macd.snapshot(), "prev": list(self._prev), "sign": self._sign}

    def restore(self, state: dict) -> None:
        self._macd.restore(state["macd"])
        self._prev = tuple(state["prev"])
        self._sign = state.get("sign", _sign_of(*state["prev"]))


@dataclasses.dataclass(frozen=True)
class BollingerConfig(SignalConfig):
    """Buy when the close falls below the lower band; sell when it rises above the middle."""

    period: int = param(20, "Band period in bars", minimum=2, maximum=1_000)
    k: float = param(2.0, "Band width in standard deviations", exclusive_minimum=0, maximum=10)
    exit_at: str = param("middle", "Band that triggers the exit", choices=("middle", "upper"))


class BollingerStrategy(SignalStrategy):
    """Bollinger reversion: buy a close under the lower band, sell above the middle (or upper)."""

    strategy_id = "bollinger"
    config_class = BollingerConfig

    @property
    def warmup_bars(self) -> int:
        return self.config.period

    def __init__(self, config=None, *, symbol: str = "BTC-USDT") -> None:
        super().__init__(config, symbol=symbol)
        self._bands = ind.StreamingBollinger(self.config.period, self.config.k)

    def step(self, candle: Candle) -> tuple[bool, bool]:
        upper, middle, lower = self._bands.update(candle.close)
        target = middle if self.config.exit_at == "middle" else upper
        return candle.close < lower, candle.close > target

    def signals(self, open_, high, low, close, volume):
        upper, middle, lower = ind.bollinger(close, self.config.period, self.config.k)
        target = middle if self.config.exit_at == "middle" else upper
        close = np.asarray(close, dtype=float)
        return close < lower, close > target

    def snapshot(self) -> dict:
        return {"bands": self._bands.snapshot()}

    def restore(self, state: dict) -> None:
        self._bands.restore(state["bands"])
