"""Bot services: validation with field errors, the state machine, live gating, supervisor."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from tests.trading.conftest import LIVE_OK, VENUE_A
from trading.models import Bot, BotEvent, BotLease, KillSwitch, Order
from trading.services.bots import (
    LiveConsent,
    bot_kill,
    bot_lease_release,
    bot_pause,
    bot_resume,
    bot_start,
    bot_stop,
    bot_supervise,
    bot_update,
)
from trading.services.risk import kill_switch_engage, kill_switch_release


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.message_dict


def test_create_refuses_bad_input_field_by_field_and_saves_nothing(alice, make_bot):
    errors = _errors(
        lambda: make_bot(
            alice,
            name="",
            params={"bid_spread": "abc", "bogus": 1},
            symbols=["btcusdt"],
            venues=["nowhere"],
            budget="-5",
            risk_limits={"max_drawdown_fraction": "2", "nope": 1},
            on_breach="explode",
        )
    )
    assert set(errors) >= {
        "name",
        "params.bid_spread",
        "params.bogus",
        "symbols",
        "venues.0",
        "budget",
        "risk_limits.max_drawdown_fraction",
        "risk_limits.nope",
        "on_breach",
    }
    assert not Bot.objects.exists()


def test_a_market_name_without_a_quote_is_an_error_even_with_default_paper_balances(
    alice, make_bot
):
    errors = _errors(lambda: make_bot(alice, symbols=["bitcoin"], paper_balances=None))
    assert "BASE/QUOTE" in errors["symbols"][0]
    assert not Bot.objects.exists()


def test_multi_venue_strategy_must_name_the_bots_venues(alice, make_bot, sandbox_url):
    from tests.trading.conftest import VENUE_B

    errors = _errors(
        lambda: make_bot(
            alice,
            strategy="cross_exchange_market_making",
            params={"maker_venue": VENUE_A, "taker_venue": "elsewhere"},
            venues=[VENUE_A, VENUE_B],
            paper_balances=None,
        )
    )
    assert "params.taker_venue" in errors
    bot = make_bot(
        alice,
        strategy="cross_exchange_market_making",
        params={"maker_venue": VENUE_A, "taker_venue": VENUE_B},
        venues=[VENUE_A, VENUE_B],
        paper_balances=None,
    )
    assert [v.exchange for v in bot.venues.all()] == [VENUE_A, VENUE_B]
    assert bot.paper_balances == {VENUE_A: {"USDT": "10000"}, VENUE_B: {"USDT": "10000"}}


def test_state_machine_start_pause_resume_stop(alice, make_bot):
    bot = make_bot(alice)
    assert bot.status == Bot.Status.DRAFT
    assert "status" in _errors(lambda: bot_pause(bot=bot))
    bot = bot_start(bot=bot)
    assert bot.status == Bot.Status.STARTING and bot.dispatched_at is not None
    assert "status" in _errors(lambda: bot_start(bot=bot))
    bot = bot_pause(bot=bot, reason="coffee")
    assert (bot.status, bot.status_reason) == (Bot.Status.PAUSED, "coffee")
    assert "status" in _errors(lambda: bot_pause(bot=bot))
    bot = bot_resume(bot=bot)
    assert bot.status == Bot.Status.STARTING
    bot = bot_stop(bot=bot)
    assert bot.status == Bot.Status.STOPPED  # no runner, no orders: stopped at once
    statuses = list(
        BotEvent.objects.filter(bot=bot, kind="status")
        .order_by("at", "id")
        .values_list("data__status", flat=True)
    )
    assert statuses == ["starting", "paused", "starting", "stopped"]


def test_stop_with_orders_left_waits_for_a_runner_to_cancel_them(alice, make_bot):
    bot = bot_start(bot=make_bot(alice))
    Order.objects.create(
        bot=bot, user=alice, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"{bot.client_id_prefix}1-1", side="buy", type="limit", qty=1,
        price=1, status="open",
    )  # fmt: skip
    bot = bot_stop(bot=bot)
    assert bot.status == Bot.Status.STOPPING


def test_a_start_or_stop_while_the_runner_lets_go_still_gets_a_runner(
    alice, make_bot, monkeypatch, django_capture_on_commit_callbacks
):
    """Their slice found the lease still held by the runner winding down, and ended there."""
    sent = []
    monkeypatch.setattr(
        "trading.tasks.bot_run_slice_task.apply_async", lambda args, queue: sent.append(args)
    )
    bot = make_bot(alice)
    held = timezone.now() + timedelta(seconds=9)
    BotLease.objects.create(bot=bot, token=4, holder="worker:1", expires_at=held)
    for before, change, status in (
        ("stopped", bot_start, "starting"),
        ("starting", bot_stop, "stopping"),
    ):
        Bot.objects.filter(pk=bot.pk).update(status=before)
        BotLease.objects.filter(bot=bot).update(expires_at=held)
        with django_capture_on_commit_callbacks(execute=True):
            assert change(bot=Bot.objects.get(pk=bot.pk)).status == status
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            assert bot_lease_release(bot_id=bot.pk, token=4)
        assert sent == [(bot.pk,)]  # a slice of its own, now that the lease is free
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.STOPPED)
    sent.clear()
    BotLease.objects.filter(bot=bot).update(expires_at=held)
    with django_capture_on_commit_callbacks(execute=True):
        assert bot_lease_release(bot_id=bot.pk, token=4)
        assert not bot_lease_release(bot_id=bot.pk, token=3)  # not this runner's lease
    assert sent == []  # a stopped bot is simply let go


def test_running_bots_cannot_be_reconfigured(alice, make_bot):
    bot = bot_start(bot=make_bot(alice))
    assert "status" in _errors(lambda: bot_update(bot=bot, params={"order_amount": "1"}))
    bot = bot_update(bot=bot, risk_limits={"max_drawdown_fraction": "0.1"})
    assert bot.risk_limits == {"max_drawdown_fraction": "0.1"}


def test_kill_fences_the_runner_and_cancels_paper_orders(alice, make_bot):
    bot = bot_start(bot=make_bot(alice))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO trading_botlease (bot_id, token, holder, expires_at) "
            "VALUES (%s, 4, 'w1', now() + interval '1 minute')",
            [bot.pk],
        )
    order = Order.objects.create(
        bot=bot, user=alice, mode="paper", exchange=VENUE_A, symbol="BTC/USDT",
        client_order_id=f"{bot.client_id_prefix}4-1", side="buy", type="limit", qty=1,
        price=1, status="open",
    )  # fmt: skip
    assert bot_kill(bot=bot, reason="panic") == 1
    bot.refresh_from_db()
    order.refresh_from_db()
    assert bot.status == Bot.Status.STOPPED and bot.status_reason == "Killed: panic"
    assert order.status == Order.Status.CANCELLED
    lease = BotLease.objects.get(bot=bot)
    assert lease.token == 5 and lease.expires_at is None


# -- live gating --------------------------------------------------------------------------
def test_live_needs_2fa_recent_auth_confirmation_and_a_live_account(
    alice, make_bot, live_account, alice_totp
):
    account = live_account(alice)
    venues = [{"exchange_account_id": account.pk}]

    def live(**consent):
        return lambda: make_bot(alice, mode="live", venues=venues, live=LiveConsent(**consent))

    assert "mode" in _errors(live(recently_authenticated=True, confirmed=True))
    assert "mode" in _errors(live(second_factor_verified=True, confirmed=True))
    assert "confirm_live" in _errors(live(second_factor_verified=True, recently_authenticated=True))
    bot = live(**LIVE_OK)()
    assert bot.is_live
    # starting it again needs the same proof
    assert "mode" in _errors(lambda: bot_start(bot=bot))
    assert bot_start(bot=bot, live=LiveConsent(**LIVE_OK)).status == Bot.Status.STARTING


def test_live_without_2fa_enrolled_is_refused_even_with_every_flag(alice, make_bot, live_account):
    account = live_account(alice)
    errors = _errors(
        lambda: make_bot(
            alice,
            mode="live",
            venues=[{"exchange_account_id": account.pk}],
            live=LiveConsent(**LIVE_OK),
        )
    )
    assert "two-factor" in errors["mode"][0]


def test_live_refuses_a_paper_account_or_no_account(alice, bob, make_bot, alice_totp):
    from exchanges.services.credentials import exchange_account_create

    paper = exchange_account_create(
        user=alice, exchange=VENUE_A, label="paper", mode="paper",
        api_key="k" * 16, secret="s" * 16,
    )  # fmt: skip
    consent = LiveConsent(**LIVE_OK)
    errors = _errors(
        lambda: make_bot(
            alice, mode="live", venues=[{"exchange_account_id": paper.pk}], live=consent
        )
    )
    assert "venues" in errors
    assert "venues.0" in _errors(lambda: make_bot(alice, mode="live", live=consent))
    bobs = exchange_account_create(
        user=bob, exchange=VENUE_A, label="b", mode="live", api_key="b" * 16, secret="s" * 16
    )
    errors = _errors(
        lambda: make_bot(alice, mode="live", venues=[{"exchange_account_id": bobs.pk}])
    )
    assert errors["venues.0"] == ["No such exchange account."]


def test_paper_is_the_default_and_needs_no_proof(alice, make_bot):
    bot = make_bot(alice)
    assert bot.mode == Bot.Mode.PAPER
    assert bot_start(bot=bot).status == Bot.Status.STARTING


# -- kill switches ------------------------------------------------------------------------
def test_user_kill_switch_stops_every_bot_and_blocks_starts_until_released(alice, bob, make_bot):
    running = bot_start(bot=make_bot(alice))
    draft = make_bot(alice)
    bobs = bot_start(bot=make_bot(bob))
    switch = kill_switch_engage(user=alice, reason="market crash", actor=alice)
    running.refresh_from_db()
    bobs.refresh_from_db()
    assert running.status == Bot.Status.STOPPED and "market crash" in running.status_reason
    assert bobs.status == Bot.Status.STARTING  # bob is not covered
    assert switch.bots_stopped == 2
    assert "status" in _errors(lambda: bot_start(bot=draft))
    kill_switch_release(switch=switch, actor=alice)
    assert bot_start(bot=draft).status == Bot.Status.STARTING


def test_global_kill_switch_covers_everyone(alice, bob, make_bot):
    a = bot_start(bot=make_bot(alice))
    b = bot_start(bot=make_bot(bob))
    switch = kill_switch_engage(reason="exchange hacked")
    for bot in (a, b):
        bot.refresh_from_db()
        assert bot.status == Bot.Status.STOPPED
    assert KillSwitch.objects.get(pk=switch.pk).user is None
    errors = _errors(lambda: bot_start(bot=b))
    assert "for everyone" in errors["status"][0]


# -- supervisor ---------------------------------------------------------------------------
def _orphan(bot, seconds_ago=60):
    past = timezone.now() - timedelta(seconds=seconds_ago)
    Bot.objects.filter(pk=bot.pk).update(status=Bot.Status.RUNNING, dispatched_at=past)
    BotLease.objects.update_or_create(bot=bot, defaults={"token": 3, "expires_at": past})


def test_supervisor_resumes_a_running_bot_whose_lease_expired(alice, make_bot):
    bot = make_bot(alice)
    _orphan(bot)
    live = make_bot(alice)
    Bot.objects.filter(pk=live.pk).update(status=Bot.Status.RUNNING)
    BotLease.objects.create(bot=live, token=1, expires_at=timezone.now() + timedelta(seconds=9))
    result = bot_supervise()
    assert result == {"restarted": [bot.pk], "failed": []}
    bot.refresh_from_db()
    assert bot.dispatched_at > timezone.now() - timedelta(seconds=5)
    assert BotEvent.objects.filter(bot=bot, kind="restart").count() == 1
    assert bot_supervise() == {"restarted": [], "failed": []}  # just dispatched: it gets time


def test_supervisor_gives_up_after_three_restarts_in_an_hour(
    alice, make_bot, monkeypatch, django_capture_on_commit_callbacks
):
    told = []
    monkeypatch.setattr(
        "trading.events._notify_function", lambda: lambda **kw: told.append(kw["event"])
    )
    bot = make_bot(alice)
    for _ in range(3):
        _orphan(bot)
        assert bot_supervise()["restarted"] == [bot.pk]
    _orphan(bot)
    with django_capture_on_commit_callbacks(execute=True):
        assert bot_supervise()["failed"] == [bot.pk]
    bot.refresh_from_db()
    assert bot.status == Bot.Status.ERROR
    assert "automatic restarts stop after 3" in bot.status_reason
    assert told == ["bot_error"]  # the owner is told


def test_restarts_older_than_an_hour_do_not_count(alice, make_bot):
    bot = make_bot(alice)
    for _ in range(3):
        _orphan(bot)
        bot_supervise()
    BotEvent.objects.filter(bot=bot, kind="restart").update(
        at=timezone.now() - timedelta(minutes=61)
    )
    _orphan(bot)
    assert bot_supervise()["restarted"] == [bot.pk]
