"""`manage.py demo_seed`: the demo user, sandbox accounts and three paper bots, idempotently."""

from __future__ import annotations

import io
import re

from django.core.management import call_command
from django.test import Client

from exchanges.models import ExchangeAccount
from exchanges.sandbox.models import SandboxApiKey, SandboxDeposit
from exchanges.services.credentials import exchange_account_credentials
from trading.demo import DEMO_EMAIL
from trading.models import Bot


def _run(*args) -> str:
    out = io.StringIO()
    call_command("demo_seed", *args, stdout=out)
    return out.getvalue()


def test_demo_seed_creates_the_demo_once_and_prints_the_password_once(db, settings):
    settings.PEREGRINE_SANDBOX_VENUES = ["sandbox", "sandbox-b"]
    first = _run()
    password = re.search(r"with password (\S+) ", first).group(1)
    assert Client().login(email=DEMO_EMAIL, password=password)

    bots = {bot.strategy: bot for bot in Bot.objects.filter(user__email=DEMO_EMAIL)}
    assert set(bots) == {"pure_market_making", "cross_exchange_market_making", "ema_cross"}
    assert all(bot.mode == "paper" and bot.status == "starting" for bot in bots.values())
    assert bots["pure_market_making"].symbols == ["BTC/USDT"]
    cross = bots["cross_exchange_market_making"]
    assert [v.exchange for v in cross.venues.all()] == ["sandbox-b", "sandbox"]
    assert (cross.params["maker_venue"], cross.params["taker_venue"]) == ("sandbox-b", "sandbox")

    accounts = ExchangeAccount.objects.filter(user__email=DEMO_EMAIL).order_by("exchange")
    assert [(a.exchange, a.mode) for a in accounts] == [
        ("sandbox", "paper"),
        ("sandbox-b", "paper"),
    ]
    keys = {k.api_key for k in SandboxApiKey.objects.all()}
    assert all(exchange_account_credentials(account=a).api_key in keys for a in accounts)
    assert SandboxDeposit.objects.filter(venue="sandbox", asset="USDT").exists()
    assert all(v.exchange_account_id for v in cross.venues.all())

    second = _run()
    assert "password" not in second and password not in second
    assert "ready" in second
    assert Bot.objects.filter(user__email=DEMO_EMAIL).count() == 3
    assert ExchangeAccount.objects.filter(user__email=DEMO_EMAIL).count() == 2
    assert SandboxApiKey.objects.count() == 2


def test_demo_seed_restarts_a_stopped_demo_bot_unless_told_not_to(db, settings):
    settings.PEREGRINE_SANDBOX_VENUES = ["sandbox", "sandbox-b"]
    assert "started" not in _run("--no-start")
    assert set(Bot.objects.values_list("status", flat=True)) == {"draft"}
    output = _run()
    assert output.count("demo: started") == 3
    assert set(Bot.objects.values_list("status", flat=True)) == {"starting"}
