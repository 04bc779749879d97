"""Operators: the global kill switch and bot actions in the admin (OTP-verified operators only)."""

import pytest
from django.urls import reverse

from trading.models import Bot, KillSwitch
from trading.services.bots import bot_start


@pytest.fixture
def operator_client(django_user_model, client, totp_code):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = django_user_model.objects.create_superuser(email="op@example.com", password="x" * 12)
    device = TOTPDevice.objects.create(user=operator, name="app", confirmed=True)
    client.force_login(operator)
    client.post(reverse("accounts:otp-verify"), {"code": totp_code(device)})
    client.operator = operator
    return client


def test_an_operator_engages_the_global_kill_switch_and_releases_it(
    operator_client, alice, bob, make_bot
):
    bots = [bot_start(bot=make_bot(alice)), bot_start(bot=make_bot(bob))]
    response = operator_client.post(
        reverse("admin:trading_killswitch_add"), {"user": "", "reason": "exchange outage"}
    )
    assert response.status_code == 302
    switch = KillSwitch.objects.get()
    assert switch.user is None and switch.engaged_by == operator_client.operator
    assert switch.bots_stopped == 2
    assert all(Bot.objects.get(pk=b.pk).status == "stopped" for b in bots)
    response = operator_client.post(
        reverse("admin:trading_killswitch_changelist"),
        {"action": "release", "_selected_action": [switch.pk]},
    )
    assert response.status_code == 302
    assert KillSwitch.objects.get().released_at is not None
    assert bot_start(bot=Bot.objects.get(pk=bots[0].pk)).status == "starting"


def test_an_operator_kills_selected_bots(operator_client, alice, make_bot):
    bot = bot_start(bot=make_bot(alice))
    response = operator_client.post(
        reverse("admin:trading_bot_changelist"), {"action": "kill", "_selected_action": [bot.pk]}
    )
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.status == "stopped" and "operator" in bot.status_reason
    page = operator_client.get(reverse("admin:trading_bot_change", args=[bot.pk]))
    assert page.status_code == 200


def test_users_without_a_verified_device_do_not_reach_the_admin(alice_client):
    response = alice_client.get(reverse("admin:trading_killswitch_changelist"))
    assert response.status_code == 302
