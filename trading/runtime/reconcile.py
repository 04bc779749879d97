"""Reconciliation: make the books equal the exchange before a bot acts, and keep them so.

Live, per venue and symbol (at start and every poll while running):
  1. open orders on the exchange with the bot's client-id prefix: known ones are updated, ones
     the books lack are adopted (written as adopted rows);
  2. every order the books hold as active (new, open, partially filled, unknown) that is not
     open on the exchange is looked up by client order id: found, its final state is booked;
     not found, the answer is counted, and after 3 answers spanning 60 s it is declared lost;
  3. the account's trades since the oldest of those orders are fetched and every trade of a
     bot order is booked (once: fills are unique per exchange, account, symbol and trade id).
The paper venue is rebuilt from the books instead (trading.services.reconcile.paper_balances
and the runner's session set-up).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from exchanges.gateway.errors import GatewayError
from trading.models import Order
from trading.runtime.books import Books, Known
from trading.runtime.venues import LiveVenue, order_from_exchange
from trading.services.orders import OrderDraft, lookup_not_found

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    adopted: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    snapshots: list = field(default_factory=list)  # tradecore Orders seen
    new_fills: list = field(default_factory=list)  # FillDrafts booked now
    newest_trade_ms: int | None = None

    def merge(self, other: SyncReport) -> SyncReport:
        for name in ("adopted", "resolved", "lost", "unknown", "snapshots", "new_fills"):
            getattr(self, name).extend(getattr(other, name))
        if other.newest_trade_ms is not None:
            self.newest_trade_ms = max(self.newest_trade_ms or 0, other.newest_trade_ms)
        return self

    def summary(self) -> dict:
        return {
            "adopted": len(self.adopted),
            "resolved": len(self.resolved),
            "lost": len(self.lost),
            "unknown": len(self.unknown),
            "fills_booked": len(self.new_fills),
        }

    def describe(self) -> str:
        """The summary in words, e.g. "2 orders adopted from the exchange, 3 fills booked"."""
        words = {
            "adopted": "{} adopted from the exchange",
            "resolved": "{} resolved",
            "lost": "{} lost (never reached the exchange)",
            "unknown": "{} still unknown",
            "fills_booked": "{} booked",
        }
        parts = []
        for key, count in self.summary().items():
            if count:
                noun = ("fill" if key == "fills_booked" else "order") + ("" if count == 1 else "s")
                parts.append(words[key].format(f"{count} {noun}"))
        return ", ".join(parts) if parts else "nothing to correct"


def _adopt(books: Books, venue: LiveVenue, eo) -> str:
    books.batch.orders_new.append(
        OrderDraft(
            client_order_id=eo.client_order_id,
            exchange=venue.name,
            exchange_account_id=books.account_ids.get(venue.name),
            symbol=eo.symbol,
            side=eo.side,
            type=eo.type or "limit",
            qty=eo.amount,
            price=eo.price,
            status=eo.status.value,
            adopted=True,
            exchange_order_id=eo.exchange_order_id or "",
            filled_qty=eo.filled,
            avg_price=eo.average,
            reason="adopted: open on the exchange, missing from the books",
        )
    )
    books.adopt_known(
        Known(
            eo.client_order_id,
            venue.name,
            eo.symbol,
            eo.side,
            eo.status.value,
            eo.amount,
            exchange_order_id=eo.exchange_order_id or "",
            filled_qty=eo.filled,
            created_at=timezone.now(),
        )
    )
    return eo.client_order_id


def _seen(books: Books, venue: LiveVenue, eo, report: SyncReport) -> None:
    order = venue.remember(order_from_exchange(venue.name, venue.account_id, eo))
    books.order_seen(venue.name, order)
    report.snapshots.append(order)


def _open_orders(books, venue, symbol: str, prefix: str, report: SyncReport) -> set[str]:
    open_ids = set()
    for eo in venue.fetch_open_orders(symbol):
        cid = eo.client_order_id or ""
        if not cid.startswith(prefix):
            continue  # someone else's order on the same account
        open_ids.add(cid)
        if cid not in books.known:
            report.adopted.append(_adopt(books, venue, eo))
            venue.remember_symbol(cid, eo.symbol)
        _seen(books, venue, eo, report)
    return open_ids


def _look_up(books, venue, known, report: SyncReport) -> None:
    try:
        eo = venue.fetch_order(known.symbol, known.client_order_id)
    except GatewayError as exc:  # no answer: try again next time
        logger.info("lookup of %s failed: %s", known.client_order_id, exc)
        report.unknown.append(known.client_order_id)
        return
    if eo is not None:
        _seen(books, venue, eo, report)
        report.resolved.append(known.client_order_id)
        return
    change, lost = lookup_not_found(
        count=known.not_found_count, first_at=known.first_not_found_at, now=timezone.now()
    )
    if not lost:
        change.status = Order.Status.UNKNOWN  # the exchange does not know it (yet): look again
    books._note(known.client_order_id, change)
    (report.lost if lost else report.unknown).append(known.client_order_id)


def live_sync(
    books, venue, symbols: list[str], *, since_ms: int | None, source: str, trades: bool = True
) -> SyncReport:
    """Bring the books of one live venue in line with the exchange; write and report.

    With `trades=False` the account's trades are fetched only when an order's filled quantity
    on the exchange is ahead of the fills booked for it (a poll that saw nothing fill is cheap).
    """
    report = SyncReport()
    prefix = books.bot.client_id_prefix
    for symbol in symbols:
        open_ids = _open_orders(books, venue, symbol, prefix, report)
        for known in books.active(venue.name):
            if known.symbol == symbol and known.client_order_id not in open_ids:
                venue.remember_symbol(known.client_order_id, symbol)
                _look_up(books, venue, known, report)
    books.flush()  # orders first: trades are matched by the exchange order ids
    if trades or any(
        k.filled_qty > k.booked_qty for k in books.known.values() if k.exchange == venue.name
    ):
        _trades(books, venue, symbols, since_ms, source, report)
    return report


def _trades(books, venue, symbols, since_ms, source, report: SyncReport) -> None:
    for symbol in symbols:
        trades = venue.fetch_my_trades(symbol, since_ms)
        if trades:
            newest = max(int(t.timestamp) for t in trades)
            report.newest_trade_ms = max(report.newest_trade_ms or 0, newest)
        books.batch.fills.extend(books.live_fill_drafts(venue.name, trades, source))
    result = books.flush()
    if result is not None:
        report.new_fills.extend(result.new_fills)


def trades_since_ms(books) -> int | None:
    """Where a trade poll starts after a restart: a minute before the oldest active order."""
    created = [
        k.created_at
        for k in books.known.values()
        if k.created_at is not None and (k.active or k.filled_qty > k.booked_qty)
    ]
    if not created:
        return int((timezone.now() - timedelta(minutes=10)).timestamp() * 1000)
    return int((min(created) - timedelta(minutes=1)).timestamp() * 1000)
