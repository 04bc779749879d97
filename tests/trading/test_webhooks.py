"""Signal webhooks: a bot's secret URL takes TradingView-style alerts, refuses everything else
(changing nothing), and the running bot trades on the alerts it accepted, once each."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from compliance.models import AuditEvent
from config.logging import redact_text
from tests.trading.conftest import VENUE_A
from trading.models import BotLease, Fill, SignalWebhook, WebhookSignal
from trading.runtime.runner import BotRunner
from trading.services.bots import bot_start
from trading.services.webhooks import token_hash


def _now_iso(delta_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _webhook_bot(alice, make_bot, **params):
    return make_bot(
        alice,
        strategy="webhook_signal",
        params={"allocation": 0.5, **params},
        paper_balances={VENUE_A: {"USDT": "10000"}},
    )


def _make_url(alice_client, bot) -> str:
    response = alice_client.post(f"/trading/bots/{bot.pk}/webhook/", {"action": "create"})
    assert response.status_code == 200
    match = re.search(r"data-webhook-url>([^<]+)<", response.content.decode())
    assert match, response.content.decode()[:500]
    return match.group(1).replace("http://testserver", "")


def _run(bot, feeder, handover=None):
    runner = BotRunner(bot.pk)
    with feeder(step=0.0):
        outcome = runner.run(handover)
    bot.refresh_from_db()
    return outcome


def _post(url, alert, **extra):
    body = alert if isinstance(alert, (bytes, str)) else json.dumps(alert)
    return Client().post(url, body, content_type="application/json", **extra)


def test_alerts_trade_once_each_on_a_running_paper_bot(alice, alice_client, make_bot, feeder):
    bot = _webhook_bot(alice, make_bot)
    bot_start(bot=bot)
    assert _run(bot, feeder) == "continued"
    assert bot.status == "running"
    url = _make_url(alice_client, bot)
    assert url.startswith("/trading/hooks/")
    token = url.rstrip("/").rsplit("/", 1)[1]
    webhook = SignalWebhook.objects.get(bot=bot)
    assert webhook.token_hash == token_hash(token) and token not in webhook.token_hash
    assert token not in redact_text(f"Conflict: {url}")  # the URL's token never reaches a log

    buy = {"action": "buy", "symbol": "BTCUSDT", "size": "0.01", "time": _now_iso()}
    accepted = _post(url, buy, REMOTE_ADDR="203.0.113.7")
    assert accepted.status_code == 202, accepted.content
    replay = _post(url, buy)
    assert replay.status_code == 409 and "already received" in replay.json()["detail"]
    assert WebhookSignal.objects.filter(bot=bot).count() == 1

    token_now = BotLease.objects.get(bot=bot).token
    assert _run(bot, feeder, handover=token_now) == "continued"
    fills = Fill.objects.filter(bot=bot)
    assert [(f.side, f.qty) for f in fills] == [("buy", Decimal("0.01"))]
    signal = WebhookSignal.objects.get(bot=bot)
    assert signal.status == "done" and signal.outcome == "buy: market buy 0.01 BTC"
    assert bot.events.get(kind="webhook").message == (
        "Alert 'buy 0.01' from the webhook: buy: market buy 0.01 BTC."
    )
    audit = AuditEvent.objects.get(action="bot.webhook_signal", target_id=str(bot.pk))
    assert audit.ip == "203.0.113.7" and audit.after["size"] == "0.01"

    # the same alert again in the next slice is not traded again; a close sells what is held
    close = {"action": "close", "symbol": "BINANCE:BTCUSDT", "time": _now_iso(), "id": "exit-1"}
    assert _post(url, close).status_code == 202
    token_now = BotLease.objects.get(bot=bot).token
    assert _run(bot, feeder, handover=token_now) == "continued"
    sides = list(Fill.objects.filter(bot=bot).order_by("id").values_list("side", "qty"))
    assert sides == [("buy", Decimal("0.01")), ("sell", Decimal("0.01"))]
    assert WebhookSignal.objects.filter(bot=bot, status="done").count() == 2

    # nothing held any more: a sell says so and trades nothing
    sell = {"action": "sell", "symbol": "BTC/USDT", "time": _now_iso(), "id": "exit-2"}
    assert _post(url, sell).status_code == 202
    token_now = BotLease.objects.get(bot=bot).token
    _run(bot, feeder, handover=token_now)
    assert Fill.objects.filter(bot=bot).count() == 2
    last = WebhookSignal.objects.filter(bot=bot).order_by("-id").first()
    assert last.outcome == "nothing to sell: no BTC held"

    # a replaced URL: the old one is unknown at once
    new_url = _make_url(alice_client, bot)
    assert new_url != url
    again = {**buy, "id": "late"}
    assert _post(url, again).status_code == 404
    assert _post(new_url, again).status_code == 202


BAD_ALERTS = [
    (b"not json", 400, "JSON object"),
    (b"[1, 2]", 400, "JSON object"),
    (b"[" * 5000 + b"]" * 5000, 413, "larger than"),
    ({"action": "short", "symbol": "BTCUSDT", "time": "now"}, 400, "action"),
    ({"action": "buy", "time": "2026-01-01T00:00:00Z"}, 400, "symbol"),
    ({"action": "buy", "symbol": "ETHUSDT", "time": "NOW"}, 400, "time"),
    ({"action": "buy", "symbol": "BTCUSDT"}, 400, "time: required"),
    ({"action": "buy", "symbol": "BTCUSDT", "time": "2026-01-01T00:00:00"}, 400, "time zone"),
    ({"action": "buy", "symbol": "BTCUSDT", "time": 1e300}, 400, "time"),
    ({"action": "buy", "symbol": "BTCUSDT", "size": "-1", "time": "T"}, 400, "size"),
    ({"action": "buy", "symbol": "BTCUSDT", "size": "NaN", "time": "T"}, 400, "size"),
    ({"action": "buy", "symbol": "BTCUSDT", "size": True, "time": "T"}, 400, "size"),
    ({"action": "buy", "symbol": "BTCUSDT", "time": "T", "leverage": 100}, 400, "leverage"),
    ({"action": "buy", "symbol": "ETHUSDT", "time": "T"}, 400, "this bot trades BTC/USDT"),
    ({"action": "buy", "symbol": "BTCUSDT", "time": "OLD"}, 409, "server's clock"),
]


@pytest.mark.parametrize(("alert", "status", "reason"), BAD_ALERTS)
def test_bad_alerts_are_refused_and_change_nothing(
    alert, status, reason, alice, alice_client, make_bot, feeder
):
    bot = _webhook_bot(alice, make_bot)
    bot.status = "running"
    bot.save(update_fields=["status"])
    url = _make_url(alice_client, bot)
    if isinstance(alert, dict):
        alert = dict(alert)
        if alert.get("time") == "T":
            alert["time"] = _now_iso()
        elif alert.get("time") == "OLD":
            alert["time"] = _now_iso(-3600)
    audits = AuditEvent.objects.count()
    response = _post(url, alert)
    assert response.status_code == status, response.content
    assert reason in response.json()["detail"]
    assert not WebhookSignal.objects.exists()
    assert AuditEvent.objects.count() == audits


def test_alerts_for_a_bot_that_does_not_run_are_refused(alice, alice_client, make_bot):
    bot = _webhook_bot(alice, make_bot)
    url = _make_url(alice_client, bot)
    response = _post(url, {"action": "buy", "symbol": "BTCUSDT", "time": _now_iso()})
    assert response.status_code == 409 and "not running" in response.json()["detail"]
    assert not WebhookSignal.objects.exists()


def test_unknown_tokens_and_other_methods(alice, alice_client, make_bot):
    bot = _webhook_bot(alice, make_bot)
    url = _make_url(alice_client, bot)
    assert Client().get(url).status_code == 405
    alert = {"action": "buy", "symbol": "BTCUSDT", "time": _now_iso()}
    assert _post("/trading/hooks/" + "x" * 43 + "/", alert).status_code == 404
    assert _post("/trading/hooks/short/", alert).status_code == 404


def test_rate_limit_per_webhook(alice, alice_client, make_bot, settings):
    settings.PEREGRINE_WEBHOOK_RATE_PER_MINUTE = 3
    bot = _webhook_bot(alice, make_bot)
    bot.status = "running"
    bot.save(update_fields=["status"])
    url = _make_url(alice_client, bot)
    answers = [
        _post(url, {"action": "buy", "symbol": "BTCUSDT", "time": _now_iso(), "id": str(n)})
        for n in range(5)
    ]
    codes = [a.status_code for a in answers]
    # the minute may turn over during the requests: then its count starts again
    assert codes.count(202) in (3, 4, 5) and set(codes) <= {202, 429}
    if 429 in codes:
        refused = answers[codes.index(429)]
        assert 1 <= int(refused["Retry-After"]) <= 61
    assert WebhookSignal.objects.count() == codes.count(202)


def test_only_the_owner_makes_a_url_and_only_for_webhook_bots(
    alice, alice_client, bob_client, make_bot
):
    bot = _webhook_bot(alice, make_bot)
    assert (
        bob_client.post(f"/trading/bots/{bot.pk}/webhook/", {"action": "create"}).status_code == 404
    )
    assert not SignalWebhook.objects.exists()
    maker = make_bot(alice)
    response = alice_client.post(f"/trading/bots/{maker.pk}/webhook/", {"action": "create"})
    assert "Only a bot running the webhook signal strategy" in response.content.decode()
    assert not SignalWebhook.objects.exists()
    _make_url(alice_client, bot)
    alice_client.post(f"/trading/bots/{bot.pk}/webhook/", {"action": "delete"})
    assert not SignalWebhook.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"bot.webhook_create", "bot.webhook_delete"} <= actions


def test_the_api_makes_and_removes_the_url(alice, make_bot, api_token_for):
    from rest_framework.test import APIClient

    bot = _webhook_bot(alice, make_bot)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_for(alice, 'trade')}")
    made = client.post(f"/api/v1/bots/{bot.pk}/webhook/")
    assert made.status_code == 201, made.content
    url = made.json()["url"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert SignalWebhook.objects.get(bot=bot).token_hash == token_hash(token)
    assert made.json()["hint"] == token[:6]
    maker = make_bot(alice)
    refused = client.post(f"/api/v1/bots/{maker.pk}/webhook/")
    assert refused.status_code == 400 and "strategy" in refused.json()["error"]["fields"]
    assert client.delete(f"/api/v1/bots/{bot.pk}/webhook/").status_code == 204
    assert not SignalWebhook.objects.exists()
