"""Risk sweep breaches (per bot and per user), the runner's guards, kill switches on exchanges."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exchanges.gateway.clients import sync_client
from tests.trading.conftest import LIVE_OK, VENUE_A
from trading.models import Bot, BotEvent, BotLease, Order, UserRiskLimits
from trading.runtime.runner import BotRunner
from trading.services.bots import LiveConsent, bot_create, bot_start
from trading.services.risk import bots_value, kill_switch_engage, risk_sweep


@pytest.fixture
def told(monkeypatch):
    sent = []
    monkeypatch.setattr(
        "trading.events._notify_function",
        lambda: lambda **kw: sent.append((kw["user"].email, kw["event"])),
    )
    return sent


def _running(bot, **fields):
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.RUNNING, **fields)
    bot.refresh_from_db()
    return bot


@pytest.fixture
def marked(market):
    """BTC at 30,000 on this run's first venue (what the collectors' ticker would say)."""
    market.book(VENUE_A, "BTC/USDT", 29_999, 30_001)
    return market


def test_bots_are_valued_from_their_books_at_the_latest_mark(alice, make_bot, marked):
    bot = make_bot(alice)  # paper funds: 10,000 USDT and 0.1 BTC
    value = bots_value([bot])[bot.pk]
    assert value.equity == Decimal("13000") and value.exposure == Decimal("3000")


def test_exposure_breach_pauses_the_bot_and_tells_the_owner(
    alice, make_bot, marked, told, django_capture_on_commit_callbacks
):
    bot = _running(make_bot(alice, risk_limits={"max_exposure_fraction": "0.1"}))
    with django_capture_on_commit_callbacks(execute=True):
        result = risk_sweep()
    assert result["breaches"] == [(bot.pk, "exposure", "paused")]
    bot.refresh_from_db()
    assert bot.status == Bot.Status.PAUSED and "exposure" in bot.status_reason
    assert BotEvent.objects.filter(bot=bot, kind="risk").exists()
    assert ("alice@example.com", "risk_breach") in told


def test_drawdown_breach_kills_when_configured(alice, make_bot, marked):
    bot = _running(
        make_bot(alice, risk_limits={"max_drawdown_fraction": "0.2"}, on_breach="kill"),
        peak_equity=Decimal("20000"),
    )
    Order.objects.create(
        bot=bot, user=alice, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"{bot.client_id_prefix}1-1", side="buy", type="limit", qty=1,
        price=1, status="open",
    )  # fmt: skip
    assert risk_sweep()["breaches"] == [(bot.pk, "drawdown", "killed")]
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED and "drawdown" in bot.status_reason
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    assert BotLease.objects.get(bot=bot).expires_at is None


def test_daily_loss_breach_counts_from_the_days_first_equity(alice, make_bot, marked):
    today = timezone.now().date()
    bot = _running(
        make_bot(alice, risk_limits={"daily_loss_limit": "500"}),
        day_start_equity=Decimal("14000"),
        risk_day=today,
    )
    assert risk_sweep()["breaches"] == [(bot.pk, "daily_loss", "paused")]
    # a new day starts from the equity of its first sweep: no breach
    other = _running(
        make_bot(alice, risk_limits={"daily_loss_limit": "500"}),
        day_start_equity=Decimal("14000"),
        risk_day=today - timedelta(days=1),
    )
    assert risk_sweep()["breaches"] == []
    other.refresh_from_db()
    assert other.day_start_equity == Decimal("13000") and other.risk_day == today


def test_within_limits_nothing_happens_and_the_peak_is_tracked(alice, make_bot, marked):
    bot = _running(make_bot(alice, risk_limits={"max_drawdown_fraction": "0.5"}))
    assert risk_sweep()["breaches"] == []
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING and bot.peak_equity == Decimal("13000")


def test_a_bot_without_a_mark_is_not_judged_on_a_made_up_value(alice, make_bot, market):
    market.clear(VENUE_A, "BTC/USDT")
    bot = _running(
        make_bot(alice, risk_limits={"max_drawdown_fraction": "0.1"}),
        peak_equity=Decimal("20000"),
    )
    assert bots_value([bot])[bot.pk].unpriced == [f"{VENUE_A}:BTC"]
    assert risk_sweep()["breaches"] == []
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.RUNNING


def test_user_limits_cover_all_their_bots(alice, bob, make_bot, marked):
    UserRiskLimits.objects.create(user=alice, max_exposure=Decimal("5000"), on_breach="pause")
    first, second = _running(make_bot(alice)), _running(make_bot(alice))
    bobs = _running(make_bot(bob))
    result = risk_sweep()
    assert sorted(b for b, rule, _ in result["breaches"]) == sorted([first.pk, second.pk])
    assert {rule for _, rule, _ in result["breaches"]} == {"user_exposure"}
    assert Bot.objects.get(pk=bobs.pk).status == Bot.Status.RUNNING


def test_the_runners_own_guard_halts_on_a_daily_loss(alice, make_bot, feeder):
    bot = make_bot(alice, risk_limits={"daily_loss_limit": "0.01"},
                   params={"order_amount": "0.001", "order_refresh_time_ms": 60_000})  # fmt: skip
    bot_start(bot=bot)
    with feeder(step=-25.0, wave=False):  # the market only falls: the 0.1 BTC held loses value
        for _ in range(60):  # slices until the guard halts it (a hang guard, not a time budget)
            outcome = BotRunner(bot.pk).run()
            bot.refresh_from_db()
            if bot.status != Bot.Status.RUNNING:
                break
    assert bot.status == Bot.Status.PAUSED, (outcome, bot.status_reason)
    assert "daily_loss" in bot.status_reason
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()


def test_kill_switch_cancels_live_orders_on_the_exchange(
    alice,
    alice_totp,
    live_account,
    sandbox,
    market,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    account = live_account(alice, funds={"USDT": "100000", "BTC": "0.1"})
    consent = LiveConsent(**LIVE_OK)
    bot = bot_create(
        user=alice, name="live-killed", strategy="pure_market_making",
        params={"order_amount": "0.01", "order_refresh_time_ms": 60_000}, symbols=["BTC/USDT"],
        venues=[{"exchange_account_id": account.pk}], budget="10000", mode="live", live=consent,
    )  # fmt: skip
    bot_start(bot=bot, live=consent)
    book = sandbox[0].venues[VENUE_A].symbols["BTC/USDT"].book
    market.book(VENUE_A, "BTC/USDT", book.best_bid()[0] - 50, book.best_ask()[0] + 50)
    assert BotRunner(bot.pk).run() == "continued"
    client = sync_client(VENUE_A, api_key=account.sandbox.api_key, secret=account.sandbox.secret,
                         sandbox_url=account.sandbox.base_url)  # fmt: skip
    assert len(client.fetch_open_orders("BTC/USDT")) == 2
    with django_capture_on_commit_callbacks(execute=True):  # the cancel task runs (eager)
        switch = kill_switch_engage(user=alice, reason="flash crash", actor=alice)
    assert switch.bots_stopped == 1 and switch.orders_cancelled == 2
    assert client.fetch_open_orders("BTC/USDT") == []
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    bot.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED
    # and its runner, were it still alive, is fenced out
    assert BotRunner(bot.pk).run() == "idle"
    assert threading.active_count() > 0
