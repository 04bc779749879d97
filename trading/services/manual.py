"""Manual orders: a trader places and cancels orders by hand on one of their exchange accounts.

Design. Every exchange account traded by hand gets one *manual bot*: a Bot row with strategy
"manual", mode live and one venue (the account), kept stopped (it never runs; `bot_start`
refuses it). The panel's orders and fills belong to it, so they take exactly the path a live
bot's take, with no second copy of any of it:
- the books (`trading.runtime.books.Books`) commit the order row, with its unique client order
  id `pg<bot>-<lease token>-<n>`, before the gateway is called; creation is never retried, and
  an open outcome leaves the order UNKNOWN for the next sync to look up by that id;
- tradecore's OrderManager risk-checks the intent (RiskManager with the manual bot's limits:
  by default a price band around the mid against fat fingers) and sends it through the same
  LiveVenue over the account's ccxt gateway;
- `reconcile.live_sync` keeps the books equal to the exchange and books each trade once as a
  Fill under the account's key, so the portfolio, tax lots and exports pick it up like any
  bot's; the client id prefix keeps bots on the same account and the panel out of each other's
  orders;
- the bot lease (fencing token) admits one writer at a time: two tabs, a page's refresh and a
  kill switch (which cancels the manual bot's orders like any bot's) serialize on it;
- every placement and cancel is an audit event.
What can be checked before anything is written is checked first (the symbol is listed, lot and
tick, minimum size and notional, free balance, kill switches, risk): a refused order changes
nothing, on the exchange or in the books.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from exchanges.gateway.errors import GatewayError
from exchanges.models import ExchangeAccount
from tradecore.clock import WallClock
from tradecore.domain import ZERO, Denial, OrderType, Side
from tradecore.intents import OrderIntent
from tradecore.order_manager import OrderManager, TrackedOrder, VenueTimeout
from tradecore.orderbook import OrderBook
from tradecore.risk import RiskManager
from trading.models import Bot, BotEvent, BotVenue, Fill, Order
from trading.runtime.books import Books, Known
from trading.runtime.reconcile import SyncReport, live_sync
from trading.runtime.venues import (
    AccountRefused,
    LiveVenue,
    instrument_from_market,
    load_instruments,
)
from trading.services import leases
from trading.services.orders import Batch, BooksResult, bot_books_write, bot_orders_to_restore
from trading.services.reconcile import fill_counts

logger = logging.getLogger(__name__)

MANUAL_STRATEGY = "manual"
# a fat-finger guard: a limit price more than this far from the mid is refused
DEFAULT_MANUAL_RISK_LIMITS = {"price_band_fraction": "0.1"}
LEASE_SECONDS = 30.0
LEASE_WAIT_SECONDS = 10.0
TRADES_LOOKBACK = timedelta(minutes=10)


# -- the manual bot --------------------------------------------------------------------------
def manual_bot_get(*, account: ExchangeAccount) -> Bot | None:
    """The account's manual bot, if an order was ever placed by hand on it."""
    return (
        Bot.objects.filter(
            user_id=account.user_id, strategy=MANUAL_STRATEGY, venues__exchange_account=account
        )
        .select_related("user")
        .first()
    )


def _manual_bot_ensure(account: ExchangeAccount, symbol: str, budget: Decimal) -> Bot:
    """The account's manual bot, created on the first order; `symbol` joins its markets."""
    bot = manual_bot_get(account=account)
    if bot is None:
        with transaction.atomic():
            # two first orders at once: the second waits here and finds the first one's bot
            ExchangeAccount.objects.select_for_update().filter(pk=account.pk).first()
            bot = manual_bot_get(account=account)
            if bot is None:
                bot = _manual_bot_create(account, symbol, budget)
    if symbol not in bot.symbols:
        bot.symbols = [*bot.symbols, symbol]
        Bot.objects.filter(pk=bot.pk).update(symbols=bot.symbols)
    return bot


