"""Notification tasks (default queue): deliver one message, prune the delivery log."""

from __future__ import annotations

import random

from celery import shared_task
from django.conf import settings

from notifications.services import delivery_log_prune, notification_deliver


def _backoff(retries: int) -> float:
    """Exponential backoff with jitter: base, 2x, 4x… capped at an hour."""
    base = settings.PEREGRINE_NOTIFY_RETRY_BASE_SECONDS
    return min(base * 2**retries, 3600) * random.uniform(0.8, 1.2)


@shared_task(bind=True, name="notifications.tasks.notification_deliver_task", max_retries=None)
def notification_deliver_task(self, delivery_id: int) -> None:
    """Deliver one logged notification; transient errors come back later with backoff."""
    final = self.request.retries >= settings.PEREGRINE_NOTIFY_MAX_RETRIES
    if notification_deliver(delivery_id=delivery_id, final_attempt=final):
        raise self.retry(countdown=_backoff(self.request.retries))


@shared_task(name="notifications.tasks.delivery_log_prune_task", ignore_result=True)
def delivery_log_prune_task() -> int:
    """Keep the delivery log to its retention window."""
    return delivery_log_prune(older_than_days=settings.PEREGRINE_NOTIFY_LOG_RETENTION_DAYS)


@shared_task(name="notifications.tasks.daily_summary_task", ignore_result=True)
def daily_summary_task(day: str | None = None) -> int:
    """Send yesterday's (UTC) summary to subscribed users; `day` (YYYY-MM-DD) to resend one."""
    from datetime import UTC, date, datetime, timedelta

    from notifications.services import daily_summary_send

    target = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=1)
    return daily_summary_send(day=target)


@shared_task(name="notifications.tasks.arbitrage_scan_task", ignore_result=True)
def arbitrage_scan_task() -> int:
    """Look for cross-venue spreads in the collected markets and tell subscribers."""
    from notifications.services import arbitrage_scan_notify

    return arbitrage_scan_notify()
