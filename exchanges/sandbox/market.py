"""What moves a sandbox venue's market: a deterministic synthetic generator or a candle replay.

A feed yields reference prices over time; the venue turns each one into a public trade and a
fresh synthetic book around it. Both feeds are deterministic for a given seed and start, so a
test or a demo sees the same market every time.
"""

from __future__ import annotations

import csv
import gzip
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

YEAR_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Tick:
    """One reference trade: price, size and whether the aggressor bought."""

    ts_ms: int
    price: float
    qty: float
    buy: bool


class SyntheticFeed:
    """Geometric random walk with fat tails (Student-t, 4 dof) and volatility clustering.

    `annual_vol` 0.6 is in the range of BTC's realized volatility; the GARCH-like clustering
    (variance pulled towards the long-run level, pushed up by large moves) gives calm and
    busy stretches like a real tape. Deterministic for a seed.
    """

    def __init__(
        self, start_price: float, *, seed: int = 0, annual_vol: float = 0.6, mean_qty: float = 0.05
    ) -> None:
        self.price = float(start_price)
        self.rng = random.Random(seed)
        self.long_var = annual_vol**2 / YEAR_SECONDS  # per-second variance
        self.var = self.long_var
        self.mean_qty = mean_qty

    def _student_t(self) -> float:
        # t(4) scaled to unit variance: z / sqrt(chi2_4 / 4) / sqrt(2)
        z = self.rng.gauss(0.0, 1.0)
        chi2 = sum(self.rng.gauss(0.0, 1.0) ** 2 for _ in range(4))
        return z / math.sqrt(chi2 / 4) / math.sqrt(2.0)

    def step(self, ts_ms: int, dt_seconds: float) -> Tick:
        shock = self._student_t()
        ret = math.sqrt(self.var * dt_seconds) * shock
        self.var = 0.94 * self.var + 0.06 * max(ret * ret / max(dt_seconds, 1e-9), 0.0)
        self.var = 0.98 * self.var + 0.02 * self.long_var
        self.price *= math.exp(ret)
        qty = self.rng.expovariate(1.0 / self.mean_qty)
        return Tick(ts_ms, self.price, qty, ret >= 0 if ret != 0 else self.rng.random() < 0.5)

    def candles(self, start_ms: int, count: int, *, ticks_per_bar: int = 12) -> list[tuple]:
        """Generate `count` 1m bars of history from `start_ms` (advancing the walk)."""
        bars = []
        dt = 60.0 / ticks_per_bar
        for i in range(count):
            ts = start_ms + i * 60_000
            ticks = [self.step(ts + j * int(dt * 1000), dt) for j in range(ticks_per_bar)]
            prices = [t.price for t in ticks]
            bars.append(
                (
                    ts,
                    prices[0],
                    max(prices),
                    min(prices),
                    prices[-1],
                    sum(t.qty for t in ticks),
                    len(ticks),
                )
            )
        return bars


def read_candle_csv(path: str | Path) -> list[tuple[int, float, float, float, float, float]]:
    """Read a candle file in the shared-data layout (timestamp_ms,open,high,low,close,volume)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [(int(r[0]), *(float(x) for x in r[1:6])) for r in reader]


class ReplayFeed:
    """Replays 1m candles as ticks along each bar's path (open, low/high, high/low, close).

    `speed` compresses time: at 60x a one-minute bar replays in one second. Prices keep the
    file's levels; trades are stamped with the venue's (wall) time.
    """

    def __init__(self, candles: list[tuple], *, speed: float = 1.0, seed: int = 0) -> None:
        if not candles:
            raise ValueError("replay needs at least one candle")
        self.candles = candles
        self.speed = float(speed)
        self.rng = random.Random(seed)
        self.index = 0
        self.elapsed = 0.0
        self._path = self._bar_path(0)
        self.price = candles[0][1]

    def _bar_path(self, index: int) -> list[tuple[float, float]]:
        _, o, h, low, c, v = self.candles[index % len(self.candles)][:6]
        points = (o, low, h, c) if c >= o else (o, h, low, c)
        share = max(v, 0.0) / 4 or 0.001
        return [(p, share) for p in points]

    def history(self) -> Iterator[tuple]:
        yield from self.candles

    def step(self, ts_ms: int, dt_seconds: float) -> Tick:
        bar_seconds = 60.0 / self.speed
        self.elapsed += dt_seconds
        while self.elapsed >= bar_seconds:
            self.elapsed -= bar_seconds
            self.index += 1
        fraction = self.elapsed / bar_seconds
        path = self._bar_path(self.index)
        position = min(int(fraction * len(path)), len(path) - 1)
        price, share = path[position]
        buy = price >= self.price
        self.price = price
        return Tick(ts_ms, price, share * self.rng.uniform(0.05, 0.2), buy)


class ScaledClock:
    """Wall time sped up `speed` times from `start` (demos and tests: a minute per second)."""

    def __init__(self, speed: float, origin: float | None = None) -> None:
        """`origin` (epoch seconds, default now) is where market and wall time agree; two
        processes given the same origin and speed tell the same market time."""
        import time

        self._time = time.time
        self.speed = speed
        self.origin_real = origin if origin is not None else self._time()
        self.origin_ms = int(self.origin_real * 1000)

    def now(self) -> float:
        """Seconds, like time.time()."""
        return self.now_ms() / 1000

    def now_ms(self) -> int:
        return self.origin_ms + int((self._time() - self.origin_real) * 1000 * self.speed)
