"""Indicators in two forms that agree to 1e-9: vectorized (numpy arrays) and streaming (one value
at a time, for live bots and the event-driven backtester).

Conventions (TA-Lib's, so TA-Lib serves as a test reference): outputs are NaN during warm-up;
EMA is seeded with the SMA of its first `period` inputs; RSI and ATR use Wilder smoothing seeded
with simple averages; Bollinger bands use the population standard deviation. MACD is built from
two standard EMAs over the whole series (TA-Lib seeds its fast EMA later, so the two agree only
after warm-up).
"""

from __future__ import annotations

import math

import numpy as np

NAN = float("nan")


def _as_array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _check_period(period: int) -> None:
    if int(period) != period or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")


# -- vectorized ------------------------------------------------------------------------------
def sma(values, period: int) -> np.ndarray:
    """Simple moving average; the first value is at index period-1.

    The window sum is re-anchored to its correctly rounded value (`math.fsum`) every
    `_sma_block(period)` bars and carried between anchors by adding (x[t] - x[t-period]), in the
    same order `StreamingSMA` adds them, so the two are bit-for-bit equal, the sum never drifts
    (error bounded by one block of additions) and on integer prices it is exact: an SMA(10)
    that equals an SMA(30) is an exact tie in both paths.
    """
    _check_period(period)
    x = _as_array(values)
    out = np.full(x.shape, np.nan)
    n = len(x)
    if n < period:
        return out
    block = _sma_block(period)
    steps = np.empty(n - period + 1)
    steps[1:] = x[period:] - x[: n - period]
    anchors = range(0, len(steps), block)
    window_end = period - 1
    steps[::block] = [math.fsum(x[a + window_end - period + 1 : a + window_end + 1].tolist())
                      for a in anchors]  # fmt: skip
    padded = np.zeros(len(anchors) * block)
    padded[: len(steps)] = steps
    sums = np.cumsum(padded.reshape(-1, block), axis=1).ravel()[: len(steps)]
    out[period - 1 :] = sums / period
    return out


def _sma_block(period: int) -> int:
    """Bars between exact re-anchorings of the SMA window sum (fsum cost stays O(1) per bar)."""
    return max(256, period)


def ema(values, period: int) -> np.ndarray:
    """Exponential moving average, alpha = 2/(period+1), seeded with the first period's SMA."""
    _check_period(period)
    x = _as_array(values)
    out = np.full(x.shape, np.nan)
    if len(x) < period:
        return out
    alpha = 2.0 / (period + 1)
    keep = 1.0 - alpha
    seed = 0.0
    for item in x[: period - 1].tolist():  # summed in order, exactly as StreamingEMA does
        seed += item
    value = (seed + float(x[period - 1])) / period
    result = [value]
    append = result.append
    for price in x[period:].tolist():
        value = alpha * price + keep * value
        append(value)
    out[period - 1 :] = result
    return out


def rsi(values, period: int = 14) -> np.ndarray:
    """Wilder's RSI; the first value is at index `period`."""
    _check_period(period)
    x = _as_array(values)
    out = np.full(x.shape, np.nan)
    if len(x) <= period:
        return out
    change = np.diff(x)
    gains = np.where(change > 0, change, 0.0).tolist()
    losses = np.where(change < 0, -change, 0.0).tolist()
    avg_gain = sum(gains[:period]) / period
    avg_loss = sum(losses[:period]) / period
    result = [_rsi_value(avg_gain, avg_loss)]
    keep = period - 1
    for gain, loss in zip(gains[period:], losses[period:], strict=True):
        avg_gain = (avg_gain * keep + gain) / period
        avg_loss = (avg_loss * keep + loss) / period
        result.append(_rsi_value(avg_gain, avg_loss))
    out[period:] = result
    return out


def _rsi_value(avg_gain: float, avg_loss: float) -> float:
    total = avg_gain + avg_loss
    return 100.0 * avg_gain / total if total > 0 else 0.0


def macd(values, fast: int = 12, slow: int = 26, signal: int = 9):
    """MACD line (EMA fast - EMA slow), its signal EMA and the histogram."""
    if fast >= slow:
        raise ValueError("fast period must be shorter than slow period")
    line = ema(values, fast) - ema(values, slow)
    sig = np.full(line.shape, np.nan)
    start = slow - 1
    if len(line) > start:
        sig[start:] = ema(line[start:], signal)
    return line, sig, line - sig


def bollinger(values, period: int = 20, k: float = 2.0):
    """Bollinger bands: (upper, middle, lower) with population standard deviation."""
    _check_period(period)
    x = _as_array(values)
    middle = sma(x, period)
    std = np.full(x.shape, np.nan)
    if len(x) >= period:
        windows = np.lib.stride_tricks.sliding_window_view(x, period)
        std[period - 1 :] = windows.std(axis=1)
    return middle + k * std, middle, middle - k * std


