"""Orders and fills: the books, written in fenced batches by the bot runtime.

Order intent is durable before the network call: the runtime writes the order row (status NEW,
unique client order id) and commits before it sends anything; creation is never retried. An
order whose creation outcome is open is UNKNOWN until a lookup by client order id finds it, and
is declared LOST only after at least 3 not-found answers spanning at least 60 s. A fill is
unique per (exchange, account, symbol, trade id): seen twice (order response, poll, stream,
reconciliation), it is booked once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from django.db import connection, transaction
from django.db.models import DecimalField, F, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from tradecore.domain import OrderStatus
from trading.events import bot_event, bot_events_send, bot_owner_notify
from trading.models import Bot, BotEvent, Fill, Order, Signal
from trading.services.leases import lease_check

logger = logging.getLogger(__name__)

LOST_AFTER_LOOKUPS = 3
LOST_AFTER = timedelta(seconds=60)
# The statuses an exchange ends an order with: tradecore's terminal ones. "lost" is the books'
# own verdict (no answer from the exchange), which a later answer may still correct.
EXCHANGE_FINAL = frozenset(status.value for status in OrderStatus if status.is_terminal)


@dataclass
class OrderDraft:
    """A new order row: an intent about to be sent, or an order adopted from the exchange."""

    client_order_id: str
    exchange: str
    symbol: str
    side: str
    type: str
    qty: Decimal
    exchange_account_id: object | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    quote_qty: Decimal | None = None
    time_in_force: str = "GTC"
    post_only: bool = False
    tag: str = ""
    level: int | None = None
    trigger_ms: int | None = None
    reference_price: Decimal | None = None
    status: str = Order.Status.NEW
    adopted: bool = False
    exchange_order_id: str = ""
    filled_qty: Decimal = Decimal(0)
    avg_price: Decimal | None = None
    reason: str = ""


@dataclass
class OrderChange:
    """What became known about an order; None fields are left as they are."""

    status: str | None = None
    exchange_order_id: str | None = None
    filled_qty: Decimal | None = None
    avg_price: Decimal | None = None
    fee: Decimal | None = None
    fee_asset: str | None = None
    reason: str | None = None
    sent: bool = False
    acknowledged: bool = False
    at_ms: int | None = None  # when the runner saw it (sent / acknowledged times), else now
    not_found_count: int | None = None
    first_not_found_at: datetime | None = None
    looked_up: bool = False

    def merge(self, later: OrderChange) -> OrderChange:
        for name in self.__dataclass_fields__:
            value = getattr(later, name)
            if value is not None and value is not False:
                setattr(self, name, value)
        return self


@dataclass
class FillDraft:
    client_order_id: str
    exchange: str
    account_key: str
    symbol: str
    trade_id: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_asset: str
    liquidity: str
    ts_ms: int
    source: str
    exchange_account_id: object | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.exchange, self.account_key, self.symbol, self.trade_id)


@dataclass
class SignalDraft:
    at_ms: int
    symbol: str
    kind: str
    indicators: dict
    intents: list


@dataclass
class Batch:
    """Everything one step of a bot changed, written in one fenced transaction."""

    orders_new: list[OrderDraft] = field(default_factory=list)
    order_changes: dict[str, OrderChange] = field(default_factory=dict)
    fills: list[FillDraft] = field(default_factory=list)
    signals: list[SignalDraft] = field(default_factory=list)
    events: list[tuple[str, str, dict]] = field(default_factory=list)
    checkpoint: tuple[dict, dict] | None = None

    def change(self, client_order_id: str, change: OrderChange) -> None:
        current = self.order_changes.get(client_order_id)
        if current is None:
            self.order_changes[client_order_id] = change
        else:
            current.merge(change)

    def __bool__(self) -> bool:
        return bool(
            self.orders_new
            or self.order_changes
            or self.fills
            or self.signals
            or self.events
            or self.checkpoint is not None
        )


@dataclass
class BooksResult:
    new_fills: list[FillDraft]
    changed_orders: list  # Order rows (or plain rows with their fields) that changed


def lookup_not_found(
    *, count: int, first_at: datetime | None, now: datetime
) -> tuple[OrderChange, bool]:
    """Record one not-found answer; return the change and whether the order is now LOST."""
    count, first_at = count + 1, first_at or now
    lost = count >= LOST_AFTER_LOOKUPS and now - first_at >= LOST_AFTER
    change = OrderChange(
        status=Order.Status.LOST if lost else None,
        not_found_count=count,
        first_not_found_at=first_at,
        looked_up=True,
        reason=(
            f"not found on the exchange {count} times over "
            f"{(now - first_at).total_seconds():.0f} s: declared lost"
            if lost
            else None
        ),
    )
    return change, lost


def _allowed(current: str, new: str) -> bool:
    """Terminal states never change (a lost order may still turn up); others move freely."""
    if current in EXCHANGE_FINAL:
        return False
    return not (current == Order.Status.OPEN and new == Order.Status.NEW)


def _apply_change(order: Order, change: OrderChange, now: datetime) -> bool:
    changed = False
    if change.status is not None and change.status != order.status:
        if _allowed(order.status, change.status):
            order.status = change.status
            if change.status in Order.TERMINAL:
                order.closed_at = now
            changed = True
        else:
            logger.info(
                "order %s: ignored %s -> %s", order.client_order_id, order.status, change.status
            )
    if change.filled_qty is not None and change.filled_qty > order.filled_qty:
        order.filled_qty = change.filled_qty
        changed = True
    for name in ("exchange_order_id", "avg_price", "fee", "fee_asset"):
        value = getattr(change, name)
        if value is not None and value != getattr(order, name):
            setattr(order, name, value)
            changed = True
    if change.reason is not None:
        order.reason = change.reason[:500]
    seen = now if change.at_ms is None else datetime.fromtimestamp(change.at_ms / 1000, tz=UTC)
    if change.sent and order.sent_at is None:
        order.sent_at = seen
    if change.acknowledged and order.acknowledged_at is None:
        order.acknowledged_at = seen
    if change.not_found_count is not None:
        order.not_found_count = change.not_found_count
        order.first_not_found_at = change.first_not_found_at
    if change.looked_up:
        order.last_lookup_at = now
    return changed


_ORDER_FIELDS = [
    "status",
    "filled_qty",
    "exchange_order_id",
    "avg_price",
    "fee",
    "fee_asset",
    "reason",
    "sent_at",
    "acknowledged_at",
    "closed_at",
    "not_found_count",
    "first_not_found_at",
    "last_lookup_at",
    "updated_at",
]
# column names are the constants above; values are always parameters
_UPDATE_ORDER = (
    "UPDATE trading_order SET "  # noqa: S608
    + ", ".join(f"{name} = %s" for name in _ORDER_FIELDS)
    + " WHERE id = %s"
)
# what a change or an event needs of an order row (a full row is twice as slow to load)
_ORDER_READ = [
    *_ORDER_FIELDS,
    *("id", "client_order_id", "exchange", "symbol", "side", "type", "price", "qty"),
]
_SELECT_ORDERS = (
    f"SELECT {', '.join(_ORDER_READ)} FROM trading_order "  # noqa: S608
    "WHERE bot_id = %s AND client_order_id = ANY(%s)"
)


def _new_order(bot: Bot, draft: OrderDraft, token: int | None, now: datetime) -> Order:
    return Order(
        bot_id=bot.pk,
        user_id=bot.user_id,
        mode=bot.mode,
        exchange=draft.exchange,
        exchange_account_id=draft.exchange_account_id,
        symbol=draft.symbol,
        client_order_id=draft.client_order_id,
        exchange_order_id=draft.exchange_order_id,
        side=draft.side,
        type=draft.type,
        time_in_force=draft.time_in_force,
        post_only=draft.post_only,
        price=draft.price,
        stop_price=draft.stop_price,
        qty=draft.qty,
        quote_qty=draft.quote_qty,
        filled_qty=draft.filled_qty,
        avg_price=draft.avg_price,
        status=draft.status,
        reason=draft.reason[:500],
        tag=draft.tag[:32],
        level=draft.level,
        adopted=draft.adopted,
        lease_token=token or 0,
        trigger_ms=draft.trigger_ms,
        reference_price=draft.reference_price,
        acknowledged_at=now if draft.adopted else None,
        created_at=now,
        updated_at=now,
    )


@functools.cache
def _order_insert() -> tuple[list[str], str]:
    """Attribute names and INSERT of a new order row: every concrete column but the key.

    Written straight: bulk_create's compiler cost more than the rest of a step's write.
    """
    fields = [f for f in Order._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {Order._meta.db_table} ({columns}) VALUES ({marks})"  # noqa: S608
    return [f.attname for f in fields], sql


def _write_orders(bot: Bot, batch: Batch, token: int | None, now: datetime) -> list:
    created = [_new_order(bot, d, token, now) for d in batch.orders_new]
    pending = dict(batch.order_changes)
    for order in created:  # an order sent in this step is written as it now stands
        change = pending.pop(order.client_order_id, None)
        if change is not None:
            _apply_change(order, change, now)
    if created:
        attnames, sql = _order_insert()
        with connection.cursor() as cursor:
            cursor.executemany(sql, [[getattr(o, name) for name in attnames] for o in created])
    changed = list(created)
    if pending:
        with connection.cursor() as cursor:  # plain rows: the ORM's compiler costs more here
            cursor.execute(_SELECT_ORDERS, [bot.pk, list(pending)])
            rows = [SimpleNamespace(**dict(zip(_ORDER_READ, row, strict=True))) for row in cursor]
        updated = []
        for order in rows:
            if _apply_change(order, pending[order.client_order_id], now):
                changed.append(order)
            order.updated_at = now
            updated.append([getattr(order, name) for name in _ORDER_FIELDS] + [order.id])
        if updated:
            with connection.cursor() as cursor:  # one statement, many rows: no ORM per row
                cursor.executemany(_UPDATE_ORDER, updated)
    return changed


def _write_fills(bot: Bot, batch: Batch) -> list[FillDraft]:
    if not batch.fills:
        return []
    unique = {}
    for draft in batch.fills:
        unique.setdefault(draft.key, draft)
    existing = set(
        Fill.objects.filter(
            exchange__in={k[0] for k in unique},
            account_key__in={k[1] for k in unique},
            trade_id__in={k[3] for k in unique},
        ).values_list("exchange", "account_key", "symbol", "trade_id")
    )
    fresh = [d for k, d in unique.items() if k not in existing]
    if not fresh:
        return []
    order_ids = dict(
        Order.objects.filter(
            bot_id=bot.pk, client_order_id__in={d.client_order_id for d in fresh}
        ).values_list("client_order_id", "id")
    )
    rows = []
    for d in fresh:
        if d.client_order_id not in order_ids:
            logger.warning("fill %s for unknown order %s skipped", d.trade_id, d.client_order_id)
            continue
        rows.append(
            Fill(
                bot_id=bot.pk,
                order_id=order_ids[d.client_order_id],
                user_id=bot.user_id,
                mode=bot.mode,
                exchange=d.exchange,
                exchange_account_id=d.exchange_account_id,
                account_key=d.account_key,
                symbol=d.symbol,
                trade_id=d.trade_id,
                side=d.side,
                price=d.price,
                qty=d.qty,
                fee=d.fee,
                fee_asset=d.fee_asset,
                liquidity=d.liquidity,
                executed_at=datetime.fromtimestamp(d.ts_ms / 1000, tz=UTC),
                source=d.source,
            )
        )
    # ignore_conflicts: a concurrent writer of the same trade (another bot on the same
    # account never books our orders' trades, but a kill-switch pass might) cannot fail us
    Fill.objects.bulk_create(rows, ignore_conflicts=True)
    booked = {r.trade_id for r in rows}
    return [d for d in fresh if d.trade_id in booked]


def _write_extras(bot: Bot, batch: Batch, now: datetime) -> None:
    if batch.signals:
        Signal.objects.bulk_create(
            Signal(
                bot_id=bot.pk,
                at=datetime.fromtimestamp(s.at_ms / 1000, tz=UTC),
                symbol=s.symbol,
                kind=s.kind[:16],
                indicators=s.indicators,
                intents=s.intents,
            )
            for s in batch.signals
        )
    if batch.events:
        BotEvent.objects.bulk_create(
            BotEvent(bot_id=bot.pk, kind=kind[:32], message=message, data=data)
            for kind, message, data in batch.events
        )
    if batch.checkpoint is not None:
        strategy_state, risk_state = batch.checkpoint
        Bot.objects.filter(pk=bot.pk).update(
            strategy_state=strategy_state, risk_state=risk_state, checkpoint_at=now
        )


def bot_books_write(
    *, bot: Bot, token: int | None, batch: Batch, synchronous: bool = True
) -> BooksResult:
    """Write one step of a bot in one transaction, refused (LeaseLost) if `token` is stale.

    `token=None` writes without the lease (the kill switch, which revoked it first).
    `synchronous=False` (paper) does not wait for the commit to reach the disk: a database
    crash may lose the last moments of a paper bot, books and simulated venue alike (the venue
    is rebuilt from the books), never a live order's intent.
    """
    now = timezone.now()
    with transaction.atomic():
        if not synchronous:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if token is not None:
            lease_check(bot_id=bot.pk, token=token)
        changed = _write_orders(bot, batch, token, now)
        new_fills = _write_fills(bot, batch)
        _write_extras(bot, batch, now)
        events = []  # one event per kind and write: pages re-render per kind, not per row
        if changed:
            events.append(
                bot_event(
                    bot_id=bot.pk, kind="order", data={"orders": [_order(o) for o in changed]}
                )
            )
        if new_fills:
            events.append(
                bot_event(bot_id=bot.pk, kind="fill", data={"fills": [_fill(f) for f in new_fills]})
            )
        events += [
            bot_event(
                bot_id=bot.pk,
                kind="signal",
                data={"symbol": s.symbol, "kind": s.kind, "indicators": s.indicators},
            )
            for s in batch.signals
        ]
        if batch.events:  # what the runtime wrote in the bot's history (slices, alerts, ...)
            kinds = sorted({kind for kind, _, _ in batch.events})
            events.append(bot_event(bot_id=bot.pk, kind="history", data={"kinds": kinds}))
        for fill in new_fills:
            bot_owner_notify(
                bot=bot,
                event="fill",
                title=f"{bot.name}: {fill.side} {fill.qty} {fill.symbol} at {fill.price}",
                body=f"Bot {bot.name} filled {fill.side} {fill.qty} {fill.symbol} at "
                f"{fill.price} on {fill.exchange} (fee {fill.fee} {fill.fee_asset}).",
                dedupe_key=f"fill:{':'.join(fill.key)}",
            )
        if events:
            bot_id, user_id = bot.pk, bot.user_id
            transaction.on_commit(
                lambda: bot_events_send(bot_id=bot_id, user_id=user_id, events=events)
            )
    return BooksResult(new_fills, changed)


def _text(value) -> str | None:
    return None if value is None else str(value)


def _order(order: Order) -> dict:
    return {
        "client_order_id": order.client_order_id,
        "exchange": order.exchange,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "price": _text(order.price),
        "qty": _text(order.qty),
        "filled_qty": _text(order.filled_qty),
        "status": order.status,
        "reason": order.reason,
    }


def _fill(fill: FillDraft) -> dict:
    return {
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "exchange": fill.exchange,
        "symbol": fill.symbol,
        "side": fill.side,
        "price": str(fill.price),
        "qty": str(fill.qty),
        "fee": str(fill.fee),
        "fee_asset": fill.fee_asset,
        "liquidity": fill.liquidity,
        "executed_at": datetime.fromtimestamp(fill.ts_ms / 1000, tz=UTC).isoformat(),
    }


def bot_active_orders(*, bot_id: int) -> list[Order]:
    """The bot's orders that are not finished (including NEW and UNKNOWN), oldest first."""
    return list(
        Order.objects.filter(bot_id=bot_id, status__in=Order.ACTIVE).order_by("created_at", "id")
    )


def bot_orders_to_restore(*, bot_id: int) -> list[Order]:
    """What a runner must pick up: active orders, and finished ones with fills not yet booked.

    (A runner can die between learning that an order filled and booking its trades.)
    """
    recent = timezone.now() - timedelta(days=7)
    booked = Coalesce(Sum("fills__qty"), Value(Decimal(0)), output_field=DecimalField())
    unbooked = (
        Order.objects.filter(bot_id=bot_id, filled_qty__gt=0, updated_at__gte=recent)
        .exclude(status__in=Order.ACTIVE)
        .annotate(booked=booked)
        .filter(filled_qty__gt=F("booked"))
    )
    return bot_active_orders(bot_id=bot_id) + list(unbooked.order_by("created_at", "id"))
