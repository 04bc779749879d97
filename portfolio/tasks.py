"""Portfolio tasks (default queue): per-minute bot performance, balances, retention."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from portfolio import services


@shared_task(name="portfolio.tasks.bot_performance_snapshot_task", ignore_result=True)
def bot_performance_snapshot_task() -> int:
    """Store this minute's performance row for every trading bot."""
    return services.bot_performance_record_all()


@shared_task(name="portfolio.tasks.exchange_balances_refresh_task", ignore_result=True)
def exchange_balances_refresh_task() -> dict:
    """Refresh the exchange balances of accounts that trading bots use."""
    return services.exchange_balances_refresh_all()


@shared_task(name="portfolio.tasks.bot_performance_prune_task", ignore_result=True)
def bot_performance_prune_task() -> int:
    """Keep minute snapshots for the retention window, hourly ones after."""
    return services.bot_performance_prune(
        keep_minutes_days=settings.PEREGRINE_PERFORMANCE_MINUTE_RETENTION_DAYS
    )