def _manual_bot_create(account: ExchangeAccount, symbol: str, budget: Decimal) -> Bot:
    name, number = f"Manual · {account.label}", 2
    while Bot.objects.filter(user_id=account.user_id, name=name).exists():
        name, number = f"Manual · {account.label} ({number})", number + 1
    try:
        with transaction.atomic():
            bot = Bot.objects.create(
                user_id=account.user_id,
                name=name[:100],
                strategy=MANUAL_STRATEGY,
                symbols=[symbol],
                mode=Bot.Mode.LIVE,
                # what the account held in the quote asset when trading by hand began: the
                # base its PnL is measured against (a live bot's budget plays the same part)
                budget=budget if budget > 0 else Decimal(1),
                risk_limits=dict(DEFAULT_MANUAL_RISK_LIMITS),
                status=Bot.Status.STOPPED,
                status_reason=f"Orders placed by hand from the trading panel of {account.label}.",
                status_changed_at=timezone.now(),
            )
            BotVenue.objects.create(bot=bot, exchange=account.exchange, exchange_account=account)
            BotEvent.objects.create(
                bot=bot, kind="created", message="Created by the first order placed by hand."
            )
    except IntegrityError:  # the name was taken in between: take the next one
        return _manual_bot_create(account, symbol, budget)
    return bot


# -- checks ----------------------------------------------------------------------------------
def manual_trading_refusal(*, account: ExchangeAccount, second_factor_verified: bool) -> str:
    """Why the account cannot be traded by hand now ("" when it can).

    The sandbox exchange is play money: any of its accounts may be traded. A real exchange
    needs an account in live mode and, as for live bots, a session past two-factor sign-in.
    """
    from exchanges.registry import is_sandbox
    from trading.selectors import kill_switch_engaged_for

    if not account.is_active:
        return f"The account is disabled: {account.disabled_reason or 'no reason given'}."
    if not is_sandbox(account.exchange):
        if not account.is_live:
            return (
                "The account is in paper mode: orders placed here go to the exchange with real "
                "money, so switch the account to live mode first."
            )
        if not second_factor_verified:
            return (
                "Trading real money by hand needs two-factor authentication: set up an "
                "authenticator app and sign in with it."
            )
    switch = kill_switch_engaged_for(user=account.user)
    if switch is not None:
        scope = "for everyone" if switch.user_id is None else "on your account"
        return f"A kill switch is engaged {scope} ({switch.reason}): no order may be placed."
    return ""


@dataclass(frozen=True)
class OrderInput:
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None


def _number(value, name: str, errors: dict) -> Decimal | None:
    text = str(value if value is not None else "").strip()
    if not text:
        errors[name] = "Required."
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        errors[name] = f"{text!r} is not a number."
        return None
    if not number.is_finite() or number <= 0:
        errors[name] = "Must be a number above zero."
        return None
    return number


def order_input_parse(*, symbol, side, type, qty, price=None) -> OrderInput:  # noqa: A002
    """Read the form's fields; ValidationError naming each bad field."""
    errors: dict[str, str] = {}
    symbol = str(symbol or "").strip().upper()
    if not symbol:
        errors["symbol"] = "Choose a market."
    if side not in Side._value2member_map_:
        errors["side"] = "Choose buy or sell."
    if type not in (OrderType.LIMIT.value, OrderType.MARKET.value):
        errors["type"] = "Choose limit or market."
    amount = _number(qty, "qty", errors)
    limit_price = None
    if type == OrderType.LIMIT.value:
        limit_price = _number(price, "price", errors)
    if errors:
        raise ValidationError(errors)
    return OrderInput(symbol, Side(side), OrderType(type), amount, limit_price)


# -- the exchange session --------------------------------------------------------------------
class _PanelBooks(Books):
    """The books written on the request's own connection (not the runtime's database threads)."""

    def flush(self) -> BooksResult | None:
        if not self.batch:
            return None
        batch, self.batch = self.batch, Batch()
        return bot_books_write(bot=self.bot, token=self.token, batch=batch)


@dataclass
class _Session:
    account: ExchangeAccount
    loop: asyncio.AbstractEventLoop
    gateway: object

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)


