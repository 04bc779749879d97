"""Per-minute bot performance and the FIFO ledger checkpoint it keeps up to date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.db import transaction
from django.http import Http404

from portfolio.models import BotLedger, BotPerformance
from portfolio.selectors import bot_performance_list, equity_curve
from portfolio.services import (
    bot_ledger_checkpoint,
    bot_performance_prune,
    bot_performance_record,
    bot_performance_record_all,
)
from portfolio.valuation import bot_ledger_progress
from tests.trading.test_events import Listener
from trading.events import bot_group, events_flush, user_group

T0 = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)


def test_snapshot_stores_value_cash_crypto_trades_wins_and_fees(
    alice, make_bot, add_fill, venue, publish_mark
):
    bot = make_bot(alice, venues=[venue])
    add_fill(bot, "buy", "1", "100", fee="0.1")
    add_fill(bot, "buy", "1", "104", fee="0.1")
    add_fill(bot, "sell", "1", "103", fee="0.1")  # closes the 100 lot: +3
    publish_mark(venue, "BTC/USDT", bid="101", ask="103")  # 102

    assert bot_performance_record(bots=[bot], at=T0) == 1
    row = BotPerformance.objects.get(bot=bot)
    assert row.at == T0.replace(second=0)
    assert (row.valuation_asset, row.trades, row.winning_trades) == ("USDT", 3, 1)
    # cash 10000 - 100 - 104 + 103 - 0.3; 1 BTC at 102
    assert (row.cash, row.crypto, row.total_value) == (D("9898.7"), D("102"), D("10000.7"))
    assert (row.realized_pnl, row.unrealized_pnl, row.fees) == (D("3"), D("-2"), D("0.3"))


def test_the_same_minute_is_recorded_once(alice, make_bot, add_fill, venue):
    bot = make_bot(alice, venues=[venue])
    bot_performance_record(bots=[bot], at=T0)
    add_fill(bot, "buy", "1", "100")
    assert bot_performance_record(bots=[bot], at=T0 + timedelta(seconds=20)) == 0
    assert bot_performance_record(bots=[bot], at=T0 + timedelta(seconds=40)) == 1
    assert list(BotPerformance.objects.values_list("trades", flat=True)) == [0, 1]


def test_only_bots_that_can_still_move_are_snapshotted(alice, make_bot, venue):
    running = make_bot(alice, venues=[venue], status="running")
    paused = make_bot(alice, venues=[venue], status="paused")
    make_bot(alice, venues=[venue], status="stopped")
    make_bot(alice, venues=[venue], status="draft")
    assert bot_performance_record_all(at=T0) == 2
    assert set(BotPerformance.objects.values_list("bot_id", flat=True)) == {running.pk, paused.pk}


def test_a_snapshot_tells_the_bots_page_and_owner_after_commit(
    alice, bob, make_bot, venue, django_capture_on_commit_callbacks
):
    bot = make_bot(alice, venues=[venue])
    listeners = [Listener([bot_group(bot.pk)]), Listener([user_group(alice.pk)])]
    bob_listener = Listener([user_group(bob.pk)])
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            bot_performance_record(bots=[bot], at=T0)
        events_flush()
        assert listeners[0].receive(timeout=0.3) is None  # nothing before the commit
        for callback in callbacks:
            callback()
        events_flush()
        row = BotPerformance.objects.get(bot=bot)
        for listener in listeners:
            event = listener.receive()["event"]
            assert (event["kind"], event["bot_id"]) == ("equity", bot.pk)
            data = event["data"]  # the new point only, not the curve
            assert set(data) == {"at", "total_value", "valuation_asset"}
            assert (data["at"], data["valuation_asset"]) == (row.at.isoformat(), "USDT")
            assert D(data["total_value"]) == row.total_value
        assert bob_listener.receive(timeout=0.3) is None
    finally:
        for listener in [*listeners, bob_listener]:
            listener.close()


def test_a_snapshot_rolled_back_sends_nothing(
    alice, make_bot, venue, django_capture_on_commit_callbacks
):
    bot = make_bot(alice, venues=[venue])
    listener = Listener([bot_group(bot.pk)])
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(RuntimeError), transaction.atomic():
                assert bot_performance_record(bots=[bot], at=T0) == 1
                raise RuntimeError("the snapshot's transaction fails")
        assert callbacks == []
        events_flush()
        assert listener.receive(timeout=0.5) is None
        assert not BotPerformance.objects.filter(bot=bot).exists()
    finally:
        listener.close()


def test_checkpoint_applies_only_new_fills_and_matches_a_full_replay(
    alice, make_bot, add_fill, venue
):
    bot = make_bot(alice, venues=[venue])
    add_fill(bot, "buy", "1", "100", minute=1)
    add_fill(bot, "buy", "1", "110", minute=2)
    bot_ledger_checkpoint(bot=bot)
    assert BotLedger.objects.get(bot=bot).fills_applied == 2

    add_fill(bot, "sell", "1.5", "120", minute=3)
    progress = bot_ledger_progress(bot)
    assert progress.fills_applied == 3
    assert progress.ledger.realized == D("20") + D("5")

    # a fill booked late (reconciliation) that executed before the checkpoint: full replay
    add_fill(bot, "sell", "1", "90", minute=0)
    progress = bot_ledger_checkpoint(bot=bot)
    # order by execution: sell 1@90 opens a short; buy 1@100 closes it (-10); buy 1@110 opens;
    # sell 1.5@120 closes 1@110 (+10) and opens a 0.5 short at 120
    assert progress.fills_applied == 4
    assert progress.ledger.realized == D("0")
    assert progress.ledger.books["BTC/USDT"].position == D("-0.5")
    BotLedger.objects.filter(bot=bot).delete()
    assert bot_ledger_progress(bot).ledger.snapshot() == progress.ledger.snapshot()


def test_equity_curve_is_the_owners_only_and_thinned_to_the_points_asked(
    alice, bob, make_bot, venue
):
    bot = make_bot(alice, venues=[venue])
    for minute in range(10):
        BotPerformance.objects.create(
            bot=bot,
            at=T0.replace(second=0) + timedelta(minutes=minute),
            valuation_asset="USDT",
            total_value=D(10000 + minute),
            cash=D(10000),
            crypto=D(minute),
        )
    curve = equity_curve(user=alice, bot_id=bot.pk, points=4)
    assert len(curve) == 4 and curve[0][1] == D(10000) and curve[-1][1] == D(10009)
    since = T0.replace(second=0) + timedelta(minutes=7)
    assert bot_performance_list(user=alice, bot_id=bot.pk, since=since).count() == 3
    with pytest.raises(Http404):
        equity_curve(user=bob, bot_id=bot.pk)
    with pytest.raises(Http404):
        bot_performance_list(user=bob, bot_id="not-a-number")


def test_prune_keeps_hourly_points_past_the_retention(alice, make_bot, venue):
    bot = make_bot(alice, venues=[venue])
    old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=40)
    for minute in (0, 1, 2, 60):
        BotPerformance.objects.create(
            bot=bot,
            at=old + timedelta(minutes=minute),
            valuation_asset="USDT",
            total_value=1,
            cash=1,
            crypto=0,
        )
    assert bot_performance_prune(keep_minutes_days=30) == 2
    assert [row.minute for row in BotPerformance.objects.values_list("at", flat=True)] == [0, 0]


def test_the_snapshot_runs_every_minute_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["portfolio-bot-performance-snapshot"]
    assert entry["task"] == "portfolio.tasks.bot_performance_snapshot_task"
    assert entry["schedule"] == timedelta(seconds=60)
