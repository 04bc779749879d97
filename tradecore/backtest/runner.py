"""Event-driven backtests through the same engine, risk, order manager and simulated exchange
that paper trading uses.

Order of events for each candle: the venue matches resting orders along the bar, fills reach
the strategy, then the clock moves to the bar's close and the strategy sees the finished bar.
An order it sends then can only trade from the next bar: no look-ahead.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from tradecore.backtest.data import CandleArrays
from tradecore.backtest.metrics import RoundTrip, compute_metrics, round_trips
from tradecore.clock import SimulatedClock
from tradecore.domain import Candle, Fill, Instrument, Side, Trade
from tradecore.engine import TradingEngine
from tradecore.exchange import DEFAULT_ACCOUNT, SimulatedExchange
from tradecore.orderbook import OrderBook
from tradecore.risk import RiskLimits, RiskManager
from tradecore.strategies.base import Strategy

_CHUNK = 16_384  # rows converted to Python floats at a time: bounded memory on long series
_SINGLES = 4_096  # bars of a chunk read one value at a time before its columns become lists


@dataclass
class BacktestResult:
    equity: np.ndarray
    ts: np.ndarray
    fills: list[Fill]
    trades: list[RoundTrip]
    metrics: dict[str, float]
    events: list[object] = field(default_factory=list)
    engine: TradingEngine | None = None

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])


def make_venue(
    instrument: Instrument,
    clock: SimulatedClock,
    *,
    cash: Decimal,
    base: Decimal = Decimal(0),
    name: str = "backtest",
    **venue_options,
) -> SimulatedExchange:
    venue = SimulatedExchange(name, [instrument], clock=clock, **venue_options)
    if cash > 0:
        venue.deposit(DEFAULT_ACCOUNT, instrument.quote, cash)
    if base > 0:
        venue.deposit(DEFAULT_ACCOUNT, instrument.base, base)
    return venue


def run_candles(
    strategy: Strategy,
    candles: CandleArrays,
    instrument: Instrument,
    *,
    cash: Decimal | int | str = 10_000,
    base: Decimal | int | str = 0,
    risk_limits: RiskLimits | None = None,
    interval_ms: int | None = None,
    check_guards: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = _CHUNK,
    **venue_options,
) -> BacktestResult:
    """Replay candles for one symbol through the engine; equity is marked at each close.

    `progress(done, total)`, when given, is called after every `progress_every` bars and at
    the end; it changes nothing in the result, and an exception it raises (a cancellation)
    stops the replay and propagates.
    """
    if progress_every < 1:
        raise ValueError("progress_every must be at least 1")
    interval = interval_ms or candles.interval_ms()
    clock = SimulatedClock(int(candles.ts[0]))
    venue = make_venue(
        instrument, clock, cash=Decimal(str(cash)), base=Decimal(str(base)), **venue_options
    )
    risk = RiskManager(risk_limits) if risk_limits is not None else None
    engine = TradingEngine(strategy, venue, clock=clock, risk=risk)
    guards = risk is not None if check_guards is None else check_guards
    symbol = strategy.symbol
    if symbol != instrument.symbol:
        raise ValueError(f"strategy trades {symbol!r} but the data is {instrument.symbol!r}")
    equity = np.empty(len(candles))
    book = _Book(venue, instrument)
    venue.subscribe(book.on_fill)
    with _gc_paused():
        engine.start()
        chunk = min(_CHUNK, progress_every) if progress is not None else _CHUNK
        _replay(
            candles, symbol, interval, equity, venue, engine, clock, book, guards, chunk, progress
        )
        engine.stop()
        fills = [f for f in engine.fills if f.symbol == symbol]
        held = _held_mask(candles.ts, fills, instrument)
        trips = round_trips(fills)
        metrics = compute_metrics(equity, candles.ts, trips, engine.fills, held, interval)
    return BacktestResult(
        equity, candles.ts, engine.fills, trips, metrics, engine.om.events, engine
    )


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector during a replay.

    The loop allocates only acyclic objects (freed by reference counting), but the orders and
    fills it keeps make every full collection slower as the run grows: on a 1,000,000-bar run
    collections were about half of the time. The previous state is restored afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _replay(
    candles, symbol, interval, equity, venue, engine, clock, book, guards, chunk, progress
) -> None:
    """The hot loop of `run_candles`: match, deliver fills, then show the closed bar.

    While nothing rests at the venue (so no bar can fill anything) and no guard is watched, a
    strategy that offers `quiet_replay()` is handed the closes in one call instead of one
    `on_candle` per bar: the same updates in the same order, and it acts where `on_candle`
    would, with the clock and the last price of that bar. The equity is marked afterwards from
    the account's totals at each bar where a fill changed them (`_Book.mark`).
    """
    match = venue.on_candle
    active = venue._active[symbol]  # resting orders of this symbol (same package: hot path)
    last = venue._last
    decide = engine.strategy.on_candle
    run = engine._run
    process = engine.process_fills
    pending = engine._pending
    # Looked up on the class: a wrapper that forwards attributes (a recording strategy) has its
    # own on_candle, which a batch of its inner strategy's bars would bypass.
    quiet_replay = getattr(type(engine.strategy), "quiet_replay", None)
    quiet = quiet_replay(engine.strategy) if quiet_replay is not None and not guards else None
    make = tuple.__new__
    # Single values read through memoryviews come out as Python ints and floats, as tolist's.
    ts_, open_, high_, low_, volume_ = (
        memoryview(np.ascontiguousarray(column, dtype=dtype))
        for column, dtype in ((candles.ts, np.int64), (candles.open, np.float64),
                              (candles.high, np.float64), (candles.low, np.float64),
                              (candles.volume, np.float64))
    )  # fmt: skip
    close_ = candles.close
    n = len(candles)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        closes = close_[start:stop].tolist()  # Python floats: the strategy's arithmetic
        size = stop - start
        # The other columns become lists once the chunk has many bars replayed one by one;
        # until then, the few bars next to an order read their values one at a time.
        columns = None
        singles = 0 if quiet is not None else _SINGLES

        def at(k: int, start=start, closes=closes) -> None:
            """Bar k of the chunk has closed: the world as `on_candle` would see it."""
            clock._now = ts_[start + k] + interval
            last[symbol] = closes[k]

        i = 0
        while i < size:
            if quiet is not None and not active:
                i, intents = quiet(symbol, closes, i, size, at)
                at(i - 1)
                if intents:
                    run(intents)
                    if book.changed:
                        book.mark(start + i - 1)
                continue
            if columns is not None:
                row = (columns[0][i], columns[1][i], columns[2][i], columns[3][i], closes[i],
                       columns[4][i])  # fmt: skip
            elif singles < _SINGLES:
                singles += 1
                j = start + i
                row = (ts_[j], open_[j], high_[j], low_[j], closes[i], volume_[j])
            else:
                columns = [v[start:stop].tolist() for v in (ts_, open_, high_, low_, volume_)]
                continue
            candle = make(Candle, row)
            ts = row[0]
            if active:
                clock._now = ts
                match(symbol, candle)
                if pending:
                    process()
            else:
                last[symbol] = closes[i]
            clock._now = ts + interval
            intents = decide(symbol, candle)
            if intents:
                run(intents)
            if guards:
                engine.check_guards(symbol)
            if book.changed:
                book.mark(start + i)
            i += 1
        if progress is not None:
            progress(stop, n)
    equity[:] = book.equity(candles.close)


def _held_mask(ts: np.ndarray, fills: list[Fill], instrument: Instrument) -> np.ndarray:
    """Bars that closed with a position (for the exposure metric)."""
    held = np.zeros(len(ts), dtype=bool)
    qty = Decimal(0)
    times, holding = [], []
    for fill in fills:
        qty = qty + fill.qty if fill.side is Side.BUY else qty - fill.qty
        times.append(fill.ts)
        holding.append(qty > 0)
    if times:
        idx = np.searchsorted(np.asarray(times), ts, side="right") - 1
        state = np.asarray(holding)
        held[idx >= 0] = state[idx[idx >= 0]]
    return held


class _Book:
    """Float mirror of the account's totals for marking equity (exact values live in the
    venue; the mirror is refreshed from it after every fill), and the bars where they changed.

    `mark(bar)` after each bar the runner replays one by one (cheap when no fill came);
    `equity(close)` then marks every bar at its close with the totals it ended with.
    """

    def __init__(self, venue: SimulatedExchange, instrument: Instrument) -> None:
        self.symbol = instrument.symbol
        # The venue's own [free, locked] slots for this account (same package; read-only here).
        self._quote = venue._slot(DEFAULT_ACCOUNT, instrument.quote)
        self._base = venue._slot(DEFAULT_ACCOUNT, instrument.base)
        self.quote = float(self._quote[0] + self._quote[1])
        self.base = float(self._base[0] + self._base[1])
        self.changed = False
        self._bars: list[int] = []  # bars after which the totals changed, ascending
        self._totals: list[tuple[float, float]] = [(self.quote, self.base)]

    def on_fill(self, fill: Fill) -> None:
        if fill.account_id == DEFAULT_ACCOUNT and fill.symbol == self.symbol:
            self.quote = float(self._quote[0] + self._quote[1])
            self.base = float(self._base[0] + self._base[1])
            self.changed = True

    def mark(self, bar: int) -> None:
        if self.changed:
            self.changed = False
            if self._bars and self._bars[-1] == bar:
                self._totals[-1] = (self.quote, self.base)
            else:
                self._bars.append(bar)
                self._totals.append((self.quote, self.base))

    def equity(self, close: np.ndarray) -> np.ndarray:
        """quote + base x close at every bar (quote alone while nothing is held)."""
        quote, base = np.array(self._totals, dtype=np.float64).reshape(-1, 2).T
        state = np.searchsorted(np.asarray(self._bars, dtype=np.int64), np.arange(len(close)),
                                side="right")  # fmt: skip
        held = base[state]
        return np.where(held != 0, quote[state] + held * close, quote[state])


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One item of a merged market stream for multi-venue or tick/book backtests."""

    ts_ms: int
    venue: str
    symbol: str
    payload: Candle | Trade | OrderBook | dict