class _Exchange:
    """The account's gateway on a private event loop, for the length of one request."""

    def __init__(self, account: ExchangeAccount) -> None:
        self.account = account

    def __enter__(self) -> _Session:
        from exchanges.gateway.accounts import gateway_for_account

        loop = asyncio.new_event_loop()
        self.session = _Session(self.account, loop, gateway_for_account(self.account))
        return self.session

    def __exit__(self, *exc) -> None:
        try:
            self.session.run(self.session.gateway.close())
        except Exception:
            logger.debug("closing the gateway failed", exc_info=True)
        self.session.loop.close()


def _exchange_error(exc: Exception) -> ValidationError:
    return ValidationError({"__all__": f"The exchange did not answer as expected: {exc}"})


def _book(session: _Session, symbol: str) -> OrderBook:
    raw = session.run(session.gateway.fetch_order_book(symbol=symbol, limit=5))

    def levels(rows):
        return [(Decimal(str(p)), Decimal(str(a))) for p, a, *_ in rows or []]

    return OrderBook(symbol, levels(raw.get("bids")), levels(raw.get("asks")))


def _holder() -> str:
    return f"manual:{socket.gethostname()}:{os.getpid()}"


def _lease(bot: Bot, *, wait: float) -> int | None:
    """Take the manual bot's lease, waiting up to `wait` seconds for another holder."""
    deadline = time.monotonic() + wait
    while True:
        token = leases.lease_acquire(bot_id=bot.pk, holder=_holder(), ttl_seconds=LEASE_SECONDS)
        if token is not None or time.monotonic() >= deadline:
            return token
        time.sleep(0.05)


class _Trading:
    """The manual bot's books, venue and order manager under its lease, for one request."""

    def __init__(self, session: _Session, bot: Bot, symbols: list[str], *, wait: float) -> None:
        self.session, self.bot, self.symbols, self.wait = session, bot, symbols, wait

    def __enter__(self) -> _Trading:
        bot = self.bot
        self.token = _lease(bot, wait=self.wait)
        if self.token is None:
            raise ValidationError(
                {"__all__": "Another order of this account is being handled; try again."}
            )
        try:
            self._build()
        except BaseException:  # not entered: give the lease back here
            leases.lease_release(bot_id=bot.pk, token=self.token)
            raise
        return self

    def _build(self) -> None:
        account, bot = self.session.account, self.bot
        self.books = _PanelBooks(
            bot, self.token, paper=False, account_keys={account.exchange: str(account.pk)}
        )
        self.books.account_ids[account.exchange] = account.pk
        instruments = self.session.run(load_instruments(self.session.gateway, self.symbols))
        self.venue = LiveVenue(
            account.exchange,
            self.session.gateway,
            instruments,
            loop=self.session.loop,
            recorder=self.books,
            account_id=str(account.pk),
        )
        self.om = OrderManager(
            {account.exchange: self.venue},
            "live",
            clock=WallClock(),
            risk=RiskManager(_risk_limits(bot)),
            id_prefix=f"{bot.client_id_prefix}{self.token}",
        )
        self.books.order_manager = self.om
        self._restore()

    def _restore(self) -> None:
        """What the books hold as working, as the runner restores it (reconcile.live_sync)."""
        rows = bot_orders_to_restore(bot_id=self.bot.pk)
        counts = fill_counts(self.bot.pk, [r.pk for r in rows])
        self.rows = {row.client_order_id: row for row in rows}
        for row in rows:
            count, booked = counts.get(row.pk, (0, ZERO))
            self.books.adopt_known(Known.from_row(row, count, booked))
            self.venue.remember_symbol(row.client_order_id, row.symbol)

    def sync(self, symbols: list[str]) -> SyncReport:
        """Bring the books in line with the exchange (order states, trades booked as fills)."""
        since = timezone.now() - TRADES_LOOKBACK
        oldest = [k.created_at for k in self.books.known.values() if k.created_at is not None]
        if oldest:
            since = min(since, min(oldest) - timedelta(minutes=1))
        return live_sync(
            self.books, self.venue, symbols, since_ms=int(since.timestamp() * 1000), source="poll"
        )

    def __exit__(self, *exc) -> None:
        try:
            self.books.flush()
        finally:
            leases.lease_release(bot_id=self.bot.pk, token=self.token)


