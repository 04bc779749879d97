"""The venues a bot's order manager talks to: paper (simulated) and live (the ccxt gateway).

Both tell a recorder (runtime.books.Books) about every order before and after it is sent, so
the order row exists before the exchange hears of it. The live venue is a blocking facade over
the async gateway, run on the runner's own event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from exchanges.gateway.errors import Action, GatewayError
from exchanges.gateway.interface import ExchangeOrder, ExchangeTrade
from tradecore.domain import (
    ZERO,
    Balance,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradecore.exchange import SimulatedExchange
from tradecore.order_manager import Venue, VenueTimeout
from tradecore.orderbook import OrderBook

# the instruments moved to their own module; re-exported for the venues' users
from trading.runtime.instruments import instrument_from_market as instrument_from_market
from trading.runtime.instruments import load_instruments as load_instruments

logger = logging.getLogger(__name__)


class Recorder(Protocol):
    def before_send(self, venue: str, request: OrderRequest) -> None: ...
    def after_send(self, venue: str, order: Order) -> None: ...
    def send_unknown(self, venue: str, request: OrderRequest, reason: str) -> None: ...
    def order_seen(self, venue: str, order: Order) -> None: ...


class AccountRefused(Exception):
    """The exchange refused the account's key: the account is disabled, the bot must stop."""


class OrderNotFound(KeyError):
    """The exchange does not know the order (an answer, not a failure)."""


# -- paper -----------------------------------------------------------------------------------
class PaperExchange(SimulatedExchange):
    """tradecore's simulated exchange, fed with live public data, recording every order."""

    def __init__(self, name: str, instruments, *, clock, recorder: Recorder) -> None:
        super().__init__(name, instruments, clock=clock)
        self.recorder = recorder
        # orders placed before the venue had a book: NEW until the next market event decides
        # whether they rest (OPEN), trade or are rejected; the books hear of it then
        self._arriving: dict[str, str] = {}  # client order id -> account id

    def place_order(self, account_id: str, request: OrderRequest) -> Order:
        self.recorder.before_send(self.name, request)
        order = super().place_order(account_id, request)
        self.recorder.after_send(self.name, order)
        if order.status is OrderStatus.NEW:
            self._arriving[order.client_order_id] = account_id
        return order

    def on_book(self, symbol, update):
        return self._arrived(super().on_book(symbol, update))

    def on_trade(self, symbol, trade):
        return self._arrived(super().on_trade(symbol, trade))

    def on_candle(self, symbol, candle):
        return self._arrived(super().on_candle(symbol, candle))

    def _arrived(self, fills):
        if self._arriving:
            for cid, account_id in list(self._arriving.items()):
                try:
                    order = self.get_order(account_id, client_order_id=cid)
                except KeyError:  # finished and forgotten (OrderNotFound): the books have its end
                    del self._arriving[cid]
                    continue
                if order.status is not OrderStatus.NEW:
                    del self._arriving[cid]
                    self.recorder.order_seen(self.name, order)
        return fills

    def cancel_order(self, account_id, order_id=None, client_order_id=None) -> Order:
        order = super().cancel_order(account_id, order_id, client_order_id)
        self._arriving.pop(order.client_order_id, None)
        self.recorder.order_seen(self.name, order)
        return order

    def restore_order(self, account_id: str, request: OrderRequest) -> Order:
        """Put an order the books hold back on the book after a restart (not recorded again)."""
        return super().place_order(account_id, request)

    def forget_finished(self, keep: frozenset[str] = frozenset()) -> int:
        """Drop finished orders and past fills from memory; the books hold them.

        A bot runs for days on one venue object; without this it would keep every order it
        ever placed. Orders in `keep` (those the bot still counts as working) stay, so the bot
        can still ask about them.
        """
        return super().forget_finished(keep)


# -- live ------------------------------------------------------------------------------------
_KIND = {OrderType.LIMIT: "limit", OrderType.MARKET: "market"}


def order_from_exchange(
    exchange: str, account_id: str, eo: ExchangeOrder, request: OrderRequest | None = None
) -> Order:
    """A gateway order as a tradecore Order snapshot."""
    side = Side(eo.side) if eo.side in ("buy", "sell") else (request.side if request else Side.BUY)
    kind = OrderType.MARKET if eo.type == "market" else OrderType.LIMIT
    return Order(
        order_id=eo.exchange_order_id or "",
        client_order_id=eo.client_order_id or (request.client_order_id if request else ""),
        account_id=account_id,
        symbol=eo.symbol or (request.symbol if request else ""),
        side=side,
        type=kind,
        qty=eo.amount,
        price=eo.price if kind is OrderType.LIMIT else None,
        stop_price=None,
        tif=request.tif if request else TimeInForce.GTC,
        post_only=request.post_only if request else False,
        status=eo.status,
        filled_qty=eo.filled,
        avg_price=eo.average,
        fee=eo.fee or ZERO,
        fee_asset=eo.fee_currency or "",
        created_ms=eo.timestamp or 0,
        updated_ms=eo.timestamp or 0,
        reason=eo.reason,
        venue=exchange,
    )


