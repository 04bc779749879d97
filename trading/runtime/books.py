"""The runner's side of the books: what it knows of each order, and the batch it will write.

Live: an order's row is committed (flush) before the venue is called. Paper: the venue lives
in this process and is rebuilt from the books after any restart, so a step's orders, fills and
state changes are committed together at the end of the step; a crash loses the step on both
sides at once and the books still equal the venue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from exchanges.gateway.interface import ExchangeTrade
from tradecore.domain import ZERO, Fill, OrderRequest, OrderStatus
from trading.models import Bot, Order
from trading.runtime.db import db_call, db_submit
from trading.services.orders import (
    EXCHANGE_FINAL,
    Batch,
    BooksResult,
    FillDraft,
    OrderChange,
    OrderDraft,
    SignalDraft,
    bot_books_write,
)

logger = logging.getLogger(__name__)


@dataclass
class Known:
    """The books' state of one order as the runner tracks it."""

    client_order_id: str
    exchange: str
    symbol: str
    side: str
    status: str
    qty: Decimal
    exchange_order_id: str = ""
    filled_qty: Decimal = ZERO
    fee: Decimal = ZERO
    notional: Decimal = ZERO
    fill_count: int = 0
    booked_qty: Decimal = ZERO  # sum of the fills booked (live: fed to the strategy)
    not_found_count: int = 0
    first_not_found_at: datetime | None = None
    created_at: datetime | None = None
    level: int | None = None
    tag: str = ""
    # paper: what was filled before the order was put back on a fresh simulated book
    base_filled: Decimal = ZERO
    base_fee: Decimal = ZERO
    base_notional: Decimal = ZERO

    @classmethod
    def from_row(cls, order: Order, fill_count: int = 0, booked_qty: Decimal = ZERO) -> Known:
        avg = order.avg_price or ZERO
        return cls(
            client_order_id=order.client_order_id,
            exchange=order.exchange,
            symbol=order.symbol,
            side=order.side,
            status=order.status,
            qty=order.qty,
            exchange_order_id=order.exchange_order_id,
            filled_qty=order.filled_qty,
            fee=order.fee,
            notional=avg * order.filled_qty,
            fill_count=fill_count,
            booked_qty=booked_qty,
            not_found_count=order.not_found_count,
            first_not_found_at=order.first_not_found_at,
            created_at=order.created_at,
            level=order.level,
            tag=order.tag,
        )

    @property
    def active(self) -> bool:
        return self.status in Order.ACTIVE


