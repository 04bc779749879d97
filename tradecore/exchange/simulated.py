"""The simulated exchange: a multi-account matching engine driven by market data.

Matching rules (stated once, used by backtests, paper trading and the sandbox exchange):

* Orders and cancels reach the venue after the latency model's delay. An order is matched only
  against market data stamped at or after its arrival; a candle counts from its open time, so a
  candle-driven venue is conservative: an order sent inside a bar trades from the next bar.
* Candles: the intrabar path is open->low->high->close for a bar that closes at or above its
  open and open->high->low->close otherwise (the extreme on the side of the open's move is
  visited after the other). Market orders fill at the open. A limit order that is marketable
  at its first bar fills at the open as a taker; a resting limit fills at its own price as a
  maker when the path touches it (or trades through it, with `candle_fill_on_touch=False`).
* Trades: a resting limit fills (maker, at its price) when a trade prints through its price;
  at exactly its price it fills once the queue ahead (the book size at that level when it
  arrived, if a book is known) has traded. Pending market orders fill at the trade price.
* Book updates: pending market orders and marketable limits walk the book as takers; a resting
  limit that the book crosses fills as a maker at its price for the crossed size.
* Optional `max_participation` caps fills at that fraction of a candle's volume or a trade's size.
* Fees are charged in the quote asset: maker or taker rate on price x qty.
* Funds are locked on placement (quote incl. the higher fee rate for buys, base for sells) and
  released on cancel, expiry or rejection. A buy that would cost more than its lock plus the
  free balance at the fill price is sized down to fit and the rest is cancelled with a reason;
  nothing is dropped silently.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from tradecore.clock import Clock
from tradecore.domain import (
    ZERO,
    Balance,
    Candle,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trade,
    to_decimal,
)
from tradecore.exchange.models import LatencyModel, NoLatency, NoSlippage, SlippageModel
from tradecore.orderbook import OrderBook

DEFAULT_ACCOUNT = "default"
_EMPTY: list[Fill] = []


class OrderNotFound(KeyError):
    """No order with that id for that account."""


class _Live:
    """Mutable order state inside the venue; callers only ever see `Order` snapshots."""

    __slots__ = (
        "order_id", "client_order_id", "account_id", "request", "symbol", "side", "type", "qty",
        "price", "stop_price", "tif", "post_only", "status", "filled_qty", "notional", "fee",
        "created_ms", "updated_ms", "reason", "arrive_ms", "cancel_ms", "locked", "lock_asset",
        "arrived", "triggered", "queue_ahead", "quote_qty", "quote_slot", "base_slot", "lock_slot",
    )  # fmt: skip

    def __init__(self, order_id: str, account_id: str, req: OrderRequest, now: int) -> None:
        self.order_id = order_id
        self.client_order_id = req.client_order_id
        self.account_id = account_id
        self.request = req
        self.symbol = req.symbol
        self.side = req.side
        self.type = req.type
        self.qty = req.qty
        self.price = req.price
        self.stop_price = req.stop_price
        self.tif = req.tif
        self.post_only = req.post_only
        self.quote_qty = req.quote_qty
        self.status = OrderStatus.NEW
        self.filled_qty = ZERO
        self.notional = ZERO
        self.fee = ZERO
        self.created_ms = self.updated_ms = now
        self.reason = ""
        self.arrive_ms = now
        self.cancel_ms: int | None = None
        self.locked = ZERO
        self.lock_asset = ""
        self.arrived = False
        self.triggered = req.type not in (OrderType.STOP, OrderType.STOP_LIMIT)
        self.queue_ahead = ZERO

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def is_limit(self) -> bool:
        return self.type is OrderType.LIMIT or self.type is OrderType.STOP_LIMIT


class SimulatedExchange:
    """A venue hosting many accounts, matching their orders against the market data it is fed."""

    def __init__(
        self,
        name: str,
        instruments: Iterable[Instrument] | Mapping[str, Instrument],
        *,
        clock: Clock,
        latency_model: LatencyModel | None = None,
        slippage_model: SlippageModel | None = None,
        seed: int = 0,
        max_participation: float | None = None,
        candle_fill_on_touch: bool = True,
    ) -> None:
        items = instruments.values() if isinstance(instruments, Mapping) else instruments
        self.name = name
        self.instruments: dict[str, Instrument] = {i.symbol: i for i in items}
        self.clock = clock
        self.latency = latency_model or NoLatency()
        self.slippage = slippage_model or NoSlippage()
        self._slips = not isinstance(self.slippage, NoSlippage)
        self._delays = not isinstance(self.latency, NoLatency)
        self.rng = random.Random(seed)
        self.max_participation = max_participation
        self.candle_fill_on_touch = candle_fill_on_touch
        self._balances: dict[str, dict[str, list[Decimal]]] = {}
        self._orders: dict[str, _Live] = {}
        self._by_client: dict[tuple[str, str], str] = {}
        self._active: dict[str, dict[str, _Live]] = {s: {} for s in self.instruments}
        self._fills: dict[str, list[Fill]] = {}
        self._books: dict[str, OrderBook] = {}
        self._last: dict[str, object] = {}
        self._order_seq = 0
        self._trade_seq = 0
        self._listeners: list[Callable[[Fill], None]] = []
        self._order_listeners: list[Callable[[Order], None]] = []

    # -- accounts --------------------------------------------------------------------------
    def deposit(self, account_id: str, asset: str, amount: object) -> Balance:
        """Credit `amount` of `asset` to the account's free balance."""
        amount = to_decimal(amount)
        if amount <= 0:
            raise ValueError("deposit must be positive")
        slot = self._slot(account_id, asset)
        slot[0] += amount
        return Balance(asset, slot[0], slot[1])

    def withdraw(self, account_id: str, asset: str, amount: object) -> Balance:
        amount = to_decimal(amount)
        slot = self._slot(account_id, asset)
        if amount <= 0 or amount > slot[0]:
            raise ValueError(f"cannot withdraw {amount} {asset}: free is {slot[0]}")
        slot[0] -= amount
        return Balance(asset, slot[0], slot[1])

    def balances(self, account_id: str = DEFAULT_ACCOUNT) -> dict[str, Balance]:
        book = self._balances.get(account_id, {})
        return {a: Balance(a, s[0], s[1]) for a, s in book.items()}

    def free(self, account_id: str, asset: str) -> Decimal:
        """Free balance of one asset (no Balance object: used on every signal)."""
        return self._slot(account_id, asset)[0]

    def total(self, account_id: str, asset: str) -> Decimal:
        slot = self._slot(account_id, asset)
        return slot[0] + slot[1]

    def balance(self, account_id: str, asset: str) -> Balance:
        slot = self._slot(account_id, asset)
        return Balance(asset, slot[0], slot[1])

    def _slot(self, account_id: str, asset: str) -> list[Decimal]:
        account = self._balances.get(account_id)
        if account is None:
            account = self._balances[account_id] = {}
        slot = account.get(asset)
        if slot is None:
            slot = account[asset] = [ZERO, ZERO]
        return slot

    def subscribe(self, listener: Callable[[Fill], None]) -> None:
        """Call `listener(fill)` for every fill, in order, on every account."""
        self._listeners.append(listener)

    def subscribe_orders(self, listener: Callable[[Order], None]) -> None:
        """Call `listener(order)` whenever an order ends other than by a fill: cancelled
        (including a delayed cancel), expired, or rejected on arrival. A fill's own
        `order_status` reports the rest."""
        self._order_listeners.append(listener)

    def forget_finished(self, keep: frozenset[str] = frozenset()) -> int:
        """Drop finished orders (except those whose client order id is in `keep`) and past
        fills from memory; return how many orders were dropped.

        For a venue that runs for days (paper trading) whose owner keeps its own record of
        what finished; a dropped order is no longer found by `get_order`.
        """
        done = [
            oid
            for oid, live in self._orders.items()
            if live.status.is_terminal and live.client_order_id not in keep
        ]
        for oid in done:
            live = self._orders.pop(oid)
            self._by_client.pop((live.account_id, live.client_order_id), None)
        for fills in self._fills.values():
            fills.clear()
        return len(done)

    # -- market state ----------------------------------------------------------------------
    def last_price(self, symbol: str) -> Decimal | None:
        value = self._last.get(symbol)
        if value is None:
            book = self._books.get(symbol)
            return book.mid() if book is not None else None
        return to_decimal(value)

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.get(symbol)

    # -- orders ----------------------------------------------------------------------------
    def place_order(self, account_id: str, request: OrderRequest) -> Order:
        """Accept or reject an order; a rejection is an Order with status REJECTED and a reason."""
        now = self.clock.now_ms()
        self._order_seq += 1
        live = _Live(f"{self.name}-{self._order_seq}", account_id, request, now)
        self._orders[live.order_id] = live
        reason = self._validate(live)
        if not reason:
            reason = self._lock_funds(live)
        if reason:
            live.status = OrderStatus.REJECTED
            live.reason = reason
            return self._snapshot(live)
        self._by_client[(account_id, live.client_order_id)] = live.order_id
        if self._delays:
            live.arrive_ms = now + self.latency.delay_ms(self.rng)
        self._active[live.symbol][live.order_id] = live
        if live.arrive_ms <= now:
            self._arrive_now(live, now)
        return self._snapshot(live)

    def cancel_order(
        self,
        account_id: str,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Cancel an active order (after the latency delay); a finished order is returned as is."""
        live = self._find(account_id, order_id, client_order_id)
        if live.status.is_terminal:
            return self._snapshot(live)
        now = self.clock.now_ms()
        delay = self.latency.delay_ms(self.rng)
        if delay == 0:
            self._finish(live, OrderStatus.CANCELLED, "cancelled by user", now)
        else:
            live.cancel_ms = now + delay
        return self._snapshot(live)

    def cancel_all(self, account_id: str, symbol: str | None = None) -> list[Order]:
        return [
            self.cancel_order(account_id, order_id=o.order_id)
            for o in self.open_orders(account_id, symbol)
        ]

    def get_order(
        self, account_id: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order:
        return self._snapshot(self._find(account_id, order_id, client_order_id))

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[Order]:
        if symbol and not self._active.get(symbol):
            return []  # asked on every signal: most often nothing rests
        symbols = [symbol] if symbol else list(self._active)
        return [
            self._snapshot(o)
            for s in symbols
            for o in self._active.get(s, {}).values()
            if o.account_id == account_id
        ]

    def fills(self, account_id: str = DEFAULT_ACCOUNT, symbol: str | None = None) -> list[Fill]:
        fills = self._fills.get(account_id, [])
        return [f for f in fills if f.symbol == symbol] if symbol else list(fills)

    def has_active_orders(self, symbol: str) -> bool:
        return bool(self._active.get(symbol))

    def _find(self, account_id, order_id, client_order_id) -> _Live:
        if order_id is None and client_order_id is not None:
            order_id = self._by_client.get((account_id, client_order_id))
        live = self._orders.get(order_id) if order_id is not None else None
        if live is None or live.account_id != account_id:
            raise OrderNotFound(f"no order {order_id or client_order_id!r} for {account_id!r}")
        return live

    def _snapshot(self, o: _Live) -> Order:
        avg = o.notional / o.filled_qty if o.filled_qty else None
        instrument = self.instruments.get(o.symbol)
        return Order(
            o.order_id, o.client_order_id, o.account_id, o.symbol, o.side, o.type, o.qty,
            o.price, o.stop_price, o.tif, o.post_only, o.status, o.filled_qty, avg, o.fee,
            instrument.quote if instrument else "", o.created_ms, o.updated_ms, o.reason,
            self.name,
        )  # fmt: skip

    # -- validation and funds --------------------------------------------------------------
    def _validate(self, o: _Live) -> str:
        inst = self.instruments.get(o.symbol)
        if inst is None:
            return f"unknown symbol {o.symbol!r}"
        if not o.client_order_id:
            return "client_order_id is required"
        if (o.account_id, o.client_order_id) in self._by_client:
            return f"duplicate client_order_id {o.client_order_id!r}"
        if o.quote_qty is not None:
            if o.type is not OrderType.MARKET or o.side is not Side.BUY:
                return "quote_qty is only for market buys"
            if o.quote_qty <= 0:
                return "quote_qty must be positive"
            if o.quote_qty < inst.min_notional:
                return f"below minimum notional {inst.min_notional}"
            return ""
        if o.qty <= 0:
            return "quantity must be positive"
        if not inst.qty_on_lot(o.qty):
            return f"bad precision: quantity {o.qty} is not a multiple of lot size {inst.lot_size}"
        if o.is_limit and o.price is None:
            return "limit orders need a price"
        if o.type in (OrderType.STOP, OrderType.STOP_LIMIT) and o.stop_price is None:
            return "stop orders need a stop price"
        for label, price in (("price", o.price), ("stop price", o.stop_price)):
            if price is not None and (price <= 0 or not inst.price_on_tick(price)):
                return f"bad precision: {label} {price} is not a positive multiple of tick size"
        if o.post_only and o.type is not OrderType.LIMIT:
            return "post-only is only for limit orders"
        reference = o.price or o.stop_price
        if reference is None:
            if o.symbol not in self._last and o.symbol not in self._books:
                return "no reference price yet for a market order"
            if inst.min_notional:
                reference = self.last_price(o.symbol)
        if reference is not None and o.qty * reference < inst.min_notional:
            return f"below minimum notional {inst.min_notional}"
        if o.post_only and self._would_cross(o):
            return "post-only order would cross the book"
        return ""

    def _would_cross(self, o: _Live) -> bool:
        book = self._books.get(o.symbol)
        if book is not None:
            touch = book.best_ask() if o.side is Side.BUY else book.best_bid()
            if touch is None:
                return False
            ref = touch[0]
        else:
            ref = self.last_price(o.symbol)
            if ref is None:
                return False
        return o.price >= ref if o.side is Side.BUY else o.price <= ref

    def _lock_funds(self, o: _Live) -> str:
        inst = self.instruments[o.symbol]
        if o.side is Side.SELL:
            asset, need = inst.base, o.qty
        elif o.quote_qty is not None:
            asset, need = inst.quote, o.quote_qty
        else:
            price = o.price if o.type is OrderType.LIMIT else None
            if o.type is OrderType.STOP_LIMIT:
                price = o.price
            elif o.type is OrderType.STOP:
                price = o.stop_price
            elif o.type is OrderType.MARKET:
                price = self._market_reference(o)
            fee = max(inst.maker_fee, inst.taker_fee)
            asset, need = inst.quote, o.qty * price * (1 + fee)
        # The account's [free, locked] lists never change identity: keep them on the order.
        o.quote_slot = self._slot(o.account_id, inst.quote)
        o.base_slot = self._slot(o.account_id, inst.base)
        slot = o.base_slot if asset == inst.base else o.quote_slot
        if slot[0] < need:
            return f"insufficient funds: need {need} {asset}, free {slot[0]}"
        slot[0] -= need
        slot[1] += need
        o.locked, o.lock_asset, o.lock_slot = need, asset, slot
        return ""

    def _market_reference(self, o: _Live) -> Decimal:
        book = self._books.get(o.symbol)
        if book is not None:
            average = book.average_fill_price(o.side, o.qty)
            if average is not None:
                return average
        return self.last_price(o.symbol)

    def _release(self, o: _Live) -> None:
        if o.locked > 0:
            slot = o.lock_slot
            slot[1] -= o.locked
            slot[0] += o.locked
            o.locked = ZERO

    def _finish(self, o: _Live, status: OrderStatus, reason: str, ts: int) -> None:
        o.status = status
        if reason:
            o.reason = reason
        o.updated_ms = ts
        self._release(o)
        self._active[o.symbol].pop(o.order_id, None)
        if status is not OrderStatus.FILLED and self._order_listeners:
            snapshot = self._snapshot(o)
            for listener in self._order_listeners:
                listener(snapshot)

    # -- fills -----------------------------------------------------------------------------
    def _fill(self, o: _Live, price: Decimal, qty: Decimal, liquidity: str, ts: int) -> Fill | None:
        """Book one execution; buys are sized down to what the lock plus free funds cover."""
        inst = self.instruments[o.symbol]
        rate = inst.maker_fee if liquidity == "maker" else inst.taker_fee
        if o.quote_qty is not None:
            budget = o.locked
            qty = inst.round_qty(budget / (price * (1 + rate)))
            o.qty = qty
        if o.side is Side.BUY:
            quote = o.quote_slot
            available = o.locked + quote[0]
            if price * qty * (1 + rate) > available:
                qty = inst.round_qty(available / (price * (1 + rate)))
                o.reason = "insufficient funds at the fill price: sized to fit, rest cancelled"
            if qty <= 0:
                o.reason = o.reason or "nothing affordable at the fill price"
                return None
            cost = price * qty
            fee = cost * rate
            total = cost + fee
            from_lock = min(total, o.locked)
            o.locked -= from_lock
            quote[1] -= from_lock
            quote[0] -= total - from_lock
            o.base_slot[0] += qty
        else:
            base = o.base_slot
            base[1] -= qty
            o.locked -= qty
            cost = price * qty
            fee = cost * rate
            o.quote_slot[0] += cost - fee
        return self._record_fill(o, price, qty, cost, fee, inst.quote, liquidity, ts)

    def _record_fill(
        self, o: _Live, price: Decimal, qty: Decimal, cost: Decimal, fee: Decimal,
        fee_asset: str, liquidity: str, ts: int,
    ) -> Fill:  # fmt: skip
        """The order's side of a fill whose balances `_fill` has moved: its filled quantity,
        notional, fee and status, and the Fill kept for the account and told to listeners."""
        o.filled_qty += qty
        o.notional += cost
        o.fee += fee
        o.updated_ms = ts
        if o.filled_qty >= o.qty:
            self._finish(o, OrderStatus.FILLED, "", ts)
        else:
            o.status = OrderStatus.PARTIALLY_FILLED
        self._trade_seq += 1
        fill = Fill(
            f"{self.name}-t{self._trade_seq}", o.order_id, o.client_order_id, o.symbol, o.side,
            price, qty, fee, fee_asset, liquidity, ts, o.account_id, self.name, o.status,
        )  # fmt: skip
        fills = self._fills.get(o.account_id)
        if fills is None:
            fills = self._fills[o.account_id] = []
        fills.append(fill)
        for listener in self._listeners:
            listener(fill)
        return fill

    def _take(self, o: _Live, price: Decimal, qty: Decimal, ts: int, out: list[Fill]) -> Decimal:
        """Fill as a taker after slippage (never beyond a limit price); return the qty filled."""
        if self._slips:
            tick = self.instruments[o.symbol].tick_size
            price = self.slippage.taker_price(o.side, price, qty, tick, self._books.get(o.symbol))
        if o.price is not None and o.is_limit:
            price = min(price, o.price) if o.side is Side.BUY else max(price, o.price)
        fill = self._fill(o, price, qty, "taker", ts)
        if fill is None:
            return ZERO
        out.append(fill)
        return fill.qty

    def _after_event(self, o: _Live, ts: int) -> None:
        """Close out an order that can no longer trade after this event."""
        if o.status.is_terminal:
            return
        if o.reason.startswith(("insufficient", "nothing affordable")):
            self._finish(o, OrderStatus.CANCELLED, "", ts)
        elif o.tif is not TimeInForce.GTC and o.arrived:
            self._finish(o, OrderStatus.EXPIRED, f"{o.tif.value} remainder expired", ts)

    # -- arrival ---------------------------------------------------------------------------
    def _arrive_now(self, o: _Live, ts: int) -> None:
        """Handle an order reaching the venue outside a market event (zero latency)."""
        book = self._books.get(o.symbol)
        o.arrived = True
        o.status = OrderStatus.OPEN
        if book is None:
            # Without a book, a limit that does not cross the last price rests from now on;
            # anything else is decided by the first market event after it arrives, and stays
            # NEW until then: OPEN would promise a resting order that may yet be rejected
            # (post-only) or taken, and nobody may see OPEN turn into REJECTED.
            if o.type is OrderType.LIMIT:
                last = self.last_price(o.symbol)
                o.arrived = last is not None and (
                    o.price < last if o.side is Side.BUY else o.price > last
                )
            else:
                o.arrived = False
            if not o.arrived:
                o.status = OrderStatus.NEW
            return
        out: list[Fill] = []
        self._arrive_on_book(o, book, ts, out)

    def _arrive_on_book(self, o: _Live, book: OrderBook, ts: int, out: list[Fill]) -> None:
        o.arrived = True
        if o.status is OrderStatus.NEW:
            o.status = OrderStatus.OPEN
        if o.post_only and self._would_cross(o):
            o.status = OrderStatus.REJECTED
            self._finish(o, OrderStatus.REJECTED, "post-only order would cross the book", ts)
            return
        if not o.triggered:
            return
        limit = o.price if o.is_limit else None
        levels = book.walk(
            o.side, o.remaining if o.quote_qty is None else Decimal("Infinity"), limit
        )
        if o.tif is TimeInForce.FOK and sum((q for _, q in levels), ZERO) < o.remaining:
            self._finish(o, OrderStatus.EXPIRED, "FOK could not be filled in full", ts)
            return
        if o.quote_qty is not None and levels:
            self._take(
                o,
                book.average_fill_price(o.side, self._quote_walk_qty(o, book)) or levels[0][0],
                o.qty,
                ts,
                out,
            )
        else:
            for price, qty in levels:
                if (
                    o.status.is_terminal
                    or self._take(o, price, min(qty, o.remaining), ts, out) == 0
                ):
                    break
        if not o.status.is_terminal and o.is_limit and o.tif is TimeInForce.GTC:
            o.queue_ahead = book.size_at(o.side, o.price)
        if o.type is OrderType.MARKET and not o.status.is_terminal and not out:
            self._finish(o, OrderStatus.EXPIRED, "no liquidity for the market order", ts)
        self._after_event(o, ts)

    def _quote_walk_qty(self, o: _Live, book: OrderBook) -> Decimal:
        inst = self.instruments[o.symbol]
        best = book.best_ask()
        return inst.round_qty(o.locked / (best[0] * (1 + inst.taker_fee))) if best else ZERO

    # -- market drivers --------------------------------------------------------------------
    def _due(self, symbol: str, ts: int) -> list[_Live]:
        """Orders that may trade on an event at `ts`, after applying cancels that are due."""
        due = []
        for o in list(self._active[symbol].values()):
            if o.cancel_ms is not None and o.cancel_ms <= ts:
                self._finish(o, OrderStatus.CANCELLED, "cancelled by user", ts)
            elif o.arrive_ms <= ts:
                due.append(o)
        if len(due) > 1:
            due.sort(key=_priority)
        return due

    def on_candle(self, symbol: str, candle: Candle) -> list[Fill]:
        """Match resting orders along the bar's intrabar path; return the fills."""
        self._last[symbol] = candle.close
        if not self._active[symbol]:
            return _EMPTY
        ts = candle.ts_ms
        open_ = candle[1]
        o_ = Decimal(repr(open_)) if type(open_) is float else to_decimal(open_)
        path = None
        volume_cap = None if self.max_participation is None else self._cap(candle.volume)
        out: list[Fill] = []
        for o in self._due(symbol, ts):
            fresh = not o.arrived
            if fresh:
                o.arrived = True
                o.status = OrderStatus.OPEN if o.status is OrderStatus.NEW else o.status
                if o.post_only and (o.price >= o_ if o.side is Side.BUY else o.price <= o_):
                    self._finish(o, OrderStatus.REJECTED, "post-only order would cross", ts)
                    continue
            if o.type is OrderType.MARKET and o.triggered:
                if volume_cap is None:  # the common case: take the rest (already on the lot)
                    self._take(o, o_, o.qty - o.filled_qty, ts, out)
                else:
                    volume_cap = self._taker_capped(o, o_, volume_cap, ts, out)
            else:
                if path is None:
                    path = self._path(o_, candle)
                volume_cap = self._match_path(o, path, fresh, volume_cap, ts, out)
            self._after_event(o, ts)
        return out

    @staticmethod
    def _path(open_: Decimal, candle: Candle) -> tuple[Decimal, ...]:
        """The stated intrabar path: O-L-H-C for a bar closing at/above its open, else O-H-L-C."""
        high, low, close = to_decimal(candle[2]), to_decimal(candle[3]), to_decimal(candle[4])
        return (open_, low, high, close) if close >= open_ else (open_, high, low, close)

    def _cap(self, size: float) -> Decimal | None:
        if self.max_participation is None:
            return None
        return to_decimal(float(size) * self.max_participation)

    def _match_path(self, o: _Live, path, fresh: bool, cap, ts: int, out: list[Fill]):
        """Walk the intrabar path for one order; return the volume cap left."""
        buy = o.side is Side.BUY
        start = 0
        if not o.triggered:
            for i, point in enumerate(path):
                if (point >= o.stop_price) if buy else (point <= o.stop_price):
                    o.triggered, start = True, i
                    break
            if not o.triggered:
                return cap
            trigger = path[start] if start == 0 else o.stop_price
            if o.type is OrderType.STOP:
                return self._taker_capped(o, trigger, cap, ts, out)
            if (trigger <= o.price) if buy else (trigger >= o.price):
                cap = self._taker_capped(o, trigger, cap, ts, out)
                if o.status.is_terminal:
                    return cap
            fresh = False
        if o.type is OrderType.MARKET:
            return self._taker_capped(o, path[0], cap, ts, out)
        if fresh and ((path[0] <= o.price) if buy else (path[0] >= o.price)):
            if o.tif is TimeInForce.FOK and cap is not None and cap < o.remaining:
                return cap
            return self._taker_capped(o, path[0], cap, ts, out)
        if fresh and o.tif is not TimeInForce.GTC:
            return cap
        rest = path[start:]
        extreme = min(rest) if buy else max(rest)
        touched = (extreme <= o.price) if buy else (extreme >= o.price)
        if not self.candle_fill_on_touch:
            touched = (extreme < o.price) if buy else (extreme > o.price)
        if touched:
            qty = o.remaining if cap is None else min(o.remaining, cap)
            if qty > 0:
                fill = self._fill(
                    o, o.price, self.instruments[o.symbol].round_qty(qty), "maker", ts
                )
                if fill is not None:
                    out.append(fill)
                    cap = None if cap is None else cap - fill.qty
        return cap

    def _taker_capped(self, o: _Live, price: Decimal, cap, ts: int, out: list[Fill]):
        qty = o.remaining if cap is None else min(o.remaining, cap)
        if o.quote_qty is None:
            qty = self.instruments[o.symbol].round_qty(qty)
        if qty <= 0 and o.quote_qty is None:
            return cap
        filled = self._take(o, price, qty, ts, out)
        return None if cap is None else cap - filled

    def on_trade(self, symbol: str, trade: Trade) -> list[Fill]:
        """Match orders against one public trade; return the fills."""
        self._last[symbol] = trade.price
        if not self._active[symbol]:
            return _EMPTY
        ts = trade.ts_ms
        price = to_decimal(trade.price)
        size = to_decimal(trade.qty)
        available = size if self.max_participation is None else self._cap(trade.qty)
        out: list[Fill] = []
        for o in self._due(symbol, ts):
            available = self._match_trade(o, price, trade.side, available, ts, out)
            self._after_event(o, ts)
        return out

    def _match_trade(self, o, price, aggressor, available, ts, out):
        buy = o.side is Side.BUY
        fresh = not o.arrived
        if fresh:
            o.arrived = True
            o.status = OrderStatus.OPEN if o.status is OrderStatus.NEW else o.status
            if o.post_only and ((o.price >= price) if buy else (o.price <= price)):
                self._finish(o, OrderStatus.REJECTED, "post-only order would cross", ts)
                return available
        if not o.triggered:
            if not ((price >= o.stop_price) if buy else (price <= o.stop_price)):
                return available
            o.triggered, fresh = True, True
        if o.type in (OrderType.MARKET, OrderType.STOP):
            self._take(o, price, o.remaining if o.quote_qty is None else o.qty, ts, out)
            return available
        marketable = (price <= o.price) if buy else (price >= o.price)
        if fresh and marketable:
            if o.tif is TimeInForce.FOK and available < o.remaining:
                return available
            qty = self.instruments[o.symbol].round_qty(min(o.remaining, available))
            return available - (self._take(o, price, qty, ts, out) if qty > 0 else ZERO)
        if fresh and o.tif is not TimeInForce.GTC:
            return available
        through = (price < o.price) if buy else (price > o.price)
        at_price = price == o.price and aggressor is not o.side
        if at_price and not through:
            eaten = min(o.queue_ahead, available)
            o.queue_ahead -= eaten
            available -= eaten
        if (through or at_price) and available > 0:
            qty = self.instruments[o.symbol].round_qty(min(o.remaining, available))
            if qty > 0:
                fill = self._fill(o, o.price, qty, "maker", ts)
                if fill is not None:
                    out.append(fill)
                    available -= fill.qty
        return available

    def on_book(self, symbol: str, update: OrderBook | Mapping) -> list[Fill]:
        """Apply a book (an OrderBook, or a mapping with bids/asks and `snapshot`) and match."""
        book = self._apply_book(symbol, update)
        mid = book.mid()
        if mid is not None:
            self._last[symbol] = mid
        if not self._active[symbol]:
            return _EMPTY
        ts = book.ts_ms
        out: list[Fill] = []
        consumed: dict[tuple[Side, Decimal], Decimal] = {}
        for o in self._due(symbol, ts):
            if not o.arrived:
                self._arrive_on_book(o, book, ts, out)
                continue
            self._match_book(o, book, consumed, ts, out)
            self._after_event(o, ts)
        return out

    def _apply_book(self, symbol: str, update) -> OrderBook:
        if isinstance(update, OrderBook):
            self._books[symbol] = update
            return update
        book = self._books.get(symbol)
        ts = update.get("ts_ms", 0)
        if update.get("snapshot", True) or book is None:
            book = self._books[symbol] = OrderBook(
                symbol, update.get("bids", ()), update.get("asks", ()), ts
            )
        else:
            book.apply_deltas(update.get("bids", ()), update.get("asks", ()), ts)
        return book

    def _match_book(self, o, book: OrderBook, consumed, ts, out) -> None:
        buy = o.side is Side.BUY
        if not o.triggered:
            touch = book.best_ask() if buy else book.best_bid()
            if touch is None or not (
                (touch[0] >= o.stop_price) if buy else (touch[0] <= o.stop_price)
            ):
                return
            o.triggered = True
            self._arrive_on_book(o, book, ts, out)
            return
        if o.type is OrderType.MARKET:
            self._arrive_on_book(o, book, ts, out)
            return
        opposite = Side.SELL if buy else Side.BUY
        for price, size in book.depth(opposite):
            if (price > o.price) if buy else (price < o.price):
                break
            key = (opposite, price)
            left = size - consumed.get(key, ZERO)
            if left <= 0:
                continue
            qty = self.instruments[o.symbol].round_qty(min(left, o.remaining))
            if qty <= 0:
                break
            fill = self._fill(o, o.price, qty, "maker", ts)
            if fill is None:
                break
            out.append(fill)
            consumed[key] = consumed.get(key, ZERO) + fill.qty
            if o.status.is_terminal:
                break


def _priority(o: _Live):
    """Price-time priority among our own orders: better prices first, then older."""
    if o.price is None:
        return (0, 0, o.created_ms)
    return (1, -o.price if o.side is Side.BUY else o.price, o.created_ms)