def _refusal(request: OrderRequest) -> str | None:
    """Why the live venue cannot send this order as asked (None: it can)."""
    if request.type not in _KIND:
        return (
            f"{request.type.value} orders are not sent to live exchanges yet: the gateway "
            "passes no trigger price"
        )
    if request.tif is TimeInForce.FOK:
        return "fill-or-kill orders are not sent to live exchanges yet: use IOC or GTC"
    return None


class LiveVenue:
    """A live exchange account through the gateway, for the order manager and the strategy.

    Books come from the market hub; balances and order states from polling. Creation is
    never retried: an open outcome raises VenueTimeout and the order is looked up later.
    The gateway takes no extra order parameters yet, so post-only is enforced here against
    the last book, and IOC is emulated by cancelling whatever rests after the response; stop,
    stop-limit and fill-or-kill orders, which it cannot express, are refused (REJECTED, with
    the reason) instead of being sent as something else.
    """

    def __init__(
        self,
        name: str,
        gateway,
        instruments: dict[str, Instrument],
        *,
        loop: asyncio.AbstractEventLoop,
        recorder: Recorder,
        account_id: str,
    ) -> None:
        self.name = name
        self.gateway = gateway
        self.instruments = instruments
        self.loop = loop
        self.recorder = recorder
        self.account_id = account_id
        self.snapshots: dict[str, Order] = {}
        self.symbols_by_cid: dict[str, str] = {}
        self.requests: dict[str, OrderRequest] = {}
        self._books: dict[str, OrderBook] = {}
        self._last: dict[str, Decimal] = {}
        self._balances: dict[str, Balance] = {}
        self._fill_listeners: list[Callable[[Fill], None]] = []
        self._order_listeners: list[Callable[[Order], None]] = []

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    # -- market state ----------------------------------------------------------------------
    def on_book(self, symbol: str, book: OrderBook) -> None:
        self._books[symbol] = book
        mid = book.mid()
        if mid is not None:
            self._last[symbol] = mid

    def on_trade_price(self, symbol: str, price: float) -> None:
        self._last[symbol] = Decimal(repr(price))

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.get(symbol)

    def last_price(self, symbol: str) -> Decimal | None:
        return self._last.get(symbol)

    # -- balances --------------------------------------------------------------------------
    def refresh_balances(self) -> dict[str, Balance]:
        lines = self.run(self.gateway.fetch_balance())
        self._balances = {a: Balance(a, line.free, line.used) for a, line in lines.items()}
        return self._balances

    def balances(self, account_id: str | None = None) -> dict[str, Balance]:
        return dict(self._balances)

    def balance(self, account_id: str, asset: str) -> Balance:
        return self._balances.get(asset, Balance(asset, ZERO, ZERO))

    def free(self, account_id: str, asset: str) -> Decimal:
        return self.balance(account_id, asset).free

    def total(self, account_id: str, asset: str) -> Decimal:
        return self.balance(account_id, asset).total

    # -- listeners (the Venue protocol) ----------------------------------------------------
    # Accepted, never called: a live venue learns of an order only inside a call, whose answer
    # goes to the caller, or by the runtime's polls, which hand what they read to the engine
    # themselves (TradingEngine.on_fill, OrderManager.apply_snapshot: the exchange's word wins
    # over the fills counted so far).
    def subscribe(self, listener: Callable[[Fill], None]) -> None:
        self._fill_listeners.append(listener)

    def subscribe_orders(self, listener: Callable[[Order], None]) -> None:
        self._order_listeners.append(listener)

    # -- orders ----------------------------------------------------------------------------
    def remember_symbol(self, client_order_id: str, symbol: str) -> None:
        self.symbols_by_cid[client_order_id] = symbol

    def remember(self, order: Order) -> Order:
        self.snapshots[order.client_order_id] = order
        self.symbols_by_cid[order.client_order_id] = order.symbol
        return order

    def open_orders(self, account_id: str | None = None, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.snapshots.values()
            if o.status.is_active and (symbol is None or o.symbol == symbol)
        ]

    def _rejected(self, request: OrderRequest, reason: str) -> Order:
        return Order(
            order_id="",
            client_order_id=request.client_order_id,
            account_id=self.account_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            qty=request.qty,
            price=request.price,
            stop_price=request.stop_price,
            tif=request.tif,
            post_only=request.post_only,
            status=OrderStatus.REJECTED,
            reason=reason[:500],
            venue=self.name,
        )

    def _sized(self, request: OrderRequest) -> OrderRequest | str:
        """Market buys by quote amount become a base amount at the current ask (fees in)."""
        if request.quote_qty is None:
            return request
        inst = self.instruments[request.symbol]
        book = self._books.get(request.symbol)
        ask = book.best_ask() if book else None
        if ask is None:
            return "no book yet to size a market buy by quote amount"
        qty = inst.round_qty(request.quote_qty / (ask[0] * (1 + inst.taker_fee)))
        if qty <= 0:
            return f"quote amount {request.quote_qty} buys nothing at {ask[0]}"
        return dataclasses.replace(request, qty=qty, quote_qty=None)

    def _would_cross(self, request: OrderRequest) -> bool:
        book = self._books.get(request.symbol)
        if book is None or request.price is None:
            return False
        touch = book.best_ask() if request.side is Side.BUY else book.best_bid()
        if touch is None:
            return False
        return request.price >= touch[0] if request.side is Side.BUY else request.price <= touch[0]

    def place_order(self, account_id: str, request: OrderRequest) -> Order:
        refused = _refusal(request)
        sized = refused or self._sized(request)
        if isinstance(sized, str) or (request.post_only and self._would_cross(request)):
            reason = sized if isinstance(sized, str) else "post-only order would cross the book"
            self.recorder.before_send(self.name, request)
            order = self.remember(self._rejected(request, reason))
            self.recorder.after_send(self.name, order)
            return order
        request = sized
        self.requests[request.client_order_id] = request
        self.symbols_by_cid[request.client_order_id] = request.symbol
        self.recorder.before_send(self.name, request)  # the row is committed: now send
        try:
            eo = self.run(
                self.gateway.create_order(
                    symbol=request.symbol,
                    side=request.side.value,
                    type=_KIND.get(request.type, "limit"),
                    amount=request.qty,
                    price=request.price if request.type is OrderType.LIMIT else None,
                    client_order_id=request.client_order_id,
                )
            )
        except GatewayError as exc:
            order = self.remember(self._rejected(request, f"{exc.action.value}: {exc}"))
            self.recorder.after_send(self.name, order)
            if exc.action is Action.DISABLE_KEY:
                raise AccountRefused(str(exc)) from exc
            return order
        except Exception as exc:  # any other failure leaves the outcome open
            self.recorder.send_unknown(self.name, request, f"send failed: {exc}")
            raise VenueTimeout(str(exc)) from exc
        if eo.status is OrderStatus.UNKNOWN:
            self.recorder.send_unknown(self.name, request, eo.reason or "outcome unknown")
            raise VenueTimeout(eo.reason)
        order = self.remember(order_from_exchange(self.name, self.account_id, eo, request))
        self.recorder.after_send(self.name, order)
        if request.tif is not TimeInForce.GTC and order.status.is_active:
            cancelled = self.cancel_order(account_id, client_order_id=request.client_order_id)
            return cancelled or order
        return order

    def cancel_order(self, account_id, order_id=None, client_order_id=None) -> Order:
        symbol = self.symbols_by_cid.get(client_order_id)
        if symbol is None:
            raise OrderNotFound(client_order_id)
        try:
            eo = self.run(self.gateway.cancel_order(symbol=symbol, client_order_id=client_order_id))
        except GatewayError as exc:
            if exc.action is not Action.NOT_FOUND:
                raise VenueTimeout(str(exc)) from exc
            try:  # already finished (filled, cancelled) or never there: ask what it is
                order = self.get_order(account_id, client_order_id=client_order_id)
            except OrderNotFound:
                raise VenueTimeout(f"cancel: order {client_order_id} not found") from None
            return order
        order = self.remember(
            order_from_exchange(self.name, self.account_id, eo, self.requests.get(client_order_id))
        )
        self.recorder.order_seen(self.name, order)
        return order

    def fetch_order(self, symbol: str, client_order_id: str) -> ExchangeOrder | None:
        """The exchange's answer for one order: the order, or None when it does not know it."""
        try:
            return self.run(
                self.gateway.fetch_order(symbol=symbol, client_order_id=client_order_id)
            )
        except GatewayError as exc:
            if exc.action is Action.NOT_FOUND:
                return None
            raise

    def get_order(self, account_id, order_id=None, client_order_id=None) -> Order:
        symbol = self.symbols_by_cid.get(client_order_id)
        if symbol is None:
            raise OrderNotFound(client_order_id)
        try:
            eo = self.fetch_order(symbol, client_order_id)
        except GatewayError as exc:
            raise VenueTimeout(str(exc)) from exc
        if eo is None:
            raise OrderNotFound(client_order_id)
        order = self.remember(
            order_from_exchange(self.name, self.account_id, eo, self.requests.get(client_order_id))
        )
        self.recorder.order_seen(self.name, order)
        return order

    def forget(self, client_order_ids) -> None:
        """Drop what is remembered of finished orders (the books hold them)."""
        for cid in client_order_ids:
            self.snapshots.pop(cid, None)
            self.requests.pop(cid, None)
            self.symbols_by_cid.pop(cid, None)

    def fetch_open_orders(self, symbol: str) -> list[ExchangeOrder]:
        return self.run(self.gateway.fetch_open_orders(symbol=symbol))

    def fetch_my_trades(self, symbol: str, since_ms: int | None) -> list[ExchangeTrade]:
        return self.run(self.gateway.fetch_my_trades(symbol=symbol, since=since_ms, limit=1000))

    def close(self) -> None:
        try:
            self.run(self.gateway.close())
        except Exception:
            logger.debug("closing the gateway failed", exc_info=True)


def _venues_are_venues(
    sim: SimulatedExchange, paper: PaperExchange, live: LiveVenue
) -> list[Venue]:
    """Never called: the type checker (make lint) holds every venue to tradecore's protocol."""
    return [sim, paper, live]