def true_range(high, low, close) -> np.ndarray:
    h, lo, c = _as_array(high), _as_array(low), _as_array(close)
    tr = np.full(h.shape, np.nan)
    if len(h) > 1:
        prev = c[:-1]
        tr[1:] = np.maximum(h[1:], prev) - np.minimum(lo[1:], prev)
    return tr


def atr(high, low, close, period: int = 14) -> np.ndarray:
    """Wilder's average true range; the first value is at index `period`."""
    _check_period(period)
    tr = true_range(high, low, close)
    out = np.full(tr.shape, np.nan)
    if len(tr) <= period:
        return out
    seed = 0.0
    for item in tr[1:period].tolist():  # summed in order, exactly as StreamingATR does
        seed += item
    value = (seed + float(tr[period])) / period
    result = [value]
    keep = period - 1
    for item in tr[period + 1 :].tolist():
        value = (value * keep + item) / period
        result.append(value)
    out[period:] = result
    return out


def crossed_above(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """True at i when fast[i] > slow[i] and the last bar before i where they differed had
    fast < slow ("last non-zero sign", as vectorbt): a cross through an exact tie counts once,
    at the bar where the sign changes. NaN bars (warm-up) have no sign."""
    sign = _sign(fast, slow)
    return (sign > 0) & (_last_nonzero_before(sign) < 0)


def crossed_below(fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    return crossed_above(slow, fast)


def _sign(fast, slow) -> np.ndarray:
    fast, slow = _as_array(fast), _as_array(slow)
    return (fast > slow).astype(np.int8) - (fast < slow).astype(np.int8)


def _last_nonzero_before(sign: np.ndarray) -> np.ndarray:
    """At each i, the last non-zero value of sign[:i] (0 when there is none)."""
    where = np.where(sign != 0, np.arange(len(sign)), -1)
    last = np.maximum.accumulate(where) if len(sign) else where
    before = np.full(len(sign), -1)
    before[1:] = last[:-1]
    out = np.zeros(len(sign), dtype=np.int8)
    has = before >= 0
    out[has] = sign[before[has]]
    return out


# -- streaming ---------------------------------------------------------------------------------
class StreamingSMA:
    """SMA over the last `period` values; `update` returns NaN until the window is full.

    Same arithmetic as the vectorized `sma`, in the same order: the window sum is set with
    `math.fsum` every `_sma_block(period)` bars and carried by adding (x - oldest) between, so
    the two are bit-for-bit equal and a crossover decided on a tie goes the same way in both.
    """

    __slots__ = ("period", "_ring", "_i", "_sum", "_left", "_block", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._ring = [0.0] * period  # the last `period` inputs
        self._i = 0
        self._sum = 0.0
        self._block = _sma_block(period)
        self._left = 1 - period  # < 0: warming up; 0: re-anchor on this update; > 0: carry
        self.value = NAN

    def update(self, x: float) -> float:
        # Hot path of every candle backtest: kept to a handful of slot reads.
        i = self._i
        ring = self._ring
        old = ring[i]
        ring[i] = x
        self._i = i + 1 if i + 1 < self.period else 0
        left = self._left
        if left > 0:
            self._left = left - 1
            total = self._sum = self._sum + (x - old)
        elif left == 0:
            self._left = self._block - 1
            total = self._sum = math.fsum(ring)
        else:
            self._left = left + 1
            return self.value
        self.value = total / self.period
        return self.value

    def snapshot(self) -> dict:
        return {
            "ring": list(self._ring),
            "i": self._i,
            "sum": self._sum,
            "left": self._left,
            "value": self.value,
        }

    def restore(self, state: dict) -> None:
        if "csum" in state:  # a checkpoint written before the window kept raw values
            state = _sma_state_from_cumulative(state, self.period)
        self._ring, self._i = list(state["ring"]), state["i"]
        self._sum, self._left, self.value = state["sum"], state["left"], state["value"]


def _sma_state_from_cumulative(state: dict, period: int) -> dict:
    """Rebuild the raw window from an older checkpoint of cumulative sums (x - first x)."""
    ring, i, base, count = state["ring"], state["i"], state["base"], state["count"]
    raw = [0.0] * period
    if count < period:
        for j in range(count):
            raw[j] = ring[j] - (ring[j - 1] if j else 0.0) + base
        return {"ring": raw, "i": i, "sum": 0.0, "left": count + 1 - period, "value": NAN}
    newer = [(i + k) % period for k in range(1, period)]
    for j in newer:
        raw[j] = ring[j] - ring[j - 1] + base
    raw[i] = state["value"] * period - math.fsum(raw[j] for j in newer)
    return {"ring": raw, "i": i, "sum": 0.0, "left": 0, "value": state["value"]}


class StreamingEMA:
    __slots__ = ("period", "alpha", "_seed", "_count", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self.alpha = 2.0 / (period + 1)
        self._seed = 0.0
        self._count = 0
        self.value = NAN

    def update(self, x: float) -> float:
        self._count += 1
        if self._count < self.period:
            self._seed += x
        elif self._count == self.period:
            self.value = (self._seed + x) / self.period
        else:
            self.value = self.alpha * x + (1.0 - self.alpha) * self.value
        return self.value

    def snapshot(self) -> dict:
        return {"seed": self._seed, "count": self._count, "value": self.value}

    def restore(self, state: dict) -> None:
        self._seed, self._count, self.value = state["seed"], state["count"], state["value"]


class StreamingRSI:
    __slots__ = ("period", "_prev", "_gain", "_loss", "_count", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev = NAN
        self._gain = 0.0
        self._loss = 0.0
        self._count = 0
        self.value = NAN

    def update(self, x: float) -> float:
        prev, self._prev = self._prev, x
        if prev != prev:  # first value
            return self.value
        change = x - prev
        gain = change if change > 0 else 0.0
        loss = -change if change < 0 else 0.0
        self._count += 1
        n = self.period
        if self._count <= n:
            self._gain += gain
            self._loss += loss
            if self._count < n:
                return self.value
            self._gain /= n
            self._loss /= n
        else:
            self._gain = (self._gain * (n - 1) + gain) / n
            self._loss = (self._loss * (n - 1) + loss) / n
        self.value = _rsi_value(self._gain, self._loss)
        return self.value

    def snapshot(self) -> dict:
        return {k: getattr(self, k) for k in ("_prev", "_gain", "_loss", "_count", "value")}

    def restore(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class StreamingMACD:
    __slots__ = ("_fast", "_slow", "_signal", "_count", "slow_period", "line", "signal", "hist")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if fast >= slow:
            raise ValueError("fast period must be shorter than slow period")
        self._fast, self._slow = StreamingEMA(fast), StreamingEMA(slow)
        self._signal = StreamingEMA(signal)
        self.slow_period = slow
        self._count = 0
        self.line = self.signal = self.hist = NAN

    def update(self, x: float) -> tuple[float, float, float]:
        self.line = self._fast.update(x) - self._slow.update(x)
        self._count += 1
        if self._count >= self.slow_period:
            self.signal = self._signal.update(self.line)
            self.hist = self.line - self.signal
        return self.line, self.signal, self.hist

    def snapshot(self) -> dict:
        return {
            "fast": self._fast.snapshot(),
            "slow": self._slow.snapshot(),
            "signal": self._signal.snapshot(),
            "count": self._count,
            "values": (self.line, self.signal, self.hist),
        }

    def restore(self, state: dict) -> None:
        self._fast.restore(state["fast"])
        self._slow.restore(state["slow"])
        self._signal.restore(state["signal"])
        self._count = state["count"]
        self.line, self.signal, self.hist = state["values"]


class StreamingBollinger:
    __slots__ = ("period", "k", "_sma", "_window", "_i", "upper", "middle", "lower")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self.period, self.k = period, k
        self._sma = StreamingSMA(period)
        self._window = [0.0] * period
        self._i = 0
        self.upper = self.middle = self.lower = NAN

    def update(self, x: float) -> tuple[float, float, float]:
        middle = self._sma.update(x)
        self._window[self._i] = x
        self._i = (self._i + 1) % self.period
        if middle == middle:
            mean = math.fsum(self._window) / self.period
            var = math.fsum((v - mean) ** 2 for v in self._window) / self.period
            band = self.k * math.sqrt(var)
            self.upper, self.middle, self.lower = middle + band, middle, middle - band
        return self.upper, self.middle, self.lower

    def snapshot(self) -> dict:
        return {
            "sma": self._sma.snapshot(),
            "window": list(self._window),
            "i": self._i,
            "values": (self.upper, self.middle, self.lower),
        }

    def restore(self, state: dict) -> None:
        self._sma.restore(state["sma"])
        self._window, self._i = list(state["window"]), state["i"]
        self.upper, self.middle, self.lower = state["values"]


class StreamingATR:
    __slots__ = ("period", "_prev_close", "_count", "_sum", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._prev_close = NAN
        self._count = 0
        self._sum = 0.0
        self.value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        prev, self._prev_close = self._prev_close, close
        if prev != prev:
            return self.value
        tr = max(high, prev) - min(low, prev)
        self._count += 1
        n = self.period
        if self._count < n:
            self._sum += tr
        elif self._count == n:
            self.value = (self._sum + tr) / n
        else:
            self.value = (self.value * (n - 1) + tr) / n
        return self.value

    def snapshot(self) -> dict:
        return {k: getattr(self, k) for k in ("_prev_close", "_count", "_sum", "value")}

    def restore(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
