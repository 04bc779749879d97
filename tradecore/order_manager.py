"""Order manager: turns intents into venue actions and tracks every order's life cycle.

Life cycle: NEW -> OPEN -> PARTIALLY_FILLED -> FILLED, or to CANCELLED / REJECTED / EXPIRED.
A send that times out makes the order UNKNOWN; it is resolved by looking it up, never by
sending it again. Terminal states never change; a late, stale update is ignored and reported.

Besides the orders it sends, a runtime hands the manager what it learns elsewhere, through
public operations that keep the same rules and emit events: `adopt` (an order restored from
the books or found on the exchange), `apply_snapshot` (the exchange's word, also about the
filled quantity), `mark_lost` (the exchange never received it: REJECTED, from any working
state) and `forget_finished` (drop what is finished, which the books hold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from tradecore.clock import Clock
from tradecore.domain import (
    ZERO,
    Balance,
    Denial,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
)
from tradecore.intents import CancelAllIntent, CancelIntent, OrderIntent, QuoteIntent
from tradecore.orderbook import OrderBook
from tradecore.risk import RiskManager, RiskView

S = OrderStatus
ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset(
        {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED, S.UNKNOWN}
    ),
    S.OPEN: frozenset({S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.UNKNOWN}
    ),
    S.UNKNOWN: frozenset(
        {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED, S.UNKNOWN}
    ),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}
# mark_lost: the exchange answered, repeatedly, that it never received the order
LOSABLE = frozenset({S.NEW, S.OPEN, S.PARTIALLY_FILLED, S.UNKNOWN})


class Venue(Protocol):
    """Everything the engine, its context and the order manager use of a venue.

    Implemented by the simulated exchange (backtests, and the paper venue built on it) and by
    the runtime's live venue; a type checker holds each to it.
    """

    name: str

    @property
    def instruments(self) -> Mapping[str, Instrument]: ...

    def place_order(self, account_id: str, request: OrderRequest) -> Order: ...
    def cancel_order(
        self, account_id: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order: ...
    def get_order(
        self, account_id: str, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order: ...
    def open_orders(self, account_id: str, symbol: str | None = None) -> list[Order]: ...
    def last_price(self, symbol: str) -> Decimal | None: ...
    def book(self, symbol: str) -> OrderBook | None: ...
    def balance(self, account_id: str, asset: str) -> Balance: ...
    def balances(self, account_id: str) -> dict[str, Balance]: ...
    def free(self, account_id: str, asset: str) -> Decimal: ...
    def total(self, account_id: str, asset: str) -> Decimal: ...
    def subscribe(self, listener: Callable[[Fill], None]) -> None: ...
    def subscribe_orders(self, listener: Callable[[Order], None]) -> None: ...


@dataclass(frozen=True, slots=True)
class OrderAdopted:
    """The manager now tracks an order it did not send (restored, or found on the exchange)."""

    client_order_id: str
    venue: str
    status: OrderStatus
    filled_qty: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class OrderLost:
    """The exchange never received the order: it is REJECTED."""

    client_order_id: str
    previous: OrderStatus
    reason: str
    ts_ms: int


class VenueTimeout(Exception):
    """A venue call whose outcome is unknown (network timeout)."""


@dataclass(slots=True)
class TrackedOrder:
    client_order_id: str
    venue: str
    intent: OrderIntent
    status: OrderStatus = OrderStatus.NEW
    order: Order | None = None
    filled_qty: Decimal = ZERO
    level: int | None = None
    created_ms: int = 0
    history: list[OrderStatus] = field(default_factory=lambda: [OrderStatus.NEW])

    @property
    def price(self) -> Decimal | None:
        return self.intent.price


class OrderManager:
    """Sends intents through risk to venues and keeps an exact record of every order."""

    def __init__(
        self,
        venues: Mapping[str, Venue] | Venue,
        account_id: str,
        *,
        clock: Clock,
        risk: RiskManager | None = None,
        id_prefix: str = "pg",
        refresh_tolerance: Decimal = Decimal(0),
        max_order_age_ms: int | None = None,
        on_event: Callable[[object], None] | None = None,
    ) -> None:
        self.venues = dict(venues) if isinstance(venues, Mapping) else {venues.name: venues}
        self.default_venue = next(iter(self.venues))
        self.account_id = account_id
        self.clock = clock
        self.risk = risk
        self.id_prefix = id_prefix
        self.refresh_tolerance = Decimal(refresh_tolerance)
        self.max_order_age_ms = max_order_age_ms
        self.on_event = on_event
        self.orders: dict[str, TrackedOrder] = {}
        self.events: list[object] = []
        self._seq = 0

    # -- intents ---------------------------------------------------------------------------
    def execute(self, intents) -> list[object]:
        """Carry out intents in order; return the events (Order snapshots and Denials)."""
        start = len(self.events)
        for intent in intents:
            if isinstance(intent, OrderIntent):
                self.submit(intent)
            elif isinstance(intent, QuoteIntent):
                self.sync_quotes(intent)
            elif isinstance(intent, CancelIntent):
                self.cancel(intent.client_order_id)
            elif isinstance(intent, CancelAllIntent):
                self.cancel_all(intent.symbol, intent.venue or None)
            else:
                raise TypeError(f"unknown intent {intent!r}")
        return self.events[start:]

    def submit(self, intent: OrderIntent, level: int | None = None) -> Order | Denial:
        """Risk-check an intent, record it durably as NEW, then send it to its venue."""
        venue_name = intent.venue or self.default_venue
        venue = self.venues[venue_name]
        if self.risk is not None:
            denial = self.risk.check(intent, self._view(intent.symbol, venue))
            if denial is not None:
                self._emit(denial)
                return denial
        self._seq += 1
        cid = f"{self.id_prefix}-{self._seq}"
        tracked = TrackedOrder(
            client_order_id=cid,
            venue=venue_name,
            intent=intent,
            level=level,
            created_ms=self.clock.now_ms(),
        )
        self.orders[cid] = tracked
        request = OrderRequest(
            client_order_id=cid,
            symbol=intent.symbol,
            side=intent.side,
            type=intent.type,
            qty=intent.qty,
            price=intent.price,
            stop_price=intent.stop_price,
            tif=intent.tif,
            post_only=intent.post_only,
            quote_qty=intent.quote_qty,
        )
        try:
            order = venue.place_order(self.account_id, request)
        except VenueTimeout:
            self._transition(tracked, OrderStatus.UNKNOWN)
            return Order(
                order_id="",
                client_order_id=cid,
                account_id=self.account_id,
                symbol=intent.symbol,
                side=intent.side,
                type=intent.type,
                qty=intent.qty,
                price=intent.price,
                stop_price=intent.stop_price,
                tif=intent.tif,
                post_only=intent.post_only,
                status=OrderStatus.UNKNOWN,
                reason="send timed out; resolve by lookup",
            )
        self.update(order)
        return order

    def _view(self, symbol: str, venue: Venue) -> RiskView:
        book = venue.book(symbol)
        mid = book.mid() if book is not None else None
        if mid is None:
            mid = venue.last_price(symbol)
        position = ZERO
        inst = venue.instruments.get(symbol)
        if inst is not None:
            bal = venue.balances(self.account_id).get(inst.base)
            position = bal.total if bal else ZERO
        return RiskView(self.clock.now_ms(), mid, position, len(self.active()))

    def cancel(self, client_order_id: str) -> Order | None:
        tracked = self.orders.get(client_order_id)
        if tracked is None or tracked.status.is_terminal:
            return None
        venue = self.venues[tracked.venue]
        try:
            order = venue.cancel_order(self.account_id, client_order_id=client_order_id)
        except (VenueTimeout, KeyError):
            # not confirmed: timed out, or the venue cannot place the order (the next lookup or
            # reconciliation decides what it is); the order stays as the manager knows it
            return None
        self.update(order)
        return order

    def cancel_all(self, symbol: str | None = None, venue: str | None = None) -> list[Order]:
        done = []
        for tracked in self.active(symbol, venue):
            order = self.cancel(tracked.client_order_id)
            if order is not None:
                done.append(order)
        return done

    # -- quotes ----------------------------------------------------------------------------
    def sync_quotes(self, intent: QuoteIntent) -> None:
        """Reconcile resting quotes with the desired set, keeping orders within tolerance."""
        venue = intent.venue or self.default_venue
        now = self.clock.now_ms()
        tolerance = (
            self.refresh_tolerance if intent.refresh_tolerance is None else intent.refresh_tolerance
        )
        max_age = (
            self.max_order_age_ms if intent.max_order_age_ms is None else intent.max_order_age_ms
        )
        current = {
            (t.intent.side, t.level): t
            for t in self.active(intent.symbol, venue)
            if t.level is not None and t.client_order_id not in intent.hanging
        }
        wanted = {(q.side, q.level): q for q in intent.quotes}
        for key, tracked in current.items():
            quote = wanted.get(key)
            if quote is None or not self._keep(tracked, quote, now, tolerance, max_age):
                self.cancel(tracked.client_order_id)
            else:
                wanted.pop(key)
        for (side, level), quote in sorted(wanted.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            order_intent = OrderIntent(
                symbol=intent.symbol,
                side=side,
                type=OrderType.LIMIT,
                qty=quote.qty,
                price=quote.price,
                post_only=intent.post_only,
                venue=venue,
                tag="quote",
            )
            self.submit(order_intent, level=level)

    @staticmethod
    def _keep(tracked: TrackedOrder, quote, now: int, tolerance, max_age) -> bool:
        if max_age is not None and now - tracked.created_ms >= max_age:
            return False
        old = tracked.intent.price
        if old is None or old == 0:
            return False
        moved = abs(quote.price - old) / old
        return moved <= tolerance and quote.qty == tracked.intent.qty

    # -- updates ---------------------------------------------------------------------------
    def update(self, order: Order) -> bool:
        """Apply a venue's order snapshot; False if it is stale or an illegal transition."""
        tracked = self.orders.get(order.client_order_id)
        if tracked is None:
            return False
        if order.filled_qty < tracked.filled_qty:
            return False  # older than what we know
        ok = self._transition(tracked, order.status)
        if ok:
            tracked.order = order
            tracked.filled_qty = order.filled_qty
            self._emit(order)
        return ok

    def on_fill(self, fill: Fill) -> None:
        """Account a fill: the venue's snapshot follows, but the fill alone moves the state."""
        tracked = self.orders.get(fill.client_order_id)
        if tracked is None:
            return
        tracked.filled_qty += fill.qty
        if fill.order_status is not None:  # the venue reported the status with the fill
            self._transition(tracked, fill.order_status)
            return
        venue = self.venues[tracked.venue]
        try:
            self.update(venue.get_order(self.account_id, client_order_id=fill.client_order_id))
        except (KeyError, VenueTimeout):
            if tracked.intent.qty and tracked.filled_qty >= tracked.intent.qty:
                self._transition(tracked, OrderStatus.FILLED)
            else:
                self._transition(tracked, OrderStatus.PARTIALLY_FILLED)

    def resolve_unknown(self) -> list[TrackedOrder]:
        """Look up every UNKNOWN order at its venue; orders the venue never saw are REJECTED."""
        resolved = []
        for tracked in [t for t in self.orders.values() if t.status is OrderStatus.UNKNOWN]:
            venue = self.venues[tracked.venue]
            try:
                order = venue.get_order(self.account_id, client_order_id=tracked.client_order_id)
            except VenueTimeout:
                continue
            except KeyError:
                self._transition(tracked, OrderStatus.REJECTED)
                resolved.append(tracked)
                continue
            self.update(order)
            resolved.append(tracked)
        return resolved

    def reconcile(self) -> list[TrackedOrder]:
        """Refresh every active order from its venue (after a restart, before new orders)."""
        changed = []
        for tracked in self.active():
            venue = self.venues[tracked.venue]
            try:
                order = venue.get_order(self.account_id, client_order_id=tracked.client_order_id)
            except (KeyError, VenueTimeout):
                continue
            before = tracked.status
            if self.update(order) and tracked.status is not before:
                changed.append(tracked)
        return changed

    # -- what the runtime learns elsewhere -----------------------------------------------
    def adopt(
        self,
        *,
        client_order_id: str,
        venue: str,
        intent: OrderIntent,
        status: OrderStatus,
        filled_qty: Decimal = ZERO,
        level: int | None = None,
        created_ms: int | None = None,
    ) -> TrackedOrder:
        """Track an order the manager did not send: one the books hold after a restart, or
        one found on the exchange. A NEW order's send may have happened: it is UNKNOWN."""
        if client_order_id in self.orders:
            raise ValueError(f"order {client_order_id} is already tracked")
        if venue not in self.venues:
            raise ValueError(f"order {client_order_id}: unknown venue {venue!r}")
        if status is OrderStatus.NEW:
            status = OrderStatus.UNKNOWN
        tracked = TrackedOrder(
            client_order_id=client_order_id,
            venue=venue,
            intent=intent,
            status=status,
            filled_qty=filled_qty,
            level=level,
            created_ms=self.clock.now_ms() if created_ms is None else created_ms,
            history=[status],
        )
        self.orders[client_order_id] = tracked
        self._emit(OrderAdopted(client_order_id, venue, status, filled_qty, self.clock.now_ms()))
        return tracked

    def apply_snapshot(self, order: Order) -> bool:
        """Apply the exchange's snapshot of an order: unlike a venue's update, it is the truth
        also when it reports less filled than the fills counted so far (a fill counted twice,
        a snapshot older than a fill). The state still moves only by the allowed transitions."""
        tracked = self.orders.get(order.client_order_id)
        if tracked is None:
            return False
        ok = self._transition(tracked, order.status)
        if ok:
            tracked.order = order
            tracked.filled_qty = order.filled_qty
            self._emit(order)
        return ok

    def mark_lost(self, client_order_id: str, reason: str = "") -> bool:
        """The exchange never received the order (it said so, repeatedly): REJECTED."""
        tracked = self.orders.get(client_order_id)
        if tracked is None:
            return False
        previous = tracked.status
        if previous not in LOSABLE:
            self._emit(
                Denial(
                    "state_machine",
                    f"ignored lost: the order is {previous.value}",
                    client_order_id,
                    self.clock.now_ms(),
                )
            )
            return False
        tracked.status = OrderStatus.REJECTED
        tracked.history.append(OrderStatus.REJECTED)
        self._emit(OrderLost(client_order_id, previous, reason, self.clock.now_ms()))
        return True

    def forget_finished(self) -> list[str]:
        """Drop finished orders and the event log (their record lives elsewhere, e.g. the
        books); return the client order ids forgotten. Working orders stay tracked."""
        done = [cid for cid, t in self.orders.items() if t.status.is_terminal]
        for cid in done:
            del self.orders[cid]
        self.events.clear()
        return done

    def tracked(self, client_order_id: str) -> TrackedOrder | None:
        """The order as the manager knows it (None if it does not track it)."""
        return self.orders.get(client_order_id)

    def mark_unknown(self, client_order_id: str) -> bool:
        tracked = self.orders.get(client_order_id)
        return tracked is not None and self._transition(tracked, OrderStatus.UNKNOWN)

    def _transition(self, tracked: TrackedOrder, status: OrderStatus) -> bool:
        if status is tracked.status and status is not OrderStatus.PARTIALLY_FILLED:
            return True
        if status not in ALLOWED[tracked.status]:
            self._emit(
                Denial(
                    "state_machine",
                    f"ignored {tracked.status.value} -> {status.value}",
                    tracked.client_order_id,
                    self.clock.now_ms(),
                )
            )
            return False
        tracked.status = status
        tracked.history.append(status)
        return True

    def _emit(self, event: object) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    # -- reads -----------------------------------------------------------------------------
    def active(self, symbol: str | None = None, venue: str | None = None) -> list[TrackedOrder]:
        return [
            t
            for t in self.orders.values()
            if not t.status.is_terminal
            and (symbol is None or t.intent.symbol == symbol)
            and (venue is None or t.venue == venue)
        ]

    def denials(self) -> list[Denial]:
        return [e for e in self.events if isinstance(e, Denial)]