def _risk_limits(bot: Bot):
    from trading.services.limits import risk_limits_build

    # no budget: what a manual order may spend is what the account holds (checked first)
    return dataclasses.replace(risk_limits_build(bot), budget=None)


# -- placing ---------------------------------------------------------------------------------
def _instrument(session: _Session, symbol: str):
    infos = session.run(session.gateway.load_markets())
    info = infos.get(symbol)
    if info is None or not info.active:
        raise ValidationError({"symbol": f"{session.account.exchange} does not list {symbol}."})
    return info, instrument_from_market(symbol, info, session.gateway.client.markets.get(symbol))


def _pre_trade_check(session: _Session, order: OrderInput) -> tuple[OrderBook, Decimal]:
    """Everything the exchange would refuse, checked first; returns the book and quote held."""
    info, inst = _instrument(session, order.symbol)
    errors: dict[str, str] = {}
    if not inst.qty_on_lot(order.qty):
        errors["qty"] = f"Quantity must be a multiple of {inst.lot_size.normalize()} {inst.base}."
    elif info.min_amount and order.qty < info.min_amount:
        errors["qty"] = f"The smallest order is {info.min_amount.normalize()} {inst.base}."
    if order.price is not None and not inst.price_on_tick(order.price):
        errors["price"] = f"Price must be a multiple of {inst.tick_size.normalize()} {inst.quote}."
    if errors:
        raise ValidationError(errors)
    book = _book(session, order.symbol)
    touch = book.best_ask() if order.side is Side.BUY else book.best_bid()
    price = order.price if order.price is not None else (touch[0] if touch else None)
    if price is None:
        raise ValidationError({"type": f"No {order.symbol} book to fill a market order against."})
    notional = order.qty * price
    if inst.min_notional and notional < inst.min_notional:
        raise ValidationError(
            {
                "qty": f"Order value {notional.normalize()} {inst.quote} is below the "
                f"exchange's minimum of {inst.min_notional.normalize()} {inst.quote}."
            }
        )
    balances = session.run(session.gateway.fetch_balance())
    held = balances.get(inst.quote)
    if order.side is Side.BUY:
        need, asset = inst.round_price(notional * (1 + inst.taker_fee)), inst.quote
    else:
        need, asset = order.qty, inst.base
    line = balances.get(asset)
    free = line.free if line else ZERO
    if free < need:
        raise ValidationError(
            {
                "qty": f"Insufficient balance: the order needs {need.normalize()} {asset}, "
                f"the account has {free.normalize()} {asset} free."
            }
        )
    return book, (held.total if held else ZERO)


def manual_order_place(
    *,
    user,
    account: ExchangeAccount,
    symbol,
    side,
    type,  # noqa: A002
    qty,
    price=None,
    ip: str | None = None,
    second_factor_verified: bool = False,
) -> Order:
    """Place an order by hand: checked, recorded durably, sent, its fills booked; audited."""
    from compliance.services import audit_record

    if account.user_id != user.pk:
        raise Http404("No such exchange account.")
    order = order_input_parse(symbol=symbol, side=side, type=type, qty=qty, price=price)
    refusal = manual_trading_refusal(account=account, second_factor_verified=second_factor_verified)
    if refusal:
        raise ValidationError({"__all__": refusal})
    with _Exchange(account) as session:
        try:
            book, quote_held = _pre_trade_check(session, order)
            bot = _manual_bot_ensure(account, order.symbol, quote_held)
            with _Trading(session, bot, [order.symbol], wait=LEASE_WAIT_SECONDS) as trading:
                trading.venue.on_book(order.symbol, book)
                trading.venue.refresh_balances()  # the risk check's position
                intent = OrderIntent(
                    order.symbol, order.side, order.type, order.qty, order.price,
                    venue=account.exchange, tag="manual",
                )  # fmt: skip
                try:
                    result = trading.om.submit(intent)
                except AccountRefused as exc:
                    raise ValidationError(
                        {"__all__": f"The exchange refused the account's API key: {exc}"}
                    ) from exc
                if isinstance(result, Denial):
                    raise ValidationError(
                        {"__all__": f"Refused by the risk check: {result.reason}"}
                    )
                trading.books.flush()
                if result.filled_qty > 0:
                    trading.sync([order.symbol])  # book the trades of what filled at once
        except (GatewayError, VenueTimeout) as exc:
            raise _exchange_error(exc) from exc
    row = Order.objects.get(client_order_id=result.client_order_id)
    audit_record(actor=user, action="order.manual_place", target=row, ip=ip, after=_audit(row))
    if row.is_active:  # resting: a worker watches it fill (or go) on the exchange
        manual_watch_ensure(bot=bot)
    if row.status == Order.Status.REJECTED:
        raise ValidationError({"__all__": f"The exchange rejected the order: {row.reason}"})
    return row


