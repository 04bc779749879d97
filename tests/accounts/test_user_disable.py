"""Disabling a user in the admin stops their bots for real, revokes their API tokens and ends
their sessions; enabling them again lets them back in (bots stay stopped)."""

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, UserSession
from compliance.models import AuditEvent
from tests.conftest import wait_until
from tests.trading.conftest import MM_PARAMS
from trading.models import Bot, BotLease, KillSwitch, Order
from trading.runtime.runner import BotRunner
from trading.services.bots import bot_start


@pytest.fixture
def operator_client(db, django_user_model):
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = django_user_model.objects.create_superuser(
        email="ops@example.com", password="x" * 20
    )
    device = TOTPDevice.objects.create(user=operator, name="ops", confirmed=True)
    client = Client()
    client.force_login(operator)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def _signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    assert browser.get(reverse("accounts:security")).status_code == 200  # session now tracked
    return browser


def _running_bot(alice, make_bot, settings):
    settings.PEREGRINE_BOT_SLICE_SECONDS = 60
    bot = make_bot(alice, params={**MM_PARAMS, "order_refresh_time_ms": 60_000})
    bot_start(bot=bot)
    result = {}

    def run():
        try:
            result["outcome"] = BotRunner(bot.pk).run()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    return bot, thread, result


@pytest.mark.django_db(transaction=True)
def test_admin_action_stops_a_running_bot_revokes_tokens_and_ends_sessions(
    alice, bob, make_bot, feeder, settings, operator_client, api_token_for
):
    raw = api_token_for(alice, "trade")
    bobs_raw = api_token_for(bob, "read")
    me = reverse("accounts-api-me")
    assert Client().get(me, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    browser, bobs_browser = _signed_in(alice), _signed_in(bob)
    bot, thread, result = _running_bot(alice, make_bot, settings)
    with feeder():
        thread.start()
        wait_until(
            lambda: Order.objects.filter(bot=bot, status__in=Order.ACTIVE).count() >= 2,
            timeout=30,
            what="the bot's quotes",
        )
        response = operator_client.post(
            reverse("admin:accounts_user_changelist"),
            {"action": "disable_users", "_selected_action": [alice.pk]},
        )
        thread.join(60)
    assert response.status_code == 302
    assert not thread.is_alive() and result["outcome"] != "continued"
    bot.refresh_from_db()
    alice.refresh_from_db()
    assert not alice.is_active
    assert bot.status == Bot.Status.STOPPED and "disabled by an operator" in bot.status_reason
    assert not Order.objects.filter(bot=bot, status__in=Order.ACTIVE).exists()
    assert BotLease.objects.get(bot=bot).expires_at is None
    # the token answers 401, the session is gone
    assert Client().get(me, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert not ApiToken.objects.filter(user=alice, revoked_at__isnull=True).exists()
    page = browser.get(reverse("accounts:security"))
    assert page.status_code == 302 and "login" in page.url
    assert not UserSession.objects.filter(user=alice).exists()
    # bob is untouched
    assert Client().get(me, HTTP_AUTHORIZATION=f"Bearer {bobs_raw}").status_code == 200
    assert bobs_browser.get(reverse("accounts:security")).status_code == 200
    event = AuditEvent.objects.get(action="user.disable")
    assert event.target_id == str(alice.pk) and event.actor_email == "ops@example.com"
    assert event.after["bots_stopped"] == 1 and event.after["tokens_revoked"] == 1


def test_unticking_is_active_in_the_change_form_disables_for_real(
    alice, make_bot, operator_client, api_token_for
):
    raw = api_token_for(alice, "read")
    browser = _signed_in(alice)
    bot = make_bot(alice)
    bot_start(bot=bot)
    url = reverse("admin:accounts_user_change", args=[alice.pk])
    form = {
        "email": alice.email, "first_name": "Alice", "last_name": "", "is_active": "",
        "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
    }  # fmt: skip
    response = operator_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    alice.refresh_from_db()
    bot.refresh_from_db()
    assert not alice.is_active and alice.first_name == "Alice"
    assert bot.status == Bot.Status.STOPPED
    assert (
        Client().get(reverse("accounts-api-me"), HTTP_AUTHORIZATION=f"Bearer {raw}").status_code
        == 401
    )
    assert browser.get(reverse("accounts:security")).status_code == 302
    # no bot of hers may start while she is disabled
    assert KillSwitch.objects.filter(user=alice, released_at__isnull=True).exists()
    # enabling again: she can sign in, her bots may start again (they stay stopped)
    response = operator_client.post(url, {**form, "is_active": "on"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.is_active
    assert not KillSwitch.objects.filter(user=alice, released_at__isnull=True).exists()
    assert bot_start(bot=bot).status == Bot.Status.STARTING
    assert [e.action for e in AuditEvent.objects.filter(target_id=str(alice.pk)).order_by("seq")
            if e.action.startswith("user.")] == ["user.disable", "user.enable"]  # fmt: skip


def test_an_operator_cannot_disable_themselves_with_the_action(operator_client, django_user_model):
    operator = django_user_model.objects.get(email="ops@example.com")
    operator_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "disable_users", "_selected_action": [operator.pk]},
    )
    operator.refresh_from_db()
    assert operator.is_active
