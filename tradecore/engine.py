"""The trading engine: strategy -> risk -> order manager -> venue, for backtest, paper and live.

Only the clock, the market feed and the venues differ between the three modes. The engine never
reads the wall clock and never drives a venue's matching; whoever owns the feed does that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from tradecore.clock import Clock
from tradecore.domain import ZERO, Candle, Fill, Instrument, Order, OrderType, Position, Side, Trade
from tradecore.exchange.simulated import DEFAULT_ACCOUNT
from tradecore.intents import OrderIntent
from tradecore.order_manager import OrderManager, Venue
from tradecore.orderbook import OrderBook
from tradecore.risk import GuardTrip, RiskManager
from tradecore.strategies.base import Strategy


class EngineContext:
    """Read-only view of the account a strategy trades, across venues."""

    def __init__(self, venues: Mapping[str, Venue], account_id: str, clock: Clock) -> None:
        self.venues = venues
        self.account_id = account_id
        self.clock = clock
        self.default_venue = next(iter(venues))

    def _venue(self, venue: str) -> Venue:
        return self.venues[venue or self.default_venue]

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def instrument(self, symbol: str, venue: str = "") -> Instrument:
        return self._venue(venue).instruments[symbol]

    def position(self, symbol: str, venue: str = "") -> Decimal:
        v = self._venue(venue)
        return self.total(v.instruments[symbol].base, venue)

    def free(self, asset: str, venue: str = "") -> Decimal:
        return self._venue(venue).free(self.account_id, asset)

    def total(self, asset: str, venue: str = "") -> Decimal:
        return self._venue(venue).total(self.account_id, asset)

    def book(self, symbol: str, venue: str = "") -> OrderBook | None:
        return self._venue(venue).book(symbol)

    def open_orders(self, symbol: str | None = None, venue: str = "") -> list[Order]:
        return self._venue(venue).open_orders(self.account_id, symbol)

    def last_price(self, symbol: str, venue: str = "") -> Decimal | None:
        return self._venue(venue).last_price(symbol)


class TradingEngine:
    """Runs one strategy for one account over one or more venues."""

    def __init__(
        self,
        strategy: Strategy,
        venues: Mapping[str, Venue] | Venue,
        *,
        clock: Clock,
        account_id: str = DEFAULT_ACCOUNT,
        risk: RiskManager | None = None,
        refresh_tolerance: Decimal = Decimal(0),
        max_order_age_ms: int | None = None,
        id_prefix: str = "pg",
        contain_errors: bool = False,
    ) -> None:
        """With `contain_errors`, a strategy that raises stops only this engine: the error is
        kept in `self.error`, open orders are cancelled, trading halts and later events are
        ignored (the bot runtime reports it); without, the exception propagates (backtests)."""
        self.contain_errors = contain_errors
        self.error: str | None = None
        self.venues = dict(venues) if isinstance(venues, Mapping) else {venues.name: venues}
        self.strategy = strategy
        self.clock = clock
        self.account_id = account_id
        self.risk = risk
        self.om = OrderManager(
            self.venues,
            account_id,
            clock=clock,
            risk=risk,
            id_prefix=id_prefix,
            refresh_tolerance=refresh_tolerance,
            max_order_age_ms=max_order_age_ms,
        )
        self.ctx = EngineContext(self.venues, account_id, clock)
        self.fills: list[Fill] = []
        self._positions: dict[tuple[str, str], Position] = {}
        self._positioned = 0  # fills already folded into _positions
        self.guard_trips: list[GuardTrip] = []
        self.errors: list[str] = []
        self._pending: list[Fill] = []
        for venue in self.venues.values():
            venue.subscribe(self._on_venue_fill)
            venue.subscribe_orders(self._on_venue_order)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._run(self._call(self.strategy.on_start, self.ctx))

    def stop(self) -> None:
        self._run(self._call(self.strategy.on_stop))

    def _call(self, method, *args) -> Sequence:
        if self.error is not None:
            return ()
        if not self.contain_errors:
            return method(*args)
        try:
            return method(*args)
        except Exception as exc:  # a strategy bug stops this bot, never its host
            self.error = f"{type(exc).__name__}: {exc}"
            self.errors.append(self.error)
            if self.risk is None:
                self.risk = RiskManager()
                self.om.risk = self.risk
            self.kill(f"strategy error: {self.error}")
            return ()

    def kill(self, reason: str) -> None:
        """Kill switch: cancel every open order and refuse new risk."""
        if self.risk is not None:
            self.risk.kill(reason)
        self.om.cancel_all()
        self.process_fills()

    # -- feed ------------------------------------------------------------------------------
    def on_candle(self, symbol: str, candle: Candle) -> None:
        self.process_fills()
        intents = self._call(self.strategy.on_candle, symbol, candle)
        if intents:
            self._run(intents)

    def on_trade(self, symbol: str, trade: Trade) -> None:
        self.process_fills()
        self._run(self._call(self.strategy.on_trade, symbol, trade))

    def on_book(self, symbol: str, book: OrderBook, venue: str = "") -> None:
        self.process_fills()
        self._run(self._call(self.strategy.on_book, symbol, book, venue))

    def on_timer(self) -> None:
        self.process_fills()
        self._run(self._call(self.strategy.on_timer, self.clock.now_ms()))

    def on_signal(self, action: str, qty: Decimal | None) -> None:
        """An alert posted to the bot from outside (its signal webhook)."""
        self.process_fills()
        self._run(self._call(self.strategy.on_signal, action, qty))

    def on_fill(self, fill: Fill) -> None:
        """Feed a fill from a live gateway (simulated venues report theirs by subscription)."""
        self._pending.append(fill)
        self.process_fills()

    def _on_venue_order(self, order: Order) -> None:
        if order.account_id == self.account_id:
            self.om.update(order)

    def _on_venue_fill(self, fill: Fill) -> None:
        if fill.account_id == self.account_id:
            self._pending.append(fill)

    def process_fills(self) -> None:
        pending = self._pending
        while pending:
            batch = pending[:]  # fills raised while handling these join the next batch
            pending.clear()
            for fill in batch:
                self.fills.append(fill)
                self.om.on_fill(fill)
                intents = self._call(self.strategy.on_fill, fill)
                if intents:
                    self.om.execute(intents)

    def _run(self, intents: Sequence) -> None:
        if intents:
            self.om.execute(intents)
        if self._pending:
            self.process_fills()

    @property
    def positions(self) -> dict[tuple[str, str], Position]:
        """Average-cost position per (venue, symbol), folded from the fills when asked."""
        for fill in self.fills[self._positioned :]:
            key = (fill.venue, fill.symbol)
            self._positions[key] = self._positions.get(key, Position(fill.symbol)).apply(fill)
        self._positioned = len(self.fills)
        return self._positions

    # -- guards ----------------------------------------------------------------------------
    def check_guards(self, symbol: str, venue: str = "") -> list[GuardTrip]:
        """Evaluate portfolio guards at the current mark and act on any trip."""
        if self.risk is None:
            return []
        venue = venue or self.ctx.default_venue
        mark = self.ctx.last_price(symbol, venue)
        if mark is None:
            return []
        inst = self.ctx.instrument(symbol, venue)
        qty = self.ctx.position(symbol, venue)
        equity = self.ctx.total(inst.quote, venue) + qty * mark
        position = self.positions.get((venue, symbol), Position(symbol))
        trips = self.risk.evaluate(self.clock.now_ms(), equity, qty, position.avg_price, mark)
        for trip in trips:
            self.guard_trips.append(trip)
            self.om.cancel_all(symbol)
            if trip.action == "flatten":
                self._flatten(symbol, venue, inst)
        return trips

    def _flatten(self, symbol: str, venue: str, inst: Instrument) -> None:
        self.om.cancel_all(symbol, venue)
        qty = inst.round_qty(self.ctx.free(inst.base, venue))
        if qty > ZERO:
            self.om.submit(
                OrderIntent(
                    symbol, Side.SELL, OrderType.MARKET, qty, venue=venue, reduces_position=True
                )
            )
        self.process_fills()
