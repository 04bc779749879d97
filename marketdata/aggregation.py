"""Trades into candles, and candles into longer candles (pure, no Django, no I/O).

`CandleBuilder` is the streaming form a collector uses: feed trades in time order, get each
bar back as it closes. `trades_to_candles` and `resample` are the vectorized (numpy) forms
for files and backfills. Bars are aligned as described in marketdata.timeframes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from marketdata.timeframes import MINUTE_MS, timeframe_ms


class Bar(NamedTuple):
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


class CandleBuilder:
    """Streaming 1m (or any step) bars from trades; a bar is emitted when the next one opens
    or when `close_due(now)` sees its end pass."""

    __slots__ = ("step", "ts", "o", "h", "l", "c", "v", "n")

    def __init__(self, step_ms: int = MINUTE_MS) -> None:
        self.step = step_ms
        self.ts = -1
        self.o = self.h = self.l = self.c = self.v = 0.0
        self.n = 0

    def add(self, ts_ms: int, price: float, qty: float) -> Bar | None:
        """Add one trade; return the bar it closed, if any (late trades join the open bar)."""
        bucket = ts_ms - ts_ms % self.step
        if bucket == self.ts or (bucket < self.ts):
            if price > self.h:
                self.h = price
            elif price < self.l:
                self.l = price
            self.c = price
            self.v += qty
            self.n += 1
            return None
        closed = self.current() if self.ts >= 0 else None
        self.ts = bucket
        self.o = self.h = self.l = self.c = price
        self.v = qty
        self.n = 1
        return closed

    def add_many(self, ts, prices, qtys) -> list[Bar]:
        out = []
        add = self.add
        for t, p, q in zip(ts, prices, qtys, strict=True):
            bar = add(t, p, q)
            if bar is not None:
                out.append(bar)
        return out

    def current(self) -> Bar | None:
        if self.ts < 0:
            return None
        return Bar(self.ts, self.o, self.h, self.l, self.c, self.v, self.n)

    def close_due(self, now_ms: int) -> Bar | None:
        """Emit the open bar once its end time has passed (no trade needed to close it)."""
        if self.ts >= 0 and now_ms >= self.ts + self.step:
            bar = self.current()
            self.ts = -1
            return bar
        return None


def trades_to_candles(ts: np.ndarray, price: np.ndarray, qty: np.ndarray, step_ms: int = MINUTE_MS):
    """Vectorized: trades sorted by time -> arrays (ts, open, high, low, close, volume, count)."""
    ts = np.asarray(ts, dtype=np.int64)
    price = np.asarray(price, dtype=np.float64)
    qty = np.asarray(qty, dtype=np.float64)
    buckets = ts - ts % step_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(ts)] - 1
    return (
        buckets[starts],
        price[starts],
        np.maximum.reduceat(price, starts),
        np.minimum.reduceat(price, starts),
        price[ends],
        np.add.reduceat(qty, starts),
        ends - starts + 1,
    )


def resample(bars: list[Bar] | list[tuple], timeframe: str) -> list[Bar]:
    """Roll bars (sorted by time) up into `timeframe` bars aligned to the epoch."""
    step = timeframe_ms(timeframe)
    out: list[Bar] = []
    cur = None
    for b in bars:
        ts, o, h, low, c, v = b[:6]
        n = b[6] if len(b) > 6 else 0
        bucket = ts - ts % step
        if cur is None or cur[0] != bucket:
            if cur is not None:
                out.append(Bar(*cur))
            cur = [bucket, o, h, low, c, v, n or 0]
        else:
            cur[2] = max(cur[2], h)
            cur[3] = min(cur[3], low)
            cur[4] = c
            cur[5] += v
            cur[6] += n or 0
    if cur is not None:
        out.append(Bar(*cur))
    return out
