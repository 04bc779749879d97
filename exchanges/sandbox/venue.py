"""A sandbox venue: tradecore's matching engine plus the public market state Binance exposes.

Each venue has its own engine, books, tape and 1m bars; venues share the same underlying
market walk (same seed) shifted by their own price offset and noise, so cross-venue spreads
exist and move. All state lives in one asyncio thread (the server's); nothing here locks.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, replace
from decimal import Decimal

from exchanges.sandbox.engine import BinanceSpotExchange
from exchanges.sandbox.market import ReplayFeed, SyntheticFeed
from tradecore.clock import Clock
from tradecore.domain import (
    ZERO,
    Balance,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    Rounding,
    Side,
    Trade,
)
from tradecore.orderbook import OrderBook

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One change to an account, as its user data stream reports it: an order's execution
    report (NEW, TRADE, CANCELED, EXPIRED) with the order as it stood right after, the fill
    for a TRADE, and the balances of the market's two assets at that moment."""

    account_id: str
    execution: str
    order: Order
    fill: Fill | None
    balances: tuple[Balance, ...]
    ts: int


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A sandbox market: unified symbol, reference price and Binance-style filters."""

    symbol: str
    start_price: float
    tick_size: str
    lot_size: str
    min_qty: str
    min_notional: str
    mean_qty: float

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def market_id(self) -> str:
        return self.symbol.replace("/", "")

    def instrument(self, fee: Decimal) -> Instrument:
        return Instrument(
            self.symbol,
            self.base,
            self.quote,
            Decimal(self.tick_size),
            Decimal(self.lot_size),
            Decimal(self.min_notional),
            fee,
            fee,
        )


DEFAULT_SYMBOLS = (
    SymbolSpec("BTC/USDT", 30_000.0, "0.01", "0.00001", "0.0001", "5", 0.05),
    SymbolSpec("ETH/USDT", 2_000.0, "0.01", "0.0001", "0.001", "5", 0.5),
    SymbolSpec("ETH/BTC", 0.066, "0.00001", "0.0001", "0.001", "0.0001", 0.5),
)
DEFAULT_FEE = Decimal("0.001")


class SymbolState:
    """Public market state for one symbol on one venue."""

    def __init__(self, spec: SymbolSpec, feed, instrument: Instrument) -> None:
        self.spec = spec
        self.feed = feed
        self.instrument = instrument
        self.trades: deque[dict] = deque(maxlen=5000)
        self.trade_seq = 0
        self.bars: dict[
            int, list
        ] = {}  # open ms -> [o, h, l, c, vol, quote_vol, n, buy_vol, buy_q]
        self.book: OrderBook | None = None
        self.book_seq = 0
        self.last_price: Decimal | None = None


class Venue:
    """One named sandbox exchange: engine, accounts, books, tape and bars."""

    def __init__(
        self,
        name: str,
        *,
        clock: Clock,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        offset_bps: float = 0.0,
        seed: int = 7,
        history_bars: int = 1440,
        replay: dict[str, list[tuple]] | None = None,
        replay_speed: float = 1.0,
        book_levels: int = 20,
        fee: Decimal = DEFAULT_FEE,
    ) -> None:
        self.name = name
        self.clock = clock
        self.offset = 1.0 + offset_bps / 10_000
        self.noise = random.Random(hash((name, seed)) & 0xFFFFFFFF)
        self.book_rng = random.Random(seed + 1)
        self.book_levels = book_levels
        self.maintenance = False
        instruments = [spec.instrument(fee) for spec in symbols]
        self.exchange = BinanceSpotExchange(name, instruments, clock=clock, seed=seed)
        self.exchange.subscribe(self._on_fill)
        self.exchange.subscribe_orders(self._on_order_end)
        # the user data streams' events, in the order they happened (drained by the streams)
        self.user_events: list[UserEvent] = []
        self._placing: list[UserEvent] | None = None
        self.symbols: dict[str, SymbolState] = {}
        self.by_market_id: dict[str, SymbolState] = {}
        self.order_numbers: dict[str, int] = {}
        self.order_ids: dict[int, str] = {}
        self.trade_numbers: dict[str, int] = {}
        self.fills_by_order: dict[str, list[Fill]] = {}
        self.order_symbols: dict[str, str] = {}
        self.account_orders: dict[str, list[str]] = {}
        now = clock.now_ms()
        for index, spec in enumerate(symbols):
            instrument = self.exchange.instruments[spec.symbol]
            if replay and spec.symbol in replay:
                feed = ReplayFeed(replay[spec.symbol], speed=replay_speed, seed=seed + index)
            else:
                feed = SyntheticFeed(spec.start_price, seed=seed + index, mean_qty=spec.mean_qty)
            state = SymbolState(spec, feed, instrument)
            self.symbols[spec.symbol] = state
            self.by_market_id[spec.market_id] = state
            self._seed_history(state, now, history_bars)
            self._refresh_book(state, now)
            # the matching engine sees the opening book before the server answers its first
            # request, so a market order sent at once has a price, as on a real exchange
            self.exchange.on_book(spec.symbol, state.book)

    # -- history and market steps ----------------------------------------------------------
    def _seed_history(self, state: SymbolState, now_ms: int, count: int) -> None:
        current = now_ms - now_ms % MINUTE_MS
        start = current - count * MINUTE_MS
        if isinstance(state.feed, ReplayFeed):
            candles = state.feed.candles[:count]
            bars = [(start + i * MINUTE_MS, *c[1:6], 4) for i, c in enumerate(candles)]
            state.feed.index = len(candles)
        else:
            bars = state.feed.candles(start, count)
        for ts, o, h, low, c, v, n in bars:
            o, h, low, c = (self._venue_price(state, x, noise=False) for x in (o, h, low, c))
            v = state.instrument.round_qty(Decimal(repr(v)))
            q = v * c
            state.bars[ts] = [o, h, low, c, v, q, n, v / 2, q / 2]
        if bars:
            state.last_price = state.bars[bars[-1][0]][3]

    def _venue_price(self, state: SymbolState, price: float, *, noise: bool = True) -> Decimal:
        factor = self.offset * (1 + (self.noise.gauss(0, 0.00005) if noise else 0.0))
        return state.instrument.round_price(Decimal(repr(price * factor)))

    def step(self, now_ms: int, dt_seconds: float) -> list[Fill]:
        """Advance every symbol's market by one tick; return user fills it caused."""
        fills: list[Fill] = []
        for state in self.symbols.values():
            tick = state.feed.step(now_ms, dt_seconds)
            price = self._venue_price(state, tick.price)
            qty = state.instrument.round_qty(Decimal(repr(max(tick.qty, 1e-9))), Rounding.UP)
            state.last_price = price
            self._refresh_book(state, now_ms)
            fills += self.exchange.on_book(state.spec.symbol, state.book)
            side = Side.BUY if tick.buy else Side.SELL
            self._record_trade(state, price, qty, now_ms, buyer_maker=not tick.buy)
            trade = Trade(now_ms, float(price), float(qty), side, str(state.trade_seq))
            fills += self.exchange.on_trade(state.spec.symbol, trade)
        return fills

    def _refresh_book(self, state: SymbolState, now_ms: int) -> None:
        mid = state.last_price
        inst = state.instrument
        step = max(inst.tick_size, inst.round_price(mid * Decimal("0.0001"), rounding=Rounding.UP))
        half = max(inst.tick_size, inst.round_price(mid * Decimal("0.00005"), rounding=Rounding.UP))
        bid0 = inst.round_price(mid - half, rounding=Rounding.DOWN)
        ask0 = inst.round_price(mid + half, rounding=Rounding.UP)
        rng, mean = self.book_rng, state.spec.mean_qty * 8
        bids, asks = [], []
        for level in range(self.book_levels):
            size = inst.round_qty(Decimal(repr(rng.expovariate(1 / mean) + mean / 4)))
            bids.append((bid0 - step * level, size))
            size = inst.round_qty(Decimal(repr(rng.expovariate(1 / mean) + mean / 4)))
            asks.append((ask0 + step * level, size))
        state.book = OrderBook(state.spec.symbol, bids, asks, now_ms)
        state.book_seq += 1

    @staticmethod
    def _close_quiet_minutes(state: SymbolState, bar_ts: int) -> None:
        """Minutes without a trade (such as those between the seeded history and the first
        tick) get a flat, empty bar at the last close, as Binance's klines have: the 1m
        history has no holes."""
        if not state.bars:
            return
        last = next(reversed(state.bars))
        close = state.bars[last][3]
        for ts in range(last + MINUTE_MS, bar_ts, MINUTE_MS):
            state.bars[ts] = [close, close, close, close, ZERO, ZERO, 0, ZERO, ZERO]

    def _record_trade(self, state, price: Decimal, qty: Decimal, ts: int, *, buyer_maker: bool):
        state.trade_seq += 1
        state.trades.append(
            {
                "id": state.trade_seq,
                "price": price,
                "qty": qty,
                "time": ts,
                "isBuyerMaker": buyer_maker,
            }
        )
        bar_ts = ts - ts % MINUTE_MS
        bar = state.bars.get(bar_ts)
        quote = price * qty
        if bar is None:
            self._close_quiet_minutes(state, bar_ts)
            taker_buy = (ZERO, ZERO) if buyer_maker else (qty, quote)
            state.bars[bar_ts] = [price, price, price, price, qty, quote, 1, *taker_buy]
            return
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += qty
        bar[5] += quote
        bar[6] += 1
        if not buyer_maker:
            bar[7] += qty
            bar[8] += quote

    def _on_fill(self, fill: Fill) -> None:
        self.trade_numbers.setdefault(fill.trade_id, len(self.trade_numbers) + 1)
        self.fills_by_order.setdefault(fill.order_id, []).append(fill)
        state = self.symbols[fill.symbol]
        self._record_trade(state, fill.price, fill.qty, fill.ts, buyer_maker=fill.side is Side.SELL)
        order = self.exchange.get_order(fill.account_id, order_id=fill.order_id)
        self._user_event(order, "TRADE", fill, fill.ts)

    def _on_order_end(self, order: Order) -> None:
        execution = {OrderStatus.CANCELLED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED"}
        if order.status in execution:
            self._user_event(order, execution[order.status], None, order.updated_ms)

    def _user_event(self, order: Order, execution: str, fill: Fill | None, ts: int) -> None:
        state = self.symbols[order.symbol]
        balances = tuple(
            self.exchange.balance(order.account_id, asset)
            for asset in (state.spec.base, state.spec.quote)
        )
        event = UserEvent(order.account_id, execution, order, fill, balances, ts)
        (self._placing if self._placing is not None else self.user_events).append(event)

    def take_user_events(self) -> list[UserEvent]:
        events, self.user_events = self.user_events, []
        return events

    # -- accounts and orders ---------------------------------------------------------------
    def place(self, account_id: str, request: OrderRequest) -> Order:
        """Place an order; its user data stream gets NEW first, then what the order did on
        arrival (fills, an IOC/FOK expiry); an order refused outright reports nothing."""
        self._placing = []
        try:
            order = self.exchange.place_order(account_id, request)
        finally:
            arrival, self._placing = self._placing, None
        if order.status is not OrderStatus.REJECTED:
            new = replace(order, status=OrderStatus.NEW, filled_qty=ZERO, avg_price=None, fee=ZERO)
            state = self.symbols[order.symbol]
            balances = (
                ()
                if arrival
                else tuple(
                    self.exchange.balance(account_id, a)
                    for a in (state.spec.base, state.spec.quote)
                )
            )
            self.user_events.append(
                UserEvent(account_id, "NEW", new, None, balances, order.created_ms)
            )
            self.user_events += arrival
        number = len(self.order_numbers) + 1
        self.order_numbers[order.order_id] = number
        self.order_ids[number] = order.order_id
        self.order_symbols[order.order_id] = order.symbol
        if order.status.value != "rejected":
            self.account_orders.setdefault(account_id, []).append(order.order_id)
        return (
            self.exchange.get_order(account_id, order_id=order.order_id)
            if (order.status.value != "rejected")
            else order
        )

    def orders_of(self, account_id: str, symbol: str) -> list[Order]:
        return [
            self.exchange.get_order(account_id, order_id=oid)
            for oid in self.account_orders.get(account_id, [])
            if self.order_symbols[oid] == symbol
        ]
