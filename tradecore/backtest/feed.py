"""Backtests on trades and order books, through the same engine and simulated exchange.

`run_feed` replays one market's trades and book snapshots (and, beside them, the bars of a
timeframe) in time order. The bars are the run's grid: each closed bar reaches the strategy
as a candle at its close, and equity and inventory are marked there, so results have the shape
of a candle backtest's (one value per bar). What fills orders is the finest data there is:

* books, when given: market orders walk the book in force when they reach the venue
  (`BookWalkExchange` with `book_walk=True`: VWAP of the levels consumed, the rest expired
  when the book is too thin); resting limits fill when the book crosses them;
* else trades: market orders fill at the next trade's price, limits when trades print
  through them;
* else the bars themselves, as in `run_candles` (market orders at the next open).

Latency (`latency_ms`): an order sent at t reaches the venue at t + latency and trades
against the market from then on. Events at the same millisecond: a bar's close first (the
strategy decides on data before it), then the mark, books, trades and the next bar's open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from tradecore.backtest.data import CandleArrays
from tradecore.backtest.metrics import compute_metrics, round_trips
from tradecore.backtest.runner import BacktestResult, make_venue
from tradecore.clock import SimulatedClock
from tradecore.domain import Candle, Instrument, Order, Trade
from tradecore.engine import TradingEngine
from tradecore.exchange import DEFAULT_ACCOUNT, FixedLatency
from tradecore.exchange.bookwalk import BookWalkExchange
from tradecore.orderbook import OrderBook
from tradecore.risk import RiskLimits, RiskManager
from tradecore.strategies.base import Strategy

_CLOSE, _MARK, _BOOK, _TRADE, _OPEN = range(5)
THIN_BOOK = "book too thin"


@dataclass
class FeedResult(BacktestResult):
    """A feed backtest's result: `inventory` is the base held at each bar's close, and
    `cut_short` the market orders a thin book could not fill in full (their final state)."""

    inventory: np.ndarray = field(default_factory=lambda: np.empty(0))
    cut_short: list[Order] = field(default_factory=list)
    events_replayed: int = 0


def run_feed(
    strategy: Strategy,
    instrument: Instrument,
    bars: CandleArrays,
    *,
    interval_ms: int,
    trades: Iterable[Trade] = (),
    books: Iterable[OrderBook] = (),
    cash: Decimal | int | str = 10_000,
    base: Decimal | int | str = 0,
    latency_ms: int = 0,
    book_walk: bool = False,
    slippage_model=None,
    timer_ms: int | None = None,
    risk_limits: RiskLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
    progress_every: int = 10_000,
) -> FeedResult:
    """Replay trades and books (module doc) with `bars` as the strategy's candles and the
    marking grid; `progress(done, total)` counts events, as `run_candles` counts bars."""
    if strategy.symbol != instrument.symbol:
        raise ValueError(
            f"strategy trades {strategy.symbol!r} but the data is {instrument.symbol!r}"
        )
    if latency_ms < 0:
        raise ValueError("latency cannot be negative")
    books, trades = list(books), list(trades)
    if book_walk and not books:
        raise ValueError("book-walk fills need order-book data; none was given")
    clock = SimulatedClock(int(bars.ts[0]))
    options = {}
    if latency_ms:
        options["latency_model"] = FixedLatency(latency_ms)
    if slippage_model is not None:
        options["slippage_model"] = slippage_model
    venue_class = BookWalkExchange if book_walk else None
    venue = _venue(instrument, clock, cash, base, venue_class, options)
    cut_short: list[Order] = []
    venue.subscribe_orders(
        lambda o: cut_short.append(o) if o.reason.startswith(THIN_BOOK) else None
    )
    engine = TradingEngine(
        strategy, venue, clock=clock,
        risk=RiskManager(risk_limits) if risk_limits is not None else None,
    )  # fmt: skip
    events = _merge(bars, interval_ms, trades, books, candles_fill=not (trades or books))
    equity, inventory = np.empty(len(bars)), np.empty(len(bars))
    engine.start()
    _replay(events, engine, venue, clock, instrument, timer_ms, equity, inventory,
            progress, progress_every)  # fmt: skip
    engine.stop()
    fills = [f for f in engine.fills if f.symbol == instrument.symbol]
    trips = round_trips(fills)
    held = _held_mask(bars.ts, fills)
    metrics = compute_metrics(equity, bars.ts, trips, engine.fills, held, interval_ms)
    return FeedResult(
        equity, bars.ts, engine.fills, trips, metrics, engine.om.events, engine,
        inventory=inventory, cut_short=cut_short, events_replayed=len(events),
    )  # fmt: skip


def _held_mask(ts: np.ndarray, fills) -> np.ndarray:
    """Bars that closed with a position (for the exposure metric)."""
    qty, times, holding = Decimal(0), [], []
    for fill in fills:
        qty += fill.qty if fill.side.value == "buy" else -fill.qty
        times.append(fill.ts)
        holding.append(qty > 0)
    held = np.zeros(len(ts), dtype=bool)
    if times:
        idx = np.searchsorted(np.asarray(times), ts, side="right") - 1
        held[idx >= 0] = np.asarray(holding)[idx[idx >= 0]]
    return held


def _venue(instrument, clock, cash, base, venue_class, options):
    if venue_class is None:
        return make_venue(
            instrument, clock, cash=Decimal(str(cash)), base=Decimal(str(base)), **options
        )
    venue = venue_class("backtest", [instrument], clock=clock, **options)
    for asset, amount in (
        (instrument.quote, Decimal(str(cash))),
        (instrument.base, Decimal(str(base))),
    ):
        if amount > 0:
            venue.deposit(DEFAULT_ACCOUNT, asset, amount)
    return venue


def _merge(bars: CandleArrays, interval: int, trades, books, *, candles_fill: bool) -> list:
    """Every event as (ts, order, seq, kind, payload), in replay order."""
    events: list[tuple] = []
    rows = zip(
        bars.ts.tolist(), bars.open.tolist(), bars.high.tolist(), bars.low.tolist(),
        bars.close.tolist(), bars.volume.tolist(), strict=True,
    )  # fmt: skip
    for i, row in enumerate(rows):
        candle = Candle(*row)
        events.append((row[0] + interval, _CLOSE, i, _CLOSE, candle))
        events.append((row[0] + interval, _MARK, i, _MARK, i))
        if candles_fill:
            events.append((row[0], _OPEN, i, _OPEN, candle))
    for i, book in enumerate(books):
        events.append((book.ts_ms, _BOOK, i, _BOOK, book))
    for i, trade in enumerate(trades):
        events.append((trade.ts_ms, _TRADE, i, _TRADE, trade))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    return events


def _replay(events, engine, venue, clock, instrument, timer_ms, equity, inventory,
            progress, every) -> None:  # fmt: skip
    symbol, name = instrument.symbol, venue.name
    # a market order that arrived between two events meets the book in force then
    walk = venue.walk_arrived if isinstance(venue, BookWalkExchange) else None
    next_timer = events[0][0] if timer_ms else None
    total = len(events)
    for done, (ts, _, _, kind, payload) in enumerate(events, 1):
        if next_timer is not None:
            while next_timer <= ts:
                clock.set(max(next_timer, clock.now_ms()))
                engine.on_timer()
                next_timer += timer_ms
        clock.set(max(ts, clock.now_ms()))
        if kind == _CLOSE:
            engine.on_candle(symbol, payload)
        elif kind == _MARK:
            if walk is not None:
                walk(symbol, ts)
            held = venue.total(DEFAULT_ACCOUNT, instrument.base)
            mark = venue.last_price(symbol) or Decimal(0)
            equity[payload] = float(venue.total(DEFAULT_ACCOUNT, instrument.quote) + held * mark)
            inventory[payload] = float(held)
        elif kind == _BOOK:
            if walk is not None:
                walk(symbol, ts - 1)
            venue.on_book(symbol, payload)
            engine.on_book(symbol, venue.book(symbol), name)
        elif kind == _TRADE:
            if walk is not None:
                walk(symbol, ts - 1)
            venue.on_trade(symbol, payload)
            engine.on_trade(symbol, payload)
        else:
            venue.on_candle(symbol, payload)
            engine.process_fills()
        if progress is not None and (done % every == 0 or done == total):
            progress(done, total)
