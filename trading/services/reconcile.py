"""The books' side of reconciliation: a paper bot's funds from its books, fill counts, and
cancelling every order of a killed paper bot.

The live reconciliation with an exchange lives in the runtime (trading.runtime.reconcile).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Sum

from portfolio.valuation import bots_holdings
from tradecore.domain import OrderStatus
from trading.models import Bot, Fill, Order
from trading.services.orders import Batch, OrderChange, bot_books_write


# -- paper -----------------------------------------------------------------------------------
def paper_balances(bot: Bot) -> dict[str, dict[str, Decimal]]:
    """Starting paper funds plus every booked fill, per venue and asset: the portfolio's
    holdings of the bot (portfolio.valuation, one computation for risk, reconciliation and the
    portfolio pages)."""
    balances: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (exchange, asset), amount in bots_holdings([bot])[bot.pk].items():
        balances[exchange][asset] = amount
    return dict(balances)


def fill_counts(bot_id: int, order_ids: list[int]) -> dict[int, tuple[int, Decimal]]:
    """Per order: how many fills are booked and their total quantity."""
    rows = (
        Fill.objects.filter(bot_id=bot_id, order_id__in=order_ids)
        .values("order_id")
        .annotate(n=Count("id"), qty=Sum("qty"))
        .values_list("order_id", "n", "qty")
    )
    return {order_id: (n, qty) for order_id, n, qty in rows}


# -- cancelling everything (kill) ------------------------------------------------------------
def paper_orders_cancel_all(*, bot: Bot, reason: str) -> int:
    """Cancel every active order of a killed paper bot in the books; return how many.

    Runs outside the lease (the kill revoked it first): once the runner is fenced out, paper
    orders exist only in the books. (A live bot's are cancelled on the exchange by the
    runtime's cancel task, a manual bot's by the trading panel's own session.)
    """
    if bot.mode != Bot.Mode.PAPER:
        raise ValueError(f"bot {bot.pk} is not a paper bot")
    return _paper_cancel_all(bot, reason)


def _paper_cancel_all(bot: Bot, reason: str) -> int:
    batch = Batch()
    for order in Order.objects.filter(bot_id=bot.pk, status__in=Order.ACTIVE):
        batch.change(
            order.client_order_id,
            OrderChange(status=OrderStatus.CANCELLED.value, reason=reason[:500]),
        )
    if batch:
        bot_books_write(bot=bot, token=None, batch=batch)
    return len(batch.order_changes)
