"""Writes of the portfolio: ledger checkpoints, per-minute bot performance, exchange balances."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from portfolio.models import BotLedger, BotPerformance, ExchangeBalance
from portfolio.valuation import LedgerProgress, bot_ledger_progress, bots_valuation
from trading.events import bot_event_publish

logger = logging.getLogger(__name__)

# Bots whose value can still change with the market: they get a snapshot every minute.
SNAPSHOT_STATUSES = ("starting", "running", "paused", "stopping")


def bot_ledger_checkpoint(*, bot) -> LedgerProgress:
    """Bring the bot's FIFO ledger up to its latest fill and store where it stands."""
    with transaction.atomic():
        checkpoint, _ = BotLedger.objects.select_for_update().get_or_create(bot_id=bot.pk)
        progress = bot_ledger_progress(bot)
        checkpoint.state = progress.state()
        checkpoint.fills_applied = progress.fills_applied
        checkpoint.last_executed_at = progress.last_executed_at
        checkpoint.last_fill_id = progress.last_fill_id
        checkpoint.save()
    return progress


def bot_performance_record(*, bots, at: datetime | None = None) -> int:
    """Store one performance row per bot for the minute of `at` (once: reruns change nothing)."""
    bots = list(bots)
    if not bots:
        return 0
    minute = (at or timezone.now()).replace(second=0, microsecond=0)
    done = set(
        BotPerformance.objects.filter(at=minute, bot_id__in=[bot.pk for bot in bots]).values_list(
            "bot_id", flat=True
        )
    )
    bots = [bot for bot in bots if bot.pk not in done]
    if not bots:
        return 0
    progresses = {bot.pk: bot_ledger_checkpoint(bot=bot) for bot in bots}
    values = bots_valuation(bots, progresses=progresses)
    rows = [
        BotPerformance(
            bot_id=bot_id,
            at=minute,
            valuation_asset=value.valuation_asset,
            total_value=value.total_value,
            cash=value.cash,
            crypto=value.crypto,
            realized_pnl=value.realized_pnl,
            unrealized_pnl=value.unrealized_pnl,
            fees=value.fees,
            trades=value.trades,
            winning_trades=value.winning_trades,
        )
        for bot_id, value in values.items()
    ]
    with transaction.atomic():
        # a concurrent run that wrote the same minute wins; this one's rows are dropped (its
        # events still go out: the minute is stored either way, and a redraw is harmless)
        BotPerformance.objects.bulk_create(rows, ignore_conflicts=True)
        by_id = {bot.pk: bot for bot in bots}
        for row in rows:
            _bot_equity_publish(bot=by_id[row.bot_id], row=row)
    return len(rows)


def _bot_equity_publish(*, bot, row: BotPerformance) -> None:
    """Tell the bot's page that its equity curve has a new point (after commit)."""
    data = {
        "at": row.at.isoformat(),
        "total_value": str(row.total_value),
        "valuation_asset": row.valuation_asset,
    }
    bot_event_publish(bot=bot, kind="equity", data=data)


def bot_performance_record_all(*, at: datetime | None = None) -> int:
    """Snapshot every bot that is trading, paused or on its way up or down."""
    from trading.models import Bot

    bots = (
        Bot.objects.filter(status__in=SNAPSHOT_STATUSES).prefetch_related("venues").order_by("pk")
    )
    return bot_performance_record(bots=bots, at=at)


def bot_performance_prune(*, keep_minutes_days: int) -> int:
    """Thin snapshots older than the retention to one per hour; the number deleted."""
    cutoff = timezone.now() - timedelta(days=keep_minutes_days)
    deleted, _ = BotPerformance.objects.filter(at__lt=cutoff).exclude(at__minute=0).delete()
    return deleted


def exchange_balances_refresh(*, account) -> list[ExchangeBalance]:
    """Ask the exchange for the account's balances and store them (assets at zero dropped)."""
    from exchanges.gateway.accounts import gateway_for_account

    async def fetch():
        gateway = gateway_for_account(account)
        try:
            return await gateway.fetch_balance()
        finally:
            await gateway.close()

    lines = async_to_sync(fetch)()
    now = timezone.now()
    held = {asset: line for asset, line in lines.items() if line.total != 0}
    with transaction.atomic():
        ExchangeBalance.objects.filter(account_id=account.pk).exclude(asset__in=held).delete()
        for asset, line in held.items():
            ExchangeBalance.objects.update_or_create(
                account_id=account.pk,
                asset=asset,
                defaults={
                    "free": line.free,
                    "used": line.used,
                    "total": line.total,
                    "fetched_at": now,
                },
            )
    return list(ExchangeBalance.objects.filter(account_id=account.pk))


def exchange_balances_refresh_all() -> dict[str, int]:
    """Refresh the balances of every active account a trading bot uses; errors are counted."""
    from exchanges.models import ExchangeAccount

    accounts = ExchangeAccount.objects.filter(
        status=ExchangeAccount.Status.ACTIVE,
        bot_venues__bot__status__in=SNAPSHOT_STATUSES,
    ).distinct()
    counts = {"refreshed": 0, "failed": 0}
    for account in accounts:
        try:
            exchange_balances_refresh(account=account)
        except Exception as exc:  # one exchange down must not stop the others
            logger.warning("balances of exchange account %s not refreshed: %s", account.pk, exc)
            counts["failed"] += 1
        else:
            counts["refreshed"] += 1
    return counts