def _audit(row: Order) -> dict:
    return {
        "exchange_account": str(row.exchange_account_id),
        "client_order_id": row.client_order_id,
        "symbol": row.symbol,
        "side": row.side,
        "type": row.type,
        "qty": str(row.qty),
        "price": None if row.price is None else str(row.price),
        "status": row.status,
        "filled_qty": str(row.filled_qty),
    }


# -- cancelling ------------------------------------------------------------------------------
def manual_order_get(*, user, account: ExchangeAccount, id) -> Order:  # noqa: A002
    """One order placed by hand on the account; Http404 for anyone else's."""
    try:
        return Order.objects.get(
            pk=int(id),
            user_id=user.pk,
            exchange_account=account,
            bot__strategy=MANUAL_STRATEGY,
        )
    except (Order.DoesNotExist, ValueError, TypeError):
        raise Http404("No such order.") from None


def manual_order_cancel(*, user, account: ExchangeAccount, order: Order, ip=None) -> Order:
    """Cancel an order placed by hand, through the order manager; audited."""
    from compliance.services import audit_record

    if account.user_id != user.pk or order.exchange_account_id != account.pk:
        raise Http404("No such order.")
    if not order.is_active:
        raise ValidationError(
            {"__all__": f"The order is {order.get_status_display().lower()}: nothing to cancel."}
        )
    bot = Bot.objects.select_related("user").get(pk=order.bot_id)
    with _Exchange(account) as session:
        try:
            with _Trading(session, bot, [order.symbol], wait=LEASE_WAIT_SECONDS) as trading:
                known = trading.books.known.get(order.client_order_id)
                if known is None or not known.active:
                    trading.sync([order.symbol])
                else:
                    trading.om.orders[order.client_order_id] = TrackedOrder(
                        order.client_order_id,
                        account.exchange,
                        OrderIntent(
                            order.symbol,
                            Side(order.side),
                            OrderType(order.type),
                            order.qty,
                            order.price,
                            venue=account.exchange,
                            tag="manual",
                        ),  # fmt: skip
                        status=_status(known.status),
                        filled_qty=order.filled_qty,
                    )
                    trading.om.cancel(order.client_order_id)
                    trading.books.flush()
                    trading.sync([order.symbol])  # what filled before the cancel is booked
        except (GatewayError, VenueTimeout) as exc:
            raise _exchange_error(exc) from exc
    order.refresh_from_db()
    audit_record(actor=user, action="order.manual_cancel", target=order, ip=ip, after=_audit(order))
    if order.is_active:
        manual_watch_ensure(bot=bot)  # the watcher looks it up again
        raise ValidationError(
            {"__all__": "The exchange has not confirmed the cancel yet; it is looked up again."}
        )
    return order


def _status(value: str):
    from tradecore.domain import OrderStatus

    return OrderStatus.UNKNOWN if value == Order.Status.NEW else OrderStatus(value)


