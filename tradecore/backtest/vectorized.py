"""Vectorized fast path for long-only signal strategies, for parameter sweeps.

Signals come from the strategy's vectorized `signals()`; the (few) resulting trades are then
accounted exactly like the simulated exchange does it: a market buy of `allocation` x free
quote at the next bar's open, sized down to the lot after the taker fee, and a market sell of
the whole position at the next open. It gives the same trades as the event-driven path.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from tradecore._fastinit import fast_frozen_init
from tradecore.backtest.data import CandleArrays
from tradecore.domain import Instrument
from tradecore.strategies.base import SignalStrategy
from tradecore.strategies.signals import SmaCrossStrategy


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class VectorTrade:
    """One fill of the vectorized path; `bar` is the index of the bar whose open filled it."""

    bar: int
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal


@dataclass
class VectorResult:
    trades: list[VectorTrade]
    equity: np.ndarray
    final_equity: float
    cash: Decimal
    position: Decimal


def positions_from_signals(entries: np.ndarray, exits: np.ndarray) -> tuple[list[int], list[int]]:
    """Bars whose open buys and sells: the long-only state machine of `SignalStrategy`."""
    n = len(entries)
    buys, sells = signal_fills(np.flatnonzero(entries[: n - 1]), np.flatnonzero(exits[: n - 1]))
    return buys.tolist(), sells.tolist()


def signal_fills(entry_bars: np.ndarray, exit_bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bars whose open buys and sells, from the (sorted) bars that signal an entry and an
    exit: each order fills at the next bar's open and signals before that bar are moot.

    Crossover signals alternate (entry, exit, entry, ...), and then the fills are the signal
    bars plus one, found without a loop; anything else walks the state machine.
    """
    if not len(entry_bars):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    exit_bars = exit_bars[np.searchsorted(exit_bars, entry_bars[0], side="right") :]
    k = len(exit_bars)
    if len(entry_bars) in (k, k + 1) and bool(
        (entry_bars[:k] < exit_bars).all()
        and (exit_bars[: len(entry_bars) - 1] < entry_bars[1:]).all()
    ):
        return entry_bars + 1, exit_bars + 1
    return _fills_walk(entry_bars.tolist(), exit_bars.tolist())


def _fills_walk(entry_bars: list[int], exit_bars: list[int]) -> tuple[np.ndarray, np.ndarray]:
    buys, sells = [], []
    n_entries, n_exits = len(entry_bars), len(exit_bars)
    e_i = x_i = 0
    after = -1  # bar index of the last fill; signals before it are moot
    while True:
        while e_i < n_entries and entry_bars[e_i] < after:
            e_i += 1
        if e_i == n_entries:
            break
        after = entry_bars[e_i] + 1
        buys.append(after)
        while x_i < n_exits and exit_bars[x_i] < after:
            x_i += 1
        if x_i == n_exits:
            break
        after = exit_bars[x_i] + 1
        sells.append(after)
    return np.asarray(buys, dtype=np.int64), np.asarray(sells, dtype=np.int64)