class Books:
    """Records orders, fills, signals and checkpoints of one bot under one lease token."""

    def __init__(self, bot: Bot, token: int, *, paper: bool, account_keys: dict[str, str]):
        self.bot = bot
        self.token = token
        self.paper = paper
        self.account_keys = account_keys  # exchange -> account key of its fills
        self.account_ids: dict[str, object] = {}  # exchange -> ExchangeAccount id (live)
        self.batch = Batch()
        self.known: dict[str, Known] = {}
        self.by_exchange_id: dict[tuple[str, str], str] = {}
        self.trigger_ms: int | None = None
        # (venue, symbol) -> the mid of the venue's book now; the runner sets it (slippage)
        self.reference_price: Callable[[str, str], Decimal | None] = lambda venue, symbol: None
        self.order_manager = None
        self.sent = 0
        self._pending: Future | None = None  # the write flush_behind handed over

    # -- mirror ----------------------------------------------------------------------------
    def adopt_known(self, known: Known) -> None:
        self.known[known.client_order_id] = known
        if known.exchange_order_id:
            self.by_exchange_id[(known.exchange, known.exchange_order_id)] = known.client_order_id

    def forget_settled(self) -> list[str]:
        """Drop finished orders whose fills are all booked; return their client order ids."""
        settled = [
            cid
            for cid, k in self.known.items()
            if not k.active and (self.paper or k.booked_qty >= k.filled_qty)
        ]
        for cid in settled:
            known = self.known.pop(cid)
            self.by_exchange_id.pop((known.exchange, known.exchange_order_id), None)
        return settled

    def active(self, exchange: str | None = None) -> list[Known]:
        return [k for k in self.known.values() if k.active and exchange in (None, k.exchange)]

    def _note(self, cid: str, change: OrderChange) -> None:
        known = self.known.get(cid)
        if known is not None:
            if change.status is not None and known.status not in EXCHANGE_FINAL:
                known.status = change.status
            if change.filled_qty is not None and change.filled_qty > known.filled_qty:
                known.filled_qty = change.filled_qty
            if change.exchange_order_id:
                known.exchange_order_id = change.exchange_order_id
                self.by_exchange_id[(known.exchange, change.exchange_order_id)] = cid
            if change.not_found_count is not None:
                known.not_found_count = change.not_found_count
                known.first_not_found_at = change.first_not_found_at
        self.batch.change(cid, change)

    # -- the recorder interface the venues call -------------------------------------------------
    def before_send(self, venue: str, request: OrderRequest) -> None:
        level, tag = None, ""
        tracked = (
            self.order_manager.orders.get(request.client_order_id) if self.order_manager else None
        )
        if tracked is not None:
            level, tag = tracked.level, tracked.intent.tag
        draft = OrderDraft(
            client_order_id=request.client_order_id,
            exchange=venue,
            exchange_account_id=self.account_ids.get(venue),
            symbol=request.symbol,
            side=request.side.value,
            type=request.type.value,
            qty=request.qty,
            price=request.price,
            stop_price=request.stop_price,
            quote_qty=request.quote_qty,
            time_in_force=request.tif.value,
            post_only=request.post_only,
            tag=tag,
            level=level,
            trigger_ms=self.trigger_ms,
            reference_price=self.reference_price(venue, request.symbol),
        )
        self.batch.orders_new.append(draft)
        self.known[request.client_order_id] = Known(
            request.client_order_id,
            venue,
            request.symbol,
            request.side.value,
            Order.Status.NEW,
            request.qty,
            level=level,
            tag=tag,
        )
        if not self.paper:
            self.flush()  # durable intent: committed before the network call
        self.sent += 1

    def after_send(self, venue: str, order) -> None:
        change = self._change_from(order)
        change.sent = True
        change.acknowledged = order.status not in (OrderStatus.NEW, OrderStatus.UNKNOWN)
        change.at_ms = time.time_ns() // 1_000_000
        self._note(order.client_order_id, change)

    def send_unknown(self, venue: str, request: OrderRequest, reason: str) -> None:
        self._note(
            request.client_order_id,
            OrderChange(
                status=Order.Status.UNKNOWN,
                sent=True,
                reason=reason[:500],
                at_ms=time.time_ns() // 1_000_000,
            ),
        )

    def order_seen(self, venue: str, order) -> None:
        self._note(order.client_order_id, self._change_from(order))

    def _change_from(self, order) -> OrderChange:
        known = self.known.get(order.client_order_id)
        filled, fee, avg = order.filled_qty, order.fee, order.avg_price
        if known is not None and known.base_filled:
            filled = known.base_filled + order.filled_qty
            fee = known.base_fee + order.fee
            notional = known.base_notional + (order.avg_price or ZERO) * order.filled_qty
            avg = notional / filled if filled else None
        return OrderChange(
            status=order.status.value,
            exchange_order_id=order.order_id or None,
            filled_qty=filled,
            avg_price=avg,
            fee=fee,
            fee_asset=order.fee_asset or None,
            reason=order.reason or None,
        )

    # -- fills -----------------------------------------------------------------------------
    def paper_fill(self, fill: Fill) -> None:
        """A fill of the simulated venue: booked under an id unique to the order."""
        known = self.known.get(fill.client_order_id)
        if known is None:
            logger.warning("paper fill for an order the books lack: %s", fill.client_order_id)
            return
        known.fill_count += 1
        self.batch.fills.append(
            FillDraft(
                client_order_id=fill.client_order_id,
                exchange=fill.venue,
                account_key=self.account_keys[fill.venue],
                symbol=fill.symbol,
                trade_id=f"{fill.client_order_id}.{known.fill_count}",
                side=fill.side.value,
                price=fill.price,
                qty=fill.qty,
                fee=fill.fee,
                fee_asset=fill.fee_asset,
                liquidity=fill.liquidity,
                ts_ms=fill.ts,
                source="paper",
            )
        )
        if fill.order_status is not None:
            filled = known.filled_qty + fill.qty
            known.notional += fill.price * fill.qty
            known.fee += fill.fee
            self._note(
                fill.client_order_id,
                OrderChange(
                    status=fill.order_status.value,
                    filled_qty=filled,
                    avg_price=known.notional / filled,
                    fee=known.fee,
                    fee_asset=fill.fee_asset,
                ),
            )

    def live_fill_drafts(self, exchange: str, trades: list[ExchangeTrade], source: str):
        """The trades that belong to this bot's orders, as fill drafts (duplicates included)."""
        drafts = []
        for trade in trades:
            cid = self.by_exchange_id.get((exchange, str(trade.order_id)))
            if cid is None:
                continue
            drafts.append(
                FillDraft(
                    client_order_id=cid,
                    exchange=exchange,
                    account_key=self.account_keys[exchange],
                    exchange_account_id=self.account_ids.get(exchange),
                    symbol=trade.symbol,
                    trade_id=str(trade.trade_id),
                    side=trade.side,
                    price=trade.price,
                    qty=trade.amount,
                    fee=trade.fee or ZERO,
                    fee_asset=trade.fee_currency or "",
                    liquidity=trade.liquidity or "",
                    ts_ms=int(trade.timestamp),
                    source=source,
                )
            )
        return drafts

    # -- signals, events, checkpoints ------------------------------------------------------
    def signal(self, at_ms: int, symbol: str, kind: str, indicators: dict, intents: list) -> None:
        self.batch.signals.append(SignalDraft(at_ms, symbol, kind, indicators, intents))

    def event(self, kind: str, message: str, data: dict | None = None) -> None:
        self.batch.events.append((kind, message, data or {}))

    def checkpoint(self, strategy_state: dict, risk_state: dict) -> None:
        self.batch.checkpoint = (strategy_state, risk_state)

    # -- writing ---------------------------------------------------------------------------
    def flush(self) -> BooksResult | None:
        """Write the batch in one fenced transaction (LeaseLost if the lease moved on).

        A write handed over by `flush_behind` is waited for first: the books are written in
        the order the bot made them.
        """
        self.settle()
        if not self.batch:
            return None
        batch, self.batch = self.batch, Batch()
        return db_call(
            bot_books_write, bot=self.bot, token=self.token, batch=batch, synchronous=not self.paper
        )

    def flush_behind(self) -> None:
        """Paper: hand the batch to a database thread and carry on trading.

        One write is in flight at a time; while it is, the batch keeps growing and goes with the
        next call. A write that failed (LeaseLost, the database down) raises here, on the bot's
        thread, as a synchronous flush would have. The paper venue lives in this process, so
        nothing outside waits on these rows; a crash loses the unwritten steps on both sides.
        """
        pending = self._pending
        if pending is not None:
            if not pending.done():
                return
            self._pending = None
            pending.result()
        if not self.batch:
            return
        batch, self.batch = self.batch, Batch()
        self._pending = db_submit(
            bot_books_write, bot=self.bot, token=self.token, batch=batch, synchronous=False
        )

    def settle(self) -> None:
        """Wait for the write `flush_behind` handed over (raising what it raised)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