# -- the panel -------------------------------------------------------------------------------
@dataclass
class BalanceRow:
    asset: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass
class Panel:
    """What the trading panel of an account shows."""

    account: ExchangeAccount
    refusal: str = ""
    symbols: list[str] = field(default_factory=list)
    balances: list[BalanceRow] = field(default_factory=list)
    open_orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    error: str = ""
    bot: Bot | None = None


def manual_panel_get(
    *, user, account: ExchangeAccount, sync: bool = True, second_factor_verified: bool = False
) -> Panel:
    """The panel: markets, balances from the exchange, open orders and recent fills by hand.

    With `sync`, the books of the account's manual orders are first brought in line with the
    exchange (a resting order that filled since is booked), unless another request holds them.
    """
    if account.user_id != user.pk:
        raise Http404("No such exchange account.")
    refusal = manual_trading_refusal(account=account, second_factor_verified=second_factor_verified)
    panel = Panel(account=account, refusal=refusal)
    panel.bot = manual_bot_get(account=account)
    try:
        with _Exchange(account) as session:
            infos = session.run(session.gateway.load_markets())
            panel.symbols = sorted(s for s, info in infos.items() if info.active)
            lines = session.run(session.gateway.fetch_balance())
            panel.balances = [
                BalanceRow(a, line.free, line.used)
                for a, line in sorted(lines.items())
                if line.free or line.used
            ]
            if sync and panel.bot is not None:
                _panel_sync(session, panel.bot)
                manual_watch_ensure(bot=panel.bot)
    except (GatewayError, VenueTimeout, ValidationError, OSError) as exc:
        panel.error = f"The exchange did not answer: {exc}"
    if panel.bot is not None:
        panel.open_orders = list(
            Order.objects.filter(bot=panel.bot, status__in=Order.ACTIVE).order_by("-created_at")
        )
        panel.fills = list(
            Fill.objects.filter(bot=panel.bot).select_related("order").order_by("-executed_at")[:20]
        )
    return panel


def _panel_sync(session: _Session, bot: Bot) -> None:
    """Sync what is working (or filled but not all booked); nothing to do costs one query."""
    symbols = sorted({row.symbol for row in bot_orders_to_restore(bot_id=bot.pk)})
    if not symbols:
        return
    try:
        with _Trading(session, bot, symbols, wait=0) as trading:
            trading.sync(symbols)
    except ValidationError:  # busy: an order of this account is being placed; next time
        return


# -- watching working orders -----------------------------------------------------------------
# Manual orders have no runner, so a worker watches the account's working ones: every poll it
# syncs the books with the exchange (a resting order that filled, or was cancelled elsewhere,
# is booked), and the books' write publishes the order and fill events the panel's socket
# turns into a fresh state section. One watcher per manual bot at a time (a claim in the cache;
# two at once would only sync twice, serialized by the lease), for a slice, then it re-enqueues
# itself while orders are working; placing an order or opening the panel starts it again.
WATCH_TASK = "trading.tasks.bot_manual_watch_task"


def _watch_key(bot_id: int) -> str:
    return f"manual-watch:{bot_id}"


def _watch_ttl() -> int:
    from trading import conf

    return int(conf.get("PEREGRINE_BOT_SLICE_SECONDS")) + 30


def manual_watch_claim(*, bot_id: int, claim: str | None = None) -> str | None:
    """Take (or, with the current claim, keep) the right to watch the bot; None if taken."""
    import secrets

    from django.core.cache import cache

    key, ttl = _watch_key(bot_id), _watch_ttl()
    if claim is not None and cache.get(key) == claim:
        cache.touch(key, ttl)
        return claim
    claim = secrets.token_hex(8)
    return claim if cache.add(key, claim, ttl) else None


def manual_watch_ensure(*, bot: Bot) -> None:
    """Have a worker watch the manual bot's working orders (after commit), unless one does."""
    from django.core.cache import cache

    from trading.services.bots import task_send

    if cache.get(_watch_key(bot.pk)) is not None:
        return
    if not Order.objects.filter(bot_id=bot.pk, status__in=Order.ACTIVE).exists():
        return
    bot_id = bot.pk
    transaction.on_commit(lambda: task_send(WATCH_TASK, bot_id))


