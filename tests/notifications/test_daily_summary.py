"""The daily summary: yesterday's change per bot, from performance rows, sent once per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from notifications.models import DeliveryLog
from notifications.services import daily_summary_send
from portfolio.models import BotPerformance
from trading.models import Bot

DAY = date(2026, 1, 5)
MIDNIGHT = datetime(2026, 1, 5, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("eager_celery")


def _bot(user, name):
    return Bot.objects.create(
        user=user, name=name, strategy="ema_cross", symbols=["BTC/USDT"], budget=D("1000"),
        status="running",
    )  # fmt: skip


def _row(bot, at, value, realized, fees, trades, wins):
    BotPerformance.objects.create(
        bot=bot, at=at, valuation_asset="USDT", total_value=D(value), cash=D(value), crypto=0,
        realized_pnl=D(realized), fees=D(fees), trades=trades, winning_trades=wins,
    )  # fmt: skip


def test_yesterdays_summary_is_posted_once_with_each_bots_change(
    alice, bob, hook_server, make_channel, django_capture_on_commit_callbacks
):
    make_channel(alice, target=hook_server.url(), events=["daily_summary"])
    make_channel(bob, target=hook_server.url(path="/bob"), events=["fill"])  # not subscribed
    ema = _bot(alice, "ema-btc")
    _row(ema, MIDNIGHT - timedelta(minutes=1), "1000", "0", "0", 4, 2)  # the day before
    _row(ema, MIDNIGHT + timedelta(hours=9), "1010", "8", "1", 10, 5)
    _row(ema, MIDNIGHT + timedelta(hours=23, minutes=59), "1012.5", "11", "1.5", 12, 6)
    _row(ema, MIDNIGHT + timedelta(days=1, minutes=1), "2000", "99", "9", 99, 9)  # next day
    idle = _bot(alice, "idle")
    _row(idle, MIDNIGHT - timedelta(days=3), "500", "0", "0", 0, 0)  # nothing that day
    bob_bot = _bot(bob, "bob-bot")
    _row(bob_bot, MIDNIGHT + timedelta(hours=1), "700", "0", "0", 1, 0)

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            daily_summary_send(day=DAY)

    assert [r.path for r in hook_server.received] == ["/hook"]
    payload = hook_server.received[0].json()
    assert payload["title"] == "Peregrine daily summary 2026-01-05"
    body = payload["message"]
    assert "- ema-btc (running): value 1,012.50 USDT (+12.50), realized +11.00, fees 1.50, " in body
    assert "8 trades (4 winning)" in body
    assert "idle" not in body and "bob-bot" not in body
    assert "Total: 1,012.50 USDT (+12.50 today)" in body
    assert DeliveryLog.objects.get().event == "daily_summary"


def test_summary_runs_from_beat_after_midnight():
    from celery.schedules import crontab
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["notifications-daily-summary"]
    assert entry["task"] == "notifications.tasks.daily_summary_task"
    assert entry["schedule"] == crontab(hour=0, minute=5)
