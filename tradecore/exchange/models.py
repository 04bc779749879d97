"""Latency and slippage models for the simulated exchange. Randomness comes from a seeded RNG."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Protocol

from tradecore.domain import Rounding, Side, round_to_step
from tradecore.orderbook import OrderBook


class LatencyModel(Protocol):
    def delay_ms(self, rng: random.Random) -> int: ...


class NoLatency:
    """Orders arrive at the venue the moment they are sent."""

    def delay_ms(self, rng: random.Random) -> int:
        return 0


class FixedLatency:
    """Every order and cancel reaches the venue `ms` milliseconds after it is sent."""

    def __init__(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("latency cannot be negative")
        self.ms = int(ms)

    def delay_ms(self, rng: random.Random) -> int:
        return self.ms


class UniformLatency:
    """Latency drawn uniformly from [low_ms, high_ms] with the exchange's seeded RNG."""

    def __init__(self, low_ms: int, high_ms: int) -> None:
        if not 0 <= low_ms <= high_ms:
            raise ValueError("need 0 <= low_ms <= high_ms")
        self.low_ms, self.high_ms = int(low_ms), int(high_ms)

    def delay_ms(self, rng: random.Random) -> int:
        return rng.randint(self.low_ms, self.high_ms)


class SlippageModel(Protocol):
    def taker_price(
        self, side: Side, price: Decimal, qty: Decimal, tick: Decimal, book: OrderBook | None
    ) -> Decimal: ...


class NoSlippage:
    """Takers fill at the reference price."""

    def taker_price(self, side, price, qty, tick, book):
        return price


class FixedBpsSlippage:
    """Takers fill `bps` basis points worse than the reference, rounded against them to a tick."""

    def __init__(self, bps: Decimal | float | int) -> None:
        self.bps = Decimal(str(bps))
        if self.bps < 0:
            raise ValueError("slippage cannot be negative")

    def taker_price(self, side, price, qty, tick, book):
        factor = 1 + self.bps / 10_000 if side is Side.BUY else 1 - self.bps / 10_000
        rounding = Rounding.UP if side is Side.BUY else Rounding.DOWN
        return round_to_step(price * factor, tick, rounding)


class BookWalkSlippage:
    """Takers pay the book-walk premium for their size over the touch of the last known book.

    Used where fills are driven by candles or trades but a book is also known; with no book,
    or a book too thin for the size, the reference price is used unchanged (stated fallback).
    """

    def taker_price(self, side, price, qty, tick, book):
        if book is None:
            return price
        touch = book.best_ask() if side is Side.BUY else book.best_bid()
        average = book.average_fill_price(side, qty)
        if touch is None or average is None:
            return price
        rounding = Rounding.UP if side is Side.BUY else Rounding.DOWN
        return round_to_step(price + (average - touch[0]), tick, rounding)
