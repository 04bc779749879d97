"""Injectable clocks. Logic never reads the wall clock; it asks the clock it was given."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in epoch milliseconds."""

    def now_ms(self) -> int: ...


class SimulatedClock:
    """A clock the backtester (or a test) moves by hand."""

    __slots__ = ("_now",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now = int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def set(self, ms: int) -> None:
        """Move to `ms`; time never runs backwards."""
        ms = int(ms)
        if ms < self._now:
            raise ValueError(f"clock cannot go back from {self._now} to {ms}")
        self._now = ms

    def advance(self, ms: int) -> None:
        self.set(self._now + int(ms))


class WallClock:
    """Real time, for paper and live trading. Injected at the edge, never read inside logic."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
