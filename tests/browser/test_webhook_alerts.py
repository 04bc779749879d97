"""A TradingView-style alert, end to end: the owner makes the bot's alert URL on its page, an
alert is posted to the live server over HTTP, the bot on a real worker buys, and the page shows
the fill and what the bot did without a reload."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from tests.browser.conftest import wait_for
from tests.trading.conftest import VENUE_A
from trading.models import Fill, WebhookSignal
from trading.services.bots import bot_start, bot_stop

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_alert_posted_to_the_url_is_traded_and_shown(
    signed_in, alice, make_bot, feeder, bot_worker, live_server_url, shot
):
    page = signed_in
    bot = make_bot(
        alice,
        name="alice-alerts",
        strategy="webhook_signal",
        params={"allocation": 0.5},
        paper_balances={VENUE_A: {"USDT": "10000"}},
    )
    with feeder(step=0.0):
        bot_start(bot=bot)
        with page.expect_websocket(lambda ws: f"/ws/bots/{bot.pk}/" in ws.url):
            page.goto(f"/trading/bots/{bot.pk}/")
        page.locator("#bot-status", has_text="Running").wait_for()
        page.get_by_role("button", name="Make a webhook URL").click()
        url = page.locator("[data-webhook-url]").inner_text().strip()
        assert url.startswith(live_server_url + "/trading/hooks/")
        shot(page, "bot-webhook-url")
        page.evaluate("window.loadedOnce = true")

        alert = {
            "action": "buy",
            "symbol": "BTCUSDT",
            "size": "0.02",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        answer = requests.post(url, data=json.dumps(alert), timeout=10)
        assert answer.status_code == 202, answer.text
        assert requests.post(url, data=json.dumps(alert), timeout=10).status_code == 409

        page.locator("#fills tbody tr code").first.wait_for()
        wait_for(
            page,
            "() => (document.querySelector('#bot-events')?.innerText || '')"
            ".includes('market buy 0.02 BTC')",
            what="the bot's history to say what it did with the alert",
        )
        shot(page, "bot-webhook-fill")
        bot_stop(bot=bot)

    shown = page.locator("#fills tbody tr code").first.inner_text()
    fill = Fill.objects.get(bot=bot, trade_id=shown)
    assert (fill.side, fill.qty) == ("buy", Decimal("0.02"))
    assert WebhookSignal.objects.get(bot=bot).outcome == "buy: market buy 0.02 BTC"
    assert page.evaluate("window.loadedOnce") is True
    assert page.errors == []