def cross_bars(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bars where `fast` crosses above and below `slow`: the same bars as
    `np.flatnonzero(indicators.crossed_above(fast, slow))` (and `crossed_below`), by the last
    non-zero sign rule (a cross through an exact tie counts once, where the sign changes; NaN
    and tied bars have no sign), from the bars where the sign differs from the last one."""
    above, below = fast > slow, fast < slow
    signed = np.flatnonzero(above | below)
    side = above[signed]
    turns = np.flatnonzero(side[1:] != side[:-1]) + 1
    bars = signed[turns]
    up = side[turns]
    return bars[up], bars[~up]


def run_vectorized(
    strategy: SignalStrategy,
    candles: CandleArrays,
    instrument: Instrument,
    *,
    cash: Decimal | int | str = 10_000,
    signals: tuple[np.ndarray, np.ndarray] | None = None,
) -> VectorResult:
    """Backtest a signal strategy with numpy signals and exact Decimal accounting of fills."""
    if signals is None:
        entry_array, exit_array = signal_bars(strategy, candles)
    else:
        entries, exits = np.asarray(signals[0]), np.asarray(signals[1])
        n = len(entries)
        entry_array, exit_array = np.flatnonzero(entries[: n - 1]), np.flatnonzero(exits[: n - 1])
    entry_bars, exit_bars = entry_array.tolist(), exit_array.tolist()
    allocation = Decimal(repr(strategy.config.allocation))
    fee_rate, min_notional = instrument.taker_fee, instrument.min_notional
    buy_factor = 1 + fee_rate
    start_cash = cash = Decimal(str(cash))
    qty = Decimal(0)
    trades: list[VectorTrade] = []
    cash_after, qty_after = [], []
    price_at, round_qty, new_trade = candles.open.item, instrument.round_qty, VectorTrade
    # The long-only state machine of `SignalStrategy`, one order at a time. An order the venue
    # would reject (a buy that rounds to zero or under the minimum notional, a sell of dust)
    # leaves the state as it was, and the next signal tries again, as the event path does.
    # The position only ever changes by whole lots (bought rounded down to the lot, sold
    # whole), so it is on the lot: being flat is qty == 0 and selling it all needs no rounding.
    e_i = x_i = 0
    n_entries, n_exits = len(entry_bars), len(exit_bars)
    after = -1  # bar of the last order; signals before it are moot
    while True:
        if qty <= 0:
            while e_i < n_entries and entry_bars[e_i] < after:
                e_i += 1
            if e_i == n_entries:
                break
            after = bar = entry_bars[e_i] + 1
            price = Decimal(repr(price_at(bar)))
            budget = cash * allocation
            if budget <= 0 or budget < min_notional:
                continue
            fill_qty = round_qty(budget / (price * buy_factor))
            if fill_qty <= 0:
                continue
            cost = price * fill_qty
            fee = cost * fee_rate
            cash -= cost + fee
            qty += fill_qty
            trades.append(new_trade(bar, "buy", price, fill_qty, fee))
        else:
            while x_i < n_exits and exit_bars[x_i] < after:
                x_i += 1
            if x_i == n_exits:
                break
            after = bar = exit_bars[x_i] + 1
            price = Decimal(repr(price_at(bar)))
            fill_qty = qty
            proceeds = price * fill_qty
            if proceeds < min_notional:
                continue
            fee = proceeds * fee_rate
            cash += proceeds - fee
            qty -= fill_qty
            trades.append(new_trade(bar, "sell", price, fill_qty, fee))
        cash_after.append(float(cash))
        qty_after.append(float(qty))
    change_bars = [trade.bar for trade in trades]
    equity = _equity_curve(candles.close, float(start_cash), change_bars, cash_after, qty_after)
    return VectorResult(trades, equity, float(equity[-1]), cash, qty)


def _equity_curve(close, start_cash: float, bars, cash_after, qty_after) -> np.ndarray:
    n = len(close)
    cash = np.full(n, start_cash)
    qty = np.zeros(n)
    if bars:
        segment = np.searchsorted(np.asarray(bars), np.arange(n), side="right") - 1
        has = segment >= 0
        cash[has] = np.asarray(cash_after)[segment[has]]
        qty[has] = np.asarray(qty_after)[segment[has]]
    return cash + qty * close


@dataclass(frozen=True)
class SweepResult:
    """Summary of one combination: float accounting, same entry and exit bars as exact."""

    final_equity: float
    total_return: float
    trade_count: int
    win_rate: float


def quick_result(
    entries: np.ndarray,
    exits: np.ndarray,
    opens: np.ndarray,
    closes: np.ndarray,
    fee: float,
    cash: float,
    allocation: float = 1.0,
) -> SweepResult:
    """Float-accounted result of the long-only state machine, vectorized over round trips.

    Sizes are not rounded to the lot, so the equity differs from the exact path by rounding
    only (about 1e-12 relative); the trades are the same bars.
    """
    n = len(entries)
    buys, sells = signal_fills(np.flatnonzero(entries[: n - 1]), np.flatnonzero(exits[: n - 1]))
    return _fills_result(buys, sells, opens, closes, fee, cash, allocation)


def _fills_result(buys, sells, opens, closes, fee, cash, allocation) -> SweepResult:
    buy_px = opens[buys]
    sell_px = opens[sells]
    closed = len(sells)
    per_trade = sell_px / buy_px[:closed] * ((1 - fee) / (1 + fee))
    growth = 1 + allocation * (per_trade - 1)
    equity = cash * float(np.prod(growth))
    if len(buys) > closed:  # still long at the end: mark at the last close, no exit fee
        equity *= 1 + allocation * (closes[-1] / (buy_px[-1] * (1 + fee)) - 1)
    wins = int(np.count_nonzero(per_trade > 1))
    return SweepResult(equity, equity / cash - 1, closed, wins / closed if closed else 0.0)


def crossover_lines(strategy: SignalStrategy, close: np.ndarray):
    """(fast, slow) lines of a strategy whose signals are the SMA crossover's rule (its
    subclasses on other averages too), shared through its indicator cache; None otherwise."""
    if not isinstance(strategy, SmaCrossStrategy) or type(strategy).signals is not (
        SmaCrossStrategy.signals
    ):
        return None
    config = strategy.config
    return strategy._average_array(close, config.fast), strategy._average_array(close, config.slow)


def signal_bars(
    strategy: SignalStrategy, candles: CandleArrays, *, last: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The bars whose signals enter and exit (sorted; the last bar's only if `last`, since no
    open follows it): the strategy's `signals()`, or for a crossover the cross bars straight
    from its two lines (the same bars)."""
    stop = len(candles) if last else len(candles) - 1
    lines = crossover_lines(strategy, candles.close)
    if lines is not None:
        ups, downs = cross_bars(*lines)
        return ups[: np.searchsorted(ups, stop)], downs[: np.searchsorted(downs, stop)]
    entries, exits = strategy.signals(
        candles.open, candles.high, candles.low, candles.close, candles.volume
    )
    return np.flatnonzero(entries[:stop]), np.flatnonzero(exits[:stop])