def run_events(
    strategy: Strategy,
    events: Iterable[MarketEvent],
    venues: dict[str, SimulatedExchange],
    clock: SimulatedClock,
    *,
    risk: RiskManager | None = None,
    timer_ms: int | None = None,
    mark_symbol: str | None = None,
    **engine_options,
) -> tuple[TradingEngine, list[tuple[int, float]]]:
    """Replay a time-ordered stream of trades, book updates and candles across venues.

    Returns the engine (fills, events, positions) and equity samples (ts, quote + base marks).
    """
    engine = TradingEngine(strategy, venues, clock=clock, risk=risk, **engine_options)
    engine.start()
    samples: list[tuple[int, float]] = []
    next_timer = None
    for event in events:
        clock.set(max(event.ts_ms, clock.now_ms()))
        if timer_ms is not None:
            next_timer = event.ts_ms if next_timer is None else next_timer
            while next_timer <= event.ts_ms:
                engine.on_timer()
                next_timer += timer_ms
        venue = venues[event.venue]
        payload = event.payload
        if isinstance(payload, Candle):
            venue.on_candle(event.symbol, payload)
            engine.on_candle(event.symbol, payload)
        elif isinstance(payload, Trade):
            venue.on_trade(event.symbol, payload)
            engine.on_trade(event.symbol, payload)
        else:
            venue.on_book(event.symbol, payload)
            engine.on_book(event.symbol, venue.book(event.symbol), event.venue)
        samples.append((event.ts_ms, _equity(engine, venues, mark_symbol or strategy.symbol)))
    engine.stop()
    return engine, samples


def _equity(engine: TradingEngine, venues, symbol: str) -> float:
    total = 0.0
    for venue in venues.values():
        inst = venue.instruments.get(symbol)
        if inst is None:
            continue
        mark = venue.last_price(symbol) or Decimal(0)
        quote = venue.balance(engine.account_id, inst.quote).total
        base = venue.balance(engine.account_id, inst.base).total
        total += float(quote + base * mark)
    return total