def _watch_release(bot_id: int, claim: str) -> None:
    from django.core.cache import cache

    if cache.get(_watch_key(bot_id)) == claim:
        cache.delete(_watch_key(bot_id))


def manual_watch_run(*, bot_id: int, claim: str | None = None) -> str:
    """One slice of the watcher (the task's body); enqueues the next while orders work."""
    from trading import conf
    from trading.services.bots import task_send

    claim = manual_watch_claim(bot_id=bot_id, claim=claim)
    while claim is not None:
        seconds = float(conf.get("PEREGRINE_BOT_SLICE_SECONDS"))
        poll = float(conf.get("PEREGRINE_BOT_POLL_SECONDS"))
        if manual_orders_watch(bot_id=bot_id, claim=claim, seconds=seconds, poll=poll):
            task_send(WATCH_TASK, bot_id, claim)
            return "watching"
        _watch_release(bot_id, claim)
        # an order placed just before the release saw the claim and started no watcher
        if not Order.objects.filter(bot_id=bot_id, status__in=Order.ACTIVE).exists():
            return "nothing working"
        claim = manual_watch_claim(bot_id=bot_id)
    return "watched elsewhere"


def manual_orders_watch(*, bot_id: int, claim: str, seconds: float, poll: float) -> bool:
    """Sync the manual bot's working orders with the exchange every `poll` seconds for
    `seconds`; True while some are still working and the claim still holds (watch on)."""
    bot = Bot.objects.select_related("user").filter(pk=bot_id, strategy=MANUAL_STRATEGY).first()
    venue = bot.venues.select_related("exchange_account").first() if bot else None
    account = venue.exchange_account if venue is not None else None
    if account is None or not account.is_active:
        return False
    deadline = time.monotonic() + seconds
    with _Exchange(account) as session:
        while True:
            symbols = sorted({row.symbol for row in bot_orders_to_restore(bot_id=bot.pk)})
            if not symbols:
                return False
            try:
                with _Trading(session, bot, symbols, wait=0) as trading:
                    trading.sync(symbols)
            except ValidationError:  # busy: a request of the panel holds the books now
                pass
            except (GatewayError, VenueTimeout, OSError) as exc:  # next poll tries again
                logger.info("manual orders of bot %s not synced: %s", bot.pk, exc)
            if time.monotonic() >= deadline:
                return manual_watch_claim(bot_id=bot.pk, claim=claim) is not None
            time.sleep(poll)


# -- the kill switch -------------------------------------------------------------------------
def manual_orders_cancel_all(*, bot: Bot, reason: str) -> int:
    """Cancel every open order of a manual bot on its exchange (kill switch); return how many.

    Runs after the kill switch revoked the lease; takes it like any writer of these books.
    """
    venue = bot.venues.select_related("exchange_account").first()
    account = venue.exchange_account if venue is not None else None
    active = list(Order.objects.filter(bot=bot, status__in=Order.ACTIVE))
    if account is None or not active:
        return 0
    symbols = sorted({o.symbol for o in active})
    with _Exchange(account) as session:
        with _Trading(session, bot, symbols, wait=LEASE_WAIT_SECONDS) as trading:
            trading.sync(symbols)  # what filled meanwhile is booked, not cancelled
            for known in trading.books.active():
                if known.status in (Order.Status.OPEN, Order.Status.PARTIALLY_FILLED):
                    try:
                        trading.venue.cancel_order(None, client_order_id=known.client_order_id)
                    except (VenueTimeout, KeyError) as exc:
                        logger.info("cancel of %s not confirmed: %s", known.client_order_id, exc)
            ids = {o.client_order_id for o in active}
            cancelled = sum(
                1
                for cid, known in trading.books.known.items()
                if cid in ids and known.status == Order.Status.CANCELLED
            )
            trading.books.event("kill", reason, {"cancelled": cancelled})
    return cancelled