class SweepResults(list):
    """The results of a sweep, one (params, result) per combination that ran, in grid order;
    `.skipped` lists the combinations the strategy refuses, each with the reason, so a sweep
    never drops a combination silently."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: list[tuple[dict, str]] = []

    @property
    def total(self) -> int:
        return len(self) + len(self.skipped)


def sweep(
    strategy_cls: type[SignalStrategy],
    candles: CandleArrays,
    instrument: Instrument,
    grid: Mapping[str, Sequence],
    *,
    cash: Decimal | int | str = 10_000,
    base_params: Mapping | None = None,
    exact: bool = False,
) -> SweepResults:
    """Run every valid combination in `grid`; indicator arrays are shared between them.
    Invalid combinations (e.g. fast >= slow) are reported in `.skipped` with the reason.

    exact=True gives each combination the full Decimal-accounted `VectorResult`; the default
    float accounting (`SweepResult`) is for ranking parameters quickly.
    """
    names = list(grid)
    cache: dict = {}
    results = SweepResults()
    fee = float(instrument.taker_fee)
    for values in itertools.product(*(grid[name] for name in names)):
        params = {**(base_params or {}), **dict(zip(names, values, strict=True))}
        try:
            config = strategy_cls.config_class(**params)
        except ValueError as exc:  # e.g. fast >= slow: not a valid combination
            results.skipped.append((params, str(exc)))
            continue
        strategy = strategy_cls(config, symbol=instrument.symbol)
        strategy.indicator_cache = cache
        if exact:
            results.append((params, run_vectorized(strategy, candles, instrument, cash=cash)))
            continue
        buys, sells = signal_fills(*signal_bars(strategy, candles))
        summary = _fills_result(buys, sells, candles.open, candles.close, fee, float(cash),
                                config.allocation)  # fmt: skip
        results.append((params, summary))
    return results
